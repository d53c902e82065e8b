"""AmbientGAN with the DCS learned latent optimisation on real measurements (the --fast path)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import measurements as M
from ambient_dcs.models.inversion import AmbientGANWithInversion
from ambient_dcs.reconstruction.learned import LearnedLatentReconstructor

SHAPE = (6, 6, 1)
K = 3


def linear_generator(weights):
    """G(z) = W z reshaped to an image (no bias, no activation): a generator with a closed form."""
    z = keras.Input((weights.shape[1],))
    dense = keras.layers.Dense(int(np.prod(SHAPE)), use_bias=False)
    out = keras.layers.Reshape(SHAPE)(dense(z))
    model = keras.Model(z, out)
    dense.set_weights([weights.T.astype("float32")])
    return model


def tiny_pair(seed=0):
    keras.utils.set_random_seed(seed)  # the layers' initial weights: one reproducible draw
    g = keras.Sequential([keras.Input((K,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(int(np.prod(SHAPE)), activation="sigmoid"), keras.layers.Reshape(SHAPE)])
    d = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1)])
    return g, d


def test_reconstructor_matches_closed_form_gradient_steps():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((36, K)) * 0.3
    x_true = (w @ rng.standard_normal(K)).reshape(1, *SHAPE).astype("float32")
    op = M.Identity(image_shape=SHAPE)
    step, steps = 0.05, 4
    rec = LearnedLatentReconstructor(linear_generator(w), op, steps=steps, step_size=step, restarts=1, seed=7)
    result = rec.reconstruct(x_true)
    # Independent NumPy: z ← z − s ∇‖y − W z‖² = z − s · 2 Wᵀ(W z − y), from the same z0.
    z = np.random.default_rng(7).standard_normal((1, K)).astype("float32")[0].astype(np.float64)
    y = x_true.reshape(-1).astype(np.float64)
    for _ in range(steps):
        z = z - step * 2 * w.T @ (w @ z - y)
    np.testing.assert_allclose(result.z[0], z, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.measurement_error[0], np.sum((y - w @ z) ** 2), rtol=1e-3)


def test_best_restart_is_kept_and_inputs_are_checked():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((36, K)) * 0.3
    op = M.Identity(image_shape=SHAPE)
    y = rng.uniform(0, 1, (5, *SHAPE)).astype("float32")
    result = LearnedLatentReconstructor(linear_generator(w), op, steps=0, restarts=6, seed=3).reconstruct(y)
    np.testing.assert_allclose(result.measurement_error, result.restart_errors.min(axis=1))
    assert result.x.shape == (5, *SHAPE)
    with pytest.raises(ValueError, match="finite"):
        LearnedLatentReconstructor(linear_generator(w), op, steps=1).reconstruct(np.full((2, *SHAPE), np.nan, "float32"))
    with pytest.raises(ValueError, match="restarts"):
        LearnedLatentReconstructor(linear_generator(w), op, restarts=0)


def test_one_start_per_image_is_deep_compressed_sensings_reconstruction():
    # DCS: z0 ~ N(0, I) from default_rng(seed), projected, T steps of size s, one start per image,
    # whatever the batch size.
    rng = np.random.default_rng(2)
    w = rng.standard_normal((36, K)) * 0.3
    op = M.GaussianProjection(12, seed=0, image_shape=SHAPE)
    y = op(rng.uniform(0, 1, (5, *SHAPE)).astype("float32")).numpy()
    step, steps = 0.05, 3
    rec = LearnedLatentReconstructor(linear_generator(w), op, steps=steps, step_size=step, project="norm", restarts=1,
                                     batch_size=2, seed=5, name="DeepCompressedSensing.reconstruct").reconstruct(y)
    a = op.forward(tf.eye(36, dtype=tf.float32).numpy().reshape(36, *SHAPE), {}).numpy()  # rows: A e_i
    aw = w.T @ a                                                                           # z ↦ A W z, (K, m)
    z = np.random.default_rng(5).standard_normal((5, K))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    for _ in range(steps):
        z = z - step * 2 * (z @ aw - y) @ aw.T
        z /= np.linalg.norm(z, axis=1, keepdims=True)
    np.testing.assert_allclose(rec.z, z, atol=1e-5)
    np.testing.assert_allclose(rec.x.reshape(5, -1), z @ w.T, atol=1e-5)
    np.testing.assert_allclose(rec.measurement_error, np.sum((y - z @ aw) ** 2, axis=1), rtol=1e-4, atol=1e-6)
    assert rec.restart_errors.shape == (5, 1) and rec.std is None and rec.steps == steps
    with pytest.raises(ValueError, match=r"DeepCompressedSensing.reconstruct: .*\(N, 12\)"):
        LearnedLatentReconstructor(linear_generator(w), op, restarts=1, name="DeepCompressedSensing.reconstruct"
                                   ).reconstruct(np.zeros((2, 7), "float32"))
    with pytest.raises(ValueError, match="project"):
        LearnedLatentReconstructor(linear_generator(w), op, project="sphere")


@pytest.mark.slow  # 7.1 s
def test_training_learns_the_step_size_and_lowers_the_inversion_error():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0.2, 0.8, (4, *SHAPE)).astype("float32")
    x = centres[rng.integers(0, 4, 256)]                     # four clean "classes"
    op = M.PixelDrop(0.5, seed=0)
    y, theta = op.measure(x, seed=1)
    g, d = tiny_pair()
    gan = AmbientGANWithInversion(g, d, op, latent_steps=2, step_size=0.01, latent_distribution="normal", seed=0)
    gan.compile(g_optimizer=keras.optimizers.Adam(3e-3), d_optimizer=keras.optimizers.Adam(3e-3))
    before = LearnedLatentReconstructor.from_trainer(gan, restarts=2).reconstruct(y[:64], {k: v[:64] for k, v in theta.items()})
    s0 = gan.step_size
    ds = tf.data.Dataset.from_tensor_slices({"y": y, "theta": theta}).batch(32).repeat()
    history = gan.fit(ds, steps_per_epoch=60, epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert set(logs) >= {"d_loss", "g_loss", "gp", "inversion"} and all(np.isfinite(list(logs.values())))
    assert gan.step_size != pytest.approx(s0)                # log s receives a gradient
    after = LearnedLatentReconstructor.from_trainer(gan, restarts=2).reconstruct(y[:64], {k: v[:64] for k, v in theta.items()})
    assert after.measurement_error.mean() < 0.9 * before.measurement_error.mean()


def test_bad_arguments_and_batches_without_theta():
    g, d = tiny_pair()
    op = M.PixelDrop(0.5, seed=0)
    with pytest.raises(ValueError, match="mode must be 'ambient'"):
        AmbientGANWithInversion(g, d, op, mode="ignore")
    with pytest.raises(ValueError, match="latent_steps"):
        AmbientGANWithInversion(g, d, op, latent_steps=0)
    with pytest.raises(ValueError, match="project"):
        AmbientGANWithInversion(g, d, op, project="sphere")
    gan = AmbientGANWithInversion(g, d, op, seed=0)
    gan.compile()
    y = np.zeros((8, *SHAPE), "float32")
    with pytest.raises(ValueError, match="need their θ"):
        gan.fit(tf.data.Dataset.from_tensor_slices({"y": y}).batch(4), epochs=1, verbose=0)


def test_config_round_trip():
    g, d = tiny_pair()
    gan = AmbientGANWithInversion(g, d, M.Identity(), latent_steps=4, inversion_weight=2.0, step_size=0.02,
                                  project="clip", second_order=False, seed=1)
    back = AmbientGANWithInversion.from_config(gan.get_config())
    assert (back.latent_steps, back.inversion_weight, back.project, back.second_order) == (4, 2.0, "clip", False)
    assert back.step_size == pytest.approx(0.02)
