"""Tests for ambient_dcs.models.dcs (Deep Compressed Sensing).

Tiny models built here: generators z(4) → (6, 6, 1) and measurements of 5 numbers, so every test
runs in seconds. References are computed independently (NumPy closed forms, finite differences).
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import measurements as M
from ambient_dcs.models.dcs import DeepCompressedSensing, calibrate_measurement, distance_scale, rip_loss
from ambient_dcs.latent import optimise_latents
from ambient_dcs.reconstruction import LearnedLatentReconstructor, Reconstruction

SHAPE = (6, 6, 1)
N_PIX = 36
LATENT = 4
M_MEAS = 5


def generator(seed=0, linear=False):
    """A Dense generator; ``linear=True``: x = reshape(W z), no bias or activation (closed-form tests)."""
    init = keras.initializers.RandomNormal(stddev=0.3, seed=seed)
    z = keras.Input((LATENT,))
    if linear:
        h = keras.layers.Dense(N_PIX, use_bias=False, kernel_initializer=init)(z)
    else:
        h = keras.layers.Dense(16, activation="tanh", kernel_initializer=init)(z)
        h = keras.layers.Dense(N_PIX, activation="sigmoid",
                               kernel_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=seed + 1))(h)
    return keras.Model(z, keras.layers.Reshape(SHAPE)(h))


def images(n=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *SHAPE)).astype("float32")


def fast_path(dcs, x, seed=0):
    """DCS's own reconstruction of images ``x``: measured noise-free by its operator, then its T learned steps."""
    return LearnedLatentReconstructor.from_trainer(dcs, seed=seed, batch_size=500).reconstruct(dcs.measure(x))


def operators():
    return {
        "gaussian": lambda: M.GaussianProjection(M_MEAS, seed=0),
        "nn_fixed": lambda: M.LearnedNetwork(M_MEAS, hidden=(8,), seed=0, trainable=False),
        "linear_learned": lambda: M.LearnedLinear(M_MEAS, seed=0),
        "nn_learned": lambda: M.LearnedNetwork(M_MEAS, hidden=(8,), seed=0),
    }


def _dataset(x, batch=8):
    return tf.data.Dataset.from_tensor_slices(x).batch(batch, drop_remainder=True).repeat()


# --------------------------------------------------------------------------- T = 0 and the unrolled steps
def test_t0_reconstruction_is_generator_at_initial_latents():
    g = generator()
    dcs = DeepCompressedSensing(g, M.GaussianProjection(M_MEAS, seed=0), latent_steps=0, seed=0)
    x = images(7)
    rec = fast_path(dcs, x, seed=3)
    z0 = np.random.default_rng(3).standard_normal((7, LATENT)).astype("float32")  # the documented z0 draw
    np.testing.assert_array_equal(rec.z, z0)  # untouched: no step, no projection
    np.testing.assert_allclose(rec.x, g(z0).numpy(), atol=1e-6)
    assert isinstance(rec, Reconstruction) and rec.steps == 0


def test_t0_training_loss_is_measurement_error_at_z0():
    g = generator()
    op = M.GaussianProjection(M_MEAS, seed=0)
    dcs = DeepCompressedSensing(g, op, latent_steps=0, rip_weight=0.0, seed=0)
    x = images(8)
    z0 = tf.random.normal((8, LATENT), seed=1)
    terms = dcs._loss_terms(tf.constant(x), z0, {}, training=False)
    a = op.kernel.numpy()  # (36, 5): y = vec(x) @ a
    ref = np.mean(np.sum((x.reshape(8, -1) @ a - g(z0).numpy().reshape(8, -1) @ a) ** 2, axis=1))
    np.testing.assert_allclose(terms["measurement_error"].numpy(), ref, rtol=1e-5)
    assert terms["latent_shift"].numpy() == 0.0


