"""Tests for ambient_dcs.models.csgan (CS-GAN and CS-SGAN).

Tiny Dense networks built here: generator z(4) → (6, 6, 1), discriminators with 1, 2 or K + 1
outputs. The vanilla-GAN reference step is written out by hand with its own optimisers.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from ambient_dcs.models.csgan import CSGAN, CSSGAN
from ambient_dcs.data.measured import UNLABELLED, hide_labels
from ambient_dcs.networks import mlp_bn_generator

SHAPE = (6, 6, 1)
LATENT = 4


def _init(seed):
    return keras.initializers.RandomNormal(0.0, 0.5, seed=seed)


def generator(seed=0):
    z = keras.Input((LATENT,))
    h = keras.layers.Dense(16, activation="tanh", kernel_initializer=_init(seed))(z)
    h = keras.layers.Dense(36, activation="sigmoid", kernel_initializer=_init(seed + 1))(h)
    return keras.Model(z, keras.layers.Reshape(SHAPE)(h))


def discriminator(outputs=2, seed=10):
    x = keras.Input(SHAPE)
    h = keras.layers.Dense(16, activation="tanh", kernel_initializer=_init(seed))(keras.layers.Flatten()(x))
    return keras.Model(x, keras.layers.Dense(outputs, kernel_initializer=_init(seed + 1))(h))


def images(n=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *SHAPE)).astype("float32")


def adam():
    return keras.optimizers.Adam(2e-2, beta_1=0.5, beta_2=0.999)


# --------------------------------------------------------------------------- T = 0 is a vanilla GAN
def vanilla_gan_steps(g, d, x, z_fixed, logits, steps):
    """The reference: non-saturating GAN, one D update then one G update per step, by hand."""
    g_opt, d_opt = adam(), adam()

    def ce(out, real):
        if logits == 2:
            p = tf.nn.log_softmax(out)
            return -tf.reduce_mean(p[:, 1] if real else p[:, 0])
        return tf.reduce_mean(tf.nn.softplus(-out[:, 0]) if real else tf.nn.softplus(out[:, 0]))

    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = ce(d(x), True) + ce(d(g(z_fixed)), False)
        d_opt.apply_gradients(zip(tape.gradient(loss, d.trainable_variables), d.trainable_variables))
        with tf.GradientTape() as tape:
            loss = ce(d(g(z_fixed)), True)
        g_opt.apply_gradients(zip(tape.gradient(loss, g.trainable_variables), g.trainable_variables))
    return g, d


def fit_with_fixed_latents(gan, x, z_fixed, steps):
    gan.latent = lambda n, seed: z_fixed  # every D and G step sees the same z0, as the reference
    gan.compile(g_optimizer=adam(), d_optimizer=adam(), run_eagerly=True)  # eager: fast to start; same code
    gan.fit(tf.data.Dataset.from_tensors(x).repeat(), steps_per_epoch=steps, epochs=1, verbose=0)
    return gan


@pytest.mark.slow  # 4.8 s
@pytest.mark.parametrize("logits", [2, 1])
def test_zero_latent_steps_is_exactly_a_vanilla_gan(logits):
    x = images(8)
    z_fixed = tf.constant(np.random.default_rng(1).standard_normal((8, LATENT)), tf.float32)
    ref_g, ref_d = vanilla_gan_steps(generator(), discriminator(logits), x, z_fixed, logits, steps=3)
    gan = fit_with_fixed_latents(CSGAN(generator(), discriminator(logits), latent_steps=0, seed=0), x, z_fixed, 3)
    for a, b in zip(gan.generator.weights + gan.discriminator.weights, ref_g.weights + ref_d.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    # ... and latent optimisation is a real change: T = 3 moves away from the vanilla GAN.
    cs = fit_with_fixed_latents(CSGAN(generator(), discriminator(logits), latent_steps=3, step_size=0.5, seed=0),
                                x, z_fixed, 3)
    assert max(np.max(np.abs(a.numpy() - b.numpy())) for a, b in zip(cs.generator.weights, ref_g.weights)) > 1e-3


def test_latent_steps_lower_the_generator_loss_and_are_penalised():
    gan = CSGAN(generator(), discriminator(2), latent_steps=3, step_size=0.05, seed=0)
    z0 = tf.constant(np.random.default_rng(2).standard_normal((32, LATENT)), tf.float32)
    z_hat = gan._optimise(z0, None, training=False, second_order=False)
    error = lambda z: float(tf.reduce_mean(gan._sample_error(gan._logits(gan.generator(z), False), None)))  # noqa: E731
    assert error(z_hat) < error(tf.math.l2_normalize(z0, -1))  # z moved to look more real to D
    np.testing.assert_allclose(np.linalg.norm(z_hat.numpy(), axis=1), 1.0, atol=1e-5)  # on the unit sphere

    gan.compile(g_optimizer=adam(), d_optimizer=adam(), run_eagerly=True)
    history = gan.fit(tf.data.Dataset.from_tensors(images(16)), epochs=1, verbose=0).history
    g_loss, g_error, shift = history["g_loss"][-1], history["g_error"][-1], history["latent_shift"][-1]
    assert shift > 0
    assert g_loss == pytest.approx(g_error + 3.0 * shift, rel=1e-5)  # L_G = −ln D(G(ẑ)) + β‖ẑ − z0‖²


def test_batch_mean_objective_is_the_per_example_one_at_a_64th_of_the_step():
    z0 = tf.constant(np.random.default_rng(3).standard_normal((8, LATENT)), tf.float32)
    mean = CSGAN(generator(), discriminator(2), latent_steps=3, step_size=0.64, latent_objective="batch-mean", seed=0)
    per_example = CSGAN(generator(), discriminator(2), latent_steps=3, step_size=0.01, seed=0)
    z_mean = mean._optimise(z0, None, training=False, second_order=False)
    np.testing.assert_allclose(z_mean, per_example._optimise(z0, None, training=False, second_order=False), atol=1e-5)
    assert not np.allclose(z_mean, mean.__class__(generator(), discriminator(2), latent_steps=3, step_size=0.64, seed=0)
                           ._optimise(z0, None, training=False, second_order=False), atol=1e-3)


def test_penalty_anchor_projected_measures_the_steps_only():
    gan = CSGAN(generator(), discriminator(2), latent_steps=2, step_size=0.05, penalty_anchor="projected", seed=0)
    gan.compile(g_optimizer=adam(), d_optimizer=adam(), run_eagerly=True)
    z0 = tf.constant(np.random.default_rng(5).standard_normal((16, LATENT)), tf.float32)
    gan.latent = lambda n, seed: z0
    shift = gan.fit(tf.data.Dataset.from_tensors(images(16)), epochs=1, verbose=0).history["latent_shift"][-1]
    # ‖ẑ − proj(z0)‖²: two small steps on the unit sphere, not ‖ẑ − z0‖² ≈ (‖z0‖ − 1)², the projection
    to_sphere = float(tf.reduce_mean(tf.reduce_sum((z0 - tf.math.l2_normalize(z0, -1)) ** 2, -1)))
    assert 0 < shift < 0.1 * to_sphere
    initial = CSGAN(generator(), discriminator(2), latent_steps=2, step_size=0.05, penalty_anchor="initial", seed=0)
    initial.compile(g_optimizer=adam(), d_optimizer=adam(), run_eagerly=True)
    initial.latent = lambda n, seed: z0
    assert initial.fit(tf.data.Dataset.from_tensors(images(16)), epochs=1,
                       verbose=0).history["latent_shift"][-1] > 0.5 * to_sphere


def test_step_size_is_trained_with_the_generator_only():
    gan = CSGAN(generator(), discriminator(2), latent_steps=2, seed=0)
    gan.compile(g_optimizer=adam(), d_optimizer=adam(), run_eagerly=True)
    assert any(v is gan.log_step_size for v in gan.optimizer_variables("g_optimizer"))
    assert not any(v is gan.log_step_size for v in gan.discriminator.trainable_variables)
    gan.fit(tf.data.Dataset.from_tensors(images(16)).repeat(), steps_per_epoch=2, epochs=1, verbose=0)
    assert gan.log_step_size.numpy() != pytest.approx(math.log(0.01))


def test_samples_apply_the_latent_optimisation():
    gan = CSGAN(generator(), discriminator(2), latent_steps=3, step_size=0.5, seed=0)
    out = gan.sample_with_latents(9, seed=4, batch_size=4)  # 3 batches, the last padded
    z0 = np.random.default_rng(4).standard_normal((9, LATENT)).astype("float32")
    np.testing.assert_array_equal(out["z0"], z0)
    expected = gan._optimise(tf.constant(z0), None, training=False, second_order=False).numpy()
    np.testing.assert_allclose(out["z"], expected, atol=1e-5)
    np.testing.assert_allclose(out["images"], gan.generator(expected).numpy(), atol=1e-5)
    assert out["images"].min() >= 0 and out["images"].max() <= 1
    plain = CSGAN(generator(), discriminator(2), latent_steps=0, seed=0).sample(3, seed=4)
    np.testing.assert_allclose(plain, generator()(z0[:3]).numpy(), atol=1e-6)


# --------------------------------------------------------------------------- CS-SGAN
def test_cssgan_classifier_loss_matches_reference():
    sgan = CSSGAN(generator(), discriminator(4), seed=0)  # K = 3 classes + "generated"
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((6, 4)).astype("float32"), rng.standard_normal((5, 4)).astype("float32")
    labels = np.array([0, 2, -1, 1, -1, -1])
    loss, extra = sgan._d_loss(tf.constant(real), tf.constant(labels, tf.int32), tf.constant(fake))
    p = np.exp(real) / np.exp(real).sum(1, keepdims=True)
    q = np.exp(fake) / np.exp(fake).sum(1, keepdims=True)
    lab = labels >= 0
    supervised = -np.mean(np.log(p[lab, labels[lab]]))
    unsupervised = -np.mean(np.log(p[~lab, :3].sum(1)))
    generated = -np.mean(np.log(q[:, 3]))
    np.testing.assert_allclose(loss.numpy(), supervised + unsupervised + generated, rtol=1e-5)
    np.testing.assert_allclose(extra["supervised_loss"].numpy(), supervised, rtol=1e-5)


def test_cssgan_latents_move_toward_the_target_class():
    sgan = CSSGAN(generator(), discriminator(4), latent_steps=3, step_size=0.2, seed=0)
    z0 = tf.constant(np.random.default_rng(3).standard_normal((30, LATENT)), tf.float32)
    for k in range(3):
        targets = tf.fill([30], k)
        z_hat = sgan._optimise(z0, targets, training=False, second_order=False)
        p = lambda z: tf.nn.softmax(sgan._logits(sgan.generator(z), False))[:, k].numpy().mean()  # noqa: E731
        assert p(z_hat) > p(tf.math.l2_normalize(z0, -1))


def test_cssgan_trains_and_samples_by_class():
    x = images(32)
    labels = np.array([0, 1, 2, UNLABELLED] * 8)
    sgan = CSSGAN(generator(), discriminator(4), seed=0)
    sgan.compile(g_optimizer=adam(), d_optimizer=adam(), run_eagerly=True)
    ds = tf.data.Dataset.from_tensor_slices((x, labels)).batch(16).repeat()
    history = sgan.fit(ds, steps_per_epoch=3, epochs=1, verbose=0).history
    for name in ("d_loss", "g_loss", "g_error", "supervised_loss", "latent_shift", "step_size"):
        assert np.isfinite(history[name][-1]), name
    assert history["labelled"][-1] == pytest.approx(12.0)  # 3 of every 4 examples carry a label
    out = sgan.sample_with_latents(7, classes=2)
    assert out["images"].shape == (7, *SHAPE) and np.all(out["classes"] == 2)
    assert sgan.sample(5).shape == (5, *SHAPE)
    predicted = sgan.predict_classes(x)
    assert predicted.shape == (32,) and predicted.max() < 3  # never the "generated" class
    assert sgan.test_accuracy(x, predicted) == 1.0
    unsupervised = CSSGAN(generator(), discriminator(4), seed=0)
    unsupervised.compile(run_eagerly=True)
    h = unsupervised.fit(tf.data.Dataset.from_tensors(x), epochs=1, verbose=0).history  # plain images: unlabelled
    assert h["labelled"][-1] == 0 and h["supervised_loss"][-1] == 0


def test_hide_labels_keeps_a_class_balanced_fraction():
    labels = np.repeat(np.arange(4), 50)
    kept = hide_labels(labels, 0.1, seed=0)
    assert np.all((kept == labels) | (kept == UNLABELLED))
    assert [int(np.sum(kept == k)) for k in range(4)] == [5, 5, 5, 5]
    assert not np.array_equal(kept, hide_labels(labels, 0.1, seed=1))
    assert np.all(hide_labels(labels, 0.0) == UNLABELLED) and np.array_equal(hide_labels(labels, 1.0), labels)


def test_mlp_bn_generator_shapes_range_and_seed():
    g = mlp_bn_generator(latent_dim=LATENT, image_shape=SHAPE, hidden=(8, 16), seed=3)
    z = np.random.default_rng(0).standard_normal((5, LATENT)).astype("float32")
    x = g(z).numpy()
    assert x.shape == (5, *SHAPE) and x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(x, mlp_bn_generator(latent_dim=LATENT, image_shape=SHAPE, hidden=(8, 16), seed=3)(z))
    assert not np.allclose(x, mlp_bn_generator(latent_dim=LATENT, image_shape=SHAPE, hidden=(8, 16), seed=4)(z))
    with pytest.raises(ValueError, match="mlp_bn_generator: expected image_shape"):
        mlp_bn_generator(image_shape=(28, 28))


# --------------------------------------------------------------------------- training, saving
@pytest.mark.slow  # 4.4 s
def test_csgan_trains_a_few_steps_with_finite_losses():
    """The compiled (tf.function) train step; the other tests mostly run it eagerly."""
    gan = CSGAN(generator(), discriminator(1), latent_steps=3, seed=0)
    gan.compile()
    ds = tf.data.Dataset.from_tensor_slices((images(32), np.zeros(32, "int64"))).batch(16).repeat()  # labels ignored
    history = gan.fit(ds, steps_per_epoch=3, epochs=1, verbose=0).history
    for name in ("d_loss", "g_loss", "g_error", "latent_shift", "step_size"):
        assert np.isfinite(history[name][-1]), name


@pytest.mark.slow  # 4.3 s
def test_save_and_load(tmp_path):
    sgan = CSSGAN(generator(), discriminator(4), seed=0)
    sgan.compile(g_optimizer=adam(), d_optimizer=adam())
    sgan.fit(tf.data.Dataset.from_tensors((images(8), np.array([0, 1, 2, -1] * 2))), epochs=1, verbose=0)
    sgan.generator.save(tmp_path / "g.keras")
    z = np.random.default_rng(0).standard_normal((3, LATENT)).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "g.keras")(z).numpy(), sgan.generator(z).numpy(),
                               atol=1e-6)
    sgan.save(tmp_path / "sgan.keras")
    loaded = keras.saving.load_model(tmp_path / "sgan.keras")
    assert isinstance(loaded, CSSGAN) and loaded.num_classes == 3
    np.testing.assert_allclose(loaded.sample(6, classes=1, seed=3), sgan.sample(6, classes=1, seed=3), atol=1e-5)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    ({"latent_steps": -1}, "latent_steps"),
    ({"optimisation_cost_weight": -1.0}, "optimisation_cost_weight"),
    ({"step_size": -0.1}, "step_size"),
    ({"project": "ball"}, "project"),
    ({"latent_objective": "sum"}, "latent_objective"),
    ({"penalty_anchor": "z"}, "penalty_anchor"),
    ({"objective_batch_size": 0}, "objective_batch_size"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CSGAN(generator(), discriminator(2), **kwargs)


def test_bad_parts_and_inputs_raise():
    with pytest.raises(ValueError, match=r"CSGAN: expected a discriminator returning logits of shape \(N, 2\)"):
        CSGAN(generator(), discriminator(3))
    with pytest.raises(ValueError, match="CSSGAN: expected a classifier returning .*K >= 2"):
        CSSGAN(generator(), discriminator(2))
    gan = CSGAN(generator(), discriminator(2))
    opt = adam()
    with pytest.raises(ValueError, match="two different optimizer"):
        gan.compile(g_optimizer=opt, d_optimizer=opt)
    gan.compile()
    with pytest.raises(ValueError, match=r"training images of shape \(N, 6, 6, 1\)"):
        gan.fit(tf.data.Dataset.from_tensors(np.zeros((4, 5, 5, 1), "float32")), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="n to be an integer"):
        gan.sample(0)
    sgan = CSSGAN(generator(), discriminator(4))
    with pytest.raises(ValueError, match=r"classes as an int or 4 ints in \[0, 3\)"):
        sgan.sample(4, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="labelled_fraction"):
        hide_labels(np.arange(4), 1.5)