def test_reconstruction_matches_closed_form_projected_gradient_steps():
    """Linear G and F: E(z) = ‖y − A W z‖², ∇E = −2 (AW)ᵀ(y − AWz); steps on the unit sphere."""
    g = generator(linear=True)
    op = M.GaussianProjection(M_MEAS, seed=1)
    dcs = DeepCompressedSensing(g, op, latent_steps=3, step_size=0.05, seed=0)
    x = images(5, seed=2)
    rec = fast_path(dcs, x, seed=4)
    w = g.layers[1].kernel.numpy()          # (4, 36): vec(x) = z @ w
    aw = w @ op.kernel.numpy()              # (4, 5): y = z @ aw
    y = x.reshape(5, -1) @ op.kernel.numpy()
    z = np.random.default_rng(4).standard_normal((5, LATENT))
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    for _ in range(3):
        grad = -2 * (y - z @ aw) @ aw.T
        z = z - 0.05 * grad
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    np.testing.assert_allclose(rec.z, z, atol=1e-5)
    np.testing.assert_allclose(rec.measurement_error, np.sum((y - z @ aw) ** 2, axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rec.x.reshape(5, -1), z @ w, atol=1e-5)


def test_reconstruct_does_not_depend_on_batching():
    dcs = DeepCompressedSensing(generator(), M.LearnedLinear(M_MEAS, seed=0), seed=0)
    x = images(11)
    y = dcs.measure(x)
    whole = LearnedLatentReconstructor.from_trainer(dcs, seed=5, batch_size=100).reconstruct(y)
    parts = LearnedLatentReconstructor.from_trainer(dcs, seed=5, batch_size=4).reconstruct(y)  # 3 batches, one padded
    np.testing.assert_allclose(whole.x, parts.x, atol=1e-6)
    np.testing.assert_allclose(whole.measurement_error, parts.measurement_error, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- gradients
def _outer_loss(dcs, x, z0):
    terms = dcs._loss_terms(x, z0, {}, training=False)
    return terms["measurement_error"] + dcs.rip_weight * terms["rip_loss"]


def _grads(dcs, x, z0):
    variables = dcs.generator.trainable_variables + [dcs.log_step_size]
    with tf.GradientTape() as tape:
        loss = _outer_loss(dcs, x, z0)
    return [g.numpy() for g in tape.gradient(loss, variables)]


def test_step_size_gradient_matches_finite_difference_only_with_second_order():
    """d loss / d log s: the second-order gradient equals a finite difference; the first-order one does not."""
    x = tf.constant(images(8))
    z0 = tf.random.stateless_normal((8, LATENT), (1, 2))
    models = {so: DeepCompressedSensing(generator(), M.GaussianProjection(M_MEAS, seed=0), latent_steps=3,
                                        step_size=3.0, second_order=so, seed=0) for so in (True, False)}
    dcs = models[True]  # a large step: the second-order term is then half the gradient
    eps = 1e-3
    base = dcs.log_step_size.numpy()
    values = []
    for sign in (1, -1):
        dcs.log_step_size.assign(base + sign * eps)
        values.append(float(_outer_loss(dcs, x, z0)))
    dcs.log_step_size.assign(base)
    numeric = (values[0] - values[1]) / (2 * eps)
    second = _grads(models[True], x, z0)[-1]
    first = _grads(models[False], x, z0)[-1]
    assert second != 0 and math.isfinite(second)
    np.testing.assert_allclose(second, numeric, rtol=0.02)
    assert abs(first - numeric) > 0.3 * abs(numeric)  # the first-order approximation misses a real term


def test_second_order_changes_generator_gradients():
    x = tf.constant(images(8))
    z0 = tf.random.stateless_normal((8, LATENT), (3, 4))
    grads = {so: _grads(DeepCompressedSensing(generator(), M.GaussianProjection(M_MEAS, seed=0), step_size=0.3,
                                              second_order=so, seed=0), x, z0) for so in (True, False)}
    for a, b in zip(grads[True], grads[False]):
        assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    differences = [np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12) for a, b in zip(grads[True], grads[False])]
    assert max(differences) > 1e-3


def test_learned_step_size_is_trained():
    dcs = DeepCompressedSensing(generator(), M.GaussianProjection(M_MEAS, seed=0), seed=0)
    dcs.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    before = dcs.log_step_size.numpy()
    assert before == pytest.approx(math.log(0.01))
    dcs.fit(_dataset(images(32)), steps_per_epoch=3, epochs=1, verbose=0)
    assert abs(dcs.log_step_size.numpy() - before) > 1e-3
    assert dcs.step_size() == pytest.approx(math.exp(dcs.log_step_size.numpy()))


def test_t0_does_not_train_the_step_size():
    dcs = DeepCompressedSensing(generator(), M.GaussianProjection(M_MEAS, seed=0), latent_steps=0, seed=0)
    dcs.compile(run_eagerly=True)
    dcs.fit(_dataset(images(16)), steps_per_epoch=2, epochs=1, verbose=0)
    assert dcs.log_step_size.numpy() == pytest.approx(math.log(0.01))


# --------------------------------------------------------------------------- the RIP loss
class Affine(M.Operator):
    """F(x) = A vec(x) + c: declared linear or not, so the two RIP formulas give different numbers."""

    def __init__(self, linear, **kwargs):
        super().__init__(**kwargs)
        self.is_linear = linear
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((N_PIX, 3)).astype("float32")
        self.c = np.array([1.0, -2.0, 0.5], "float32")

    def measurement_shape(self, image_shape):
        return (3,)

    def forward(self, x, theta):
        return tf.reshape(x, [tf.shape(x)[0], -1]) @ self.a + self.c


@pytest.mark.parametrize("linear", [True, False])
def test_rip_loss_uses_f_of_difference_for_linear_operators(linear):
    op = Affine(linear)
    a, b = images(4, seed=1), images(4, seed=2)
    da = (a - b).reshape(4, -1)
    measured = da @ op.a + op.c if linear else da @ op.a  # F(a − b) versus F(a) − F(b)
    expected = (np.linalg.norm(da, axis=1) - np.linalg.norm(measured, axis=1)) ** 2
    np.testing.assert_allclose(rip_loss(op, tf.constant(a), tf.constant(b)).numpy(), expected, rtol=1e-4)


def test_rip_loss_is_zero_for_an_isometry_and_finite_gradient_at_equal_inputs():
    op = M.Identity()
    a = tf.constant(images(3))
    np.testing.assert_allclose(rip_loss(op, a, tf.constant(images(3, seed=5))).numpy(), 0.0, atol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(a)
        value = tf.reduce_sum(rip_loss(M.GaussianProjection(M_MEAS, seed=0), a, a))
    assert np.all(np.isfinite(tape.gradient(value, a).numpy()))


# --------------------------------------------------------------------------- measurement scale
def test_calibrate_measurement_makes_distances_preserved_on_average():
    x = images(40)
    op = M.LearnedNetwork(M_MEAS, hidden=(8,), seed=0, trainable=False)
    op.ensure_built(SHAPE)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 40, 500), rng.integers(0, 40, 500)
    keep = i != j
    i, j = i[keep], j[keep]

    def ratio():  # independent of distance_scale: mean ‖F(a) − F(b)‖² / mean ‖a − b‖² over other pairs
        fx = op.forward(tf.constant(x), {}).numpy()
        return np.sum((fx[i] - fx[j]) ** 2) / np.sum((x[i] - x[j]) ** 2)

    before = ratio()
    factor = calibrate_measurement(op, x, pairs=2000, seed=1)
    assert factor == pytest.approx(1 / math.sqrt(before), rel=0.15)
    assert ratio() == pytest.approx(1.0, rel=0.15)
    assert distance_scale(op, x) == pytest.approx(1.0, rel=0.1)
    with pytest.raises(ValueError, match="calibrate_measurement: expected a LearnedNetwork"):
        calibrate_measurement(M.PixelDrop(0.5), x)


# --------------------------------------------------------------------------- training
@pytest.mark.parametrize("kind,update", [("gaussian", "joint"), ("nn_fixed", "joint"), ("linear_learned", "joint"),
                                         ("linear_learned", "alternating"), ("nn_learned", "joint"),
                                         ("nn_learned", "alternating")])
@pytest.mark.slow  # 5.1 s
def test_trains_a_few_steps(kind, update):
    op = operators()[kind]()
    dcs = DeepCompressedSensing(generator(), op, update=update, seed=0)
    # Eager here to keep the test fast (tracing the second-order step costs seconds); the graph path
    # runs in test_training_beats_the_mean_image and test_save_and_load_generator_and_model.
    dcs.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True,
                **({"measurement_optimizer": keras.optimizers.Adam(1e-3)} if update == "alternating" else {}))
    f_before = [w.numpy().copy() for w in op.weights]
    g_before = [w.numpy().copy() for w in dcs.generator.weights]
    history = dcs.fit(_dataset(images(32)), steps_per_epoch=3, epochs=1, verbose=0).history
    for name in ("loss", "measurement_error", "rip_loss", "reconstruction_error", "step_size"):
        assert np.isfinite(history[name][-1]), name
    f_changed = any(np.max(np.abs(w.numpy() - b)) > 0 for w, b in zip(op.weights, f_before))
    assert f_changed == kind.endswith("learned")  # fixed measurements stay fixed (Algorithm 1)
    assert any(np.max(np.abs(w.numpy() - b)) > 0 for w, b in zip(dcs.generator.weights, g_before))


def test_alternating_update_trains_measurement_on_rip_only():
    """With rip_weight = 0 the alternating measurement update has a zero gradient: F does not move."""
    op = M.LearnedLinear(M_MEAS, seed=0)
    dcs = DeepCompressedSensing(generator(), op, update="alternating", rip_weight=0.0, seed=0)
    dcs.compile(optimizer=keras.optimizers.SGD(0.1), measurement_optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    before = op.kernel.numpy().copy()
    dcs.fit(_dataset(images(16)), steps_per_epoch=2, epochs=1, verbose=0)
    np.testing.assert_array_equal(op.kernel.numpy(), before)
    joint_op = M.LearnedLinear(M_MEAS, seed=0)
    joint = DeepCompressedSensing(generator(), joint_op, update="joint", rip_weight=0.0, seed=0)
    joint.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    joint.fit(_dataset(images(16)), steps_per_epoch=2, epochs=1, verbose=0)
    assert np.max(np.abs(joint_op.kernel.numpy() - before)) > 0  # jointly, L_G moves F


def blobs(n=64, seed=0):
    """Structured images: one Gaussian blob per image at a random position (a 2-d family)."""
    u = np.random.default_rng(seed).uniform(0, 1, (n, 2))
    yy, xx = np.mgrid[0:6, 0:6] / 5.0
    img = np.exp(-((xx[None] - u[:, 0, None, None]) ** 2 + (yy[None] - u[:, 1, None, None]) ** 2) / 0.08)
    return img[..., None].astype("float32")


@pytest.mark.slow  # 5.4 s
def test_training_beats_the_mean_image():
    """After a short training the T-step reconstructions beat the best constant guess (the mean image)."""
    x = blobs()
    dcs = DeepCompressedSensing(generator(), M.LearnedLinear(M_MEAS, seed=0), step_size=0.3, seed=0)
    dcs.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = np.mean(np.sum((fast_path(dcs, x).x - x) ** 2, axis=(1, 2, 3)))
    mean_image_error = np.mean(np.sum((x.mean(0) - x) ** 2, axis=(1, 2, 3)))
    dcs.fit(_dataset(x, batch=32), steps_per_epoch=300, epochs=1, verbose=0)
    after = np.mean(np.sum((fast_path(dcs, x).x - x) ** 2, axis=(1, 2, 3)))
    assert after < 0.6 * mean_image_error < before


# --------------------------------------------------------------------------- saving
@pytest.mark.slow  # 5.0 s
def test_save_and_load_generator_and_model(tmp_path):
    op = M.LearnedLinear(M_MEAS, seed=0)
    dcs = DeepCompressedSensing(generator(), op, seed=0)
    dcs.compile(optimizer=keras.optimizers.Adam(1e-2))
    dcs.fit(_dataset(images(16)), steps_per_epoch=2, epochs=1, verbose=0)
    z = np.random.default_rng(0).standard_normal((3, LATENT)).astype("float32")
    dcs.generator.save(tmp_path / "g.keras")
    g = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(g(z).numpy(), dcs.generator(z).numpy(), atol=1e-6)

    dcs.save(tmp_path / "dcs.keras")
    loaded = keras.saving.load_model(tmp_path / "dcs.keras")
    assert isinstance(loaded, DeepCompressedSensing) and loaded.latent_steps == 3
    assert loaded.log_step_size.numpy() == pytest.approx(dcs.log_step_size.numpy())
    x = images(5)
    np.testing.assert_allclose(fast_path(loaded, x).x, fast_path(dcs, x).x, atol=1e-5)
    loaded.fit(_dataset(images(16)), steps_per_epoch=1, epochs=1, verbose=0)  # compiled state restored


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    ({"latent_steps": -1}, "latent_steps"),
    ({"latent_steps": 2.5}, "latent_steps"),
    ({"update": "sideways"}, "update"),
    ({"step_size": 0.0}, "step_size"),
    ({"rip_weight": float("nan")}, "rip_weight"),
    ({"project": "sphere"}, "project"),
    ({"seed": -3}, "seed"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DeepCompressedSensing(generator(), M.LearnedLinear(M_MEAS, seed=0), **kwargs)


def test_bad_parts_raise():
    with pytest.raises(ValueError, match="measurements.Operator"):
        DeepCompressedSensing(generator(), keras.layers.Dense(3))
    with pytest.raises(ValueError, match="alternating.*trainable weights"):
        DeepCompressedSensing(generator(), M.GaussianProjection(M_MEAS, seed=0), update="alternating")
    dcs = DeepCompressedSensing(generator(), M.GaussianProjection(M_MEAS, seed=0))
    with pytest.raises(ValueError, match="measurement_optimizer"):
        dcs.compile(measurement_optimizer="adam")


def test_bad_reconstruction_inputs_raise():
    dcs = DeepCompressedSensing(generator(), M.GaussianProjection(M_MEAS, seed=0))
    fast = LearnedLatentReconstructor.from_trainer(dcs)
    with pytest.raises(ValueError, match=r"DeepCompressedSensing fast path.*\(N, 5\).*\(2, 7\)"):
        fast.reconstruct(np.zeros((2, 7), "float32"))
    with pytest.raises(ValueError, match="DeepCompressedSensing fast path"):
        fast.reconstruct(np.full((2, M_MEAS), np.nan, "float32"))
    with pytest.raises(ValueError, match="batch_size"):
        LearnedLatentReconstructor.from_trainer(dcs, batch_size=0)
    with pytest.raises(ValueError, match=r"\(N, 6, 6, 1\)"):
        dcs.measure(np.zeros((2, 5, 5, 1), "float32"))
    with pytest.raises(ValueError, match="learned latent optimisation.*latent_steps"):
        LearnedLatentReconstructor.from_trainer(generator())


def test_bad_training_batch_raises():
    dcs = DeepCompressedSensing(generator(), M.GaussianProjection(M_MEAS, seed=0))
    dcs.compile()
    bad = tf.data.Dataset.from_tensor_slices(np.zeros((8, 5, 5, 1), "float32")).batch(4)
    with pytest.raises(ValueError, match=r"training images of shape \(N, 6, 6, 1\)"):
        dcs.fit(bad, epochs=1, verbose=0)


def test_optimise_latents_t0_returns_input_object():
    z0 = tf.random.normal((3, LATENT))
    assert optimise_latents(lambda z: tf.reduce_sum(z ** 2, 1), z0, 0, 0.1) is z0
