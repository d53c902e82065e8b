"""CSGM reconstruction, the shared latent optimisers, and the sparse-recovery baselines."""

import warnings

import numpy as np
import pytest
import pywt
import scipy.fft
import sklearn.exceptions
import tensorflow as tf
import keras

import measurements as M
from ambient_dcs.reconstruction import baselines
from ambient_dcs.reconstruction.baselines import OMP, Lasso, LeastSquares, synthesis_matrix
from ambient_dcs.latent import minimise_latents, optimise_latents
from ambient_dcs.reconstruction.csgm import CSGM

K = 5
SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((K,)),
        keras.layers.Dense(32, activation="tanh"),
        keras.layers.Dense(64, activation="sigmoid"),
        keras.layers.Reshape(SHAPE),
    ])


def _relative_error(x_hat, x):
    n = x.shape[0]
    return np.linalg.norm((x_hat - x).reshape(n, -1), axis=1) / np.linalg.norm(x.reshape(n, -1), axis=1)


@pytest.mark.slow  # 3.4 s
def test_range_of_generator_recovery_from_4k_noiseless_gaussian_measurements(generator):
    z_star = np.random.default_rng(1).standard_normal((6, K)).astype("float32")
    x_star = generator(z_star).numpy()
    op = M.GaussianProjection(4 * K, seed=0, image_shape=SHAPE)
    rec = CSGM(generator, op, steps=1000, restarts=10, z_prior_weight=0.0).reconstruct(op(x_star))
    assert rec.x.shape == x_star.shape and rec.z.shape == (6, K)
    assert _relative_error(rec.x, x_star).mean() < 0.01


def test_best_restart_is_kept_per_image(generator):
    op = M.GaussianProjection(10, seed=0, image_shape=SHAPE, noise=M.GaussianNoise(0.05, seed=1))
    x = generator(np.random.default_rng(2).standard_normal((3, K)).astype("float32")).numpy()
    y = op(x)
    rec = CSGM(generator, op, steps=50, restarts=4, z_prior_weight=0.1).reconstruct(y)
    assert rec.restart_errors.shape == (3, 4) and rec.restart_losses.shape == (3, 4)
    np.testing.assert_allclose(rec.measurement_error, rec.restart_errors.min(axis=1), rtol=1e-6)
    recomputed = np.square(y.numpy() - op.forward(tf.constant(rec.x), {}).numpy()).sum(axis=1)
    np.testing.assert_allclose(rec.measurement_error, recomputed, rtol=1e-3, atol=1e-6)
    by_loss = CSGM(generator, op, steps=50, restarts=4, select="loss").reconstruct(y)
    chosen = np.argmin(by_loss.restart_losses, axis=1)
    np.testing.assert_allclose(by_loss.measurement_error, by_loss.restart_errors[np.arange(3), chosen], rtol=1e-6)


class Saturate(M.Operator):
    """A user's non-linear instrument: a saturating sensor on a random half of the pixels."""

    theta_keys = ("mask",)

    def draw_theta(self, batch_size, seed, image_shape):
        return {"mask": tf.cast(tf.random.stateless_uniform([batch_size, *image_shape], seed) < 0.5, tf.float32)}

    def forward(self, x, theta):
        return tf.tanh(3.0 * x) * tf.cast(theta["mask"], x.dtype)


def test_csgm_with_a_user_defined_nonlinear_operator(generator):
    z_star = np.random.default_rng(3).standard_normal((4, K)).astype("float32")
    x_star = generator(z_star).numpy()
    op = Saturate(seed=0)
    y, theta = op.measure(x_star)
    rec = CSGM(generator, op, steps=600, restarts=6, z_prior_weight=0.0, learning_rate=0.05).reconstruct(y, theta)
    assert _relative_error(rec.x, x_star).mean() < 0.02


@pytest.mark.slow  # 5.3 s
def test_batches_restarts_options_and_xla(generator):
    x = generator(np.random.default_rng(4).standard_normal((5, K)).astype("float32")).numpy()
    op = M.GaussianProjection(25, seed=0, image_shape=SHAPE)
    y = op(x)
    base = dict(steps=200, restarts=3, z_prior_weight=0.0, seed=7)
    plain = CSGM(generator, op, **base).reconstruct(y)
    batched = CSGM(generator, op, batch_size=2, **base).reconstruct(y)  # 2 + 2 + 1 (padded) images
    assert batched.x.shape == plain.x.shape
    assert np.all(np.isfinite(batched.x))
    xla = CSGM(generator, op, jit_compile=True, **base).reconstruct(y)
    np.testing.assert_allclose(xla.x, plain.x, atol=1e-3)
    l1 = CSGM(generator, op, measurement_loss="l1+l2", optimizer="momentum", **base).reconstruct(y)
    assert np.all(np.isfinite(l1.x))
    early = CSGM(generator, op, steps=5000, restarts=2, z_prior_weight=0.0, tolerance=1.0).reconstruct(y)
    assert early.steps < 5000 and np.all(early.restart_losses.min(axis=1) <= 1.0)


@pytest.mark.parametrize("bad,message", [
    (lambda y: y[:, :-1], r"expected measurements of shape \(N, 12\); received shape \(2, 11\)"),
    (lambda y: np.where(np.arange(12) == 3, np.nan, y).astype("float32"), "finite measurements"),
    (lambda y: y.astype(np.int32), "floating-point measurements"),
])
def test_bad_measurements_raise_before_optimising(generator, bad, message, monkeypatch):
    op = M.GaussianProjection(12, seed=0, image_shape=SHAPE)
    y = op(generator(np.zeros((2, K), "float32"))).numpy()
    csgm = CSGM(generator, op, steps=10, restarts=1)
    monkeypatch.setattr(csgm, "_solve", lambda *a: pytest.fail("optimisation started on bad input"))
    with pytest.raises(ValueError, match=message):
        csgm.reconstruct(bad(y))


def test_theta_errors_raise_before_optimising(generator, monkeypatch):
    op = M.PixelDrop(0.5, seed=0)
    y, theta = op.measure(generator(np.zeros((3, K), "float32")))
    csgm = CSGM(generator, op, steps=10, restarts=1)
    monkeypatch.setattr(csgm, "_solve", lambda *a: pytest.fail("optimisation started on bad input"))
    with pytest.raises(ValueError, match="PixelDrop is random; pass the θ"):
        csgm.reconstruct(y)
    with pytest.raises(ValueError, match=r"one entry per example \(leading size 3"):
        csgm.reconstruct(y, {"mask": theta["mask"][:2]})


def test_constructor_validation(generator):
    op = M.Identity()
    with pytest.raises(ValueError, match="optimizer"):
        CSGM(generator, op, optimizer="lbfgs")
    with pytest.raises(ValueError, match="restarts to be an integer >= 1"):
        CSGM(generator, op, restarts=0)
    with pytest.raises(ValueError, match="select"):
        CSGM(generator, op, select="best")


# ------------------------------------------------------------------ the shared latent optimisers
@pytest.mark.slow  # 6.8 s
def test_minimise_latents_solves_a_quadratic_per_row():
    target = tf.constant([[1.0, -2.0], [3.0, 0.5]])
    for optimizer, lr in (("adam", 0.05), ("momentum", 0.05), ("sgd", 0.2)):
        z, losses, steps = minimise_latents(lambda z: tf.reduce_sum((z - target) ** 2, 1), tf.zeros((2, 2)),
                                            800, lr, optimizer)
        np.testing.assert_allclose(z, target, atol=1e-3)
        assert int(steps) == 800 and losses.shape == (2,)


def test_optimise_latents_zero_steps_is_the_identity():
    z0 = tf.constant([[3.0, 4.0]])
    assert optimise_latents(lambda z: tf.reduce_sum(z**2, 1), z0, 0, 0.1) is z0


def test_optimise_latents_projects_and_learns_the_step_size():
    w = tf.Variable([[0.5, -1.0, 2.0]])
    log_step = tf.Variable(np.log(0.01), dtype=tf.float32)
    z0 = tf.constant([[1.0, 2.0, 2.0]])

    def outer(second_order):
        with tf.GradientTape() as tape:
            error_fn = lambda z: tf.reduce_sum(tf.square(z * w - 1.0) * tf.square(z), axis=1)
            z = optimise_latents(error_fn, z0, 3, tf.exp(log_step), project="norm", second_order=second_order)
            loss = tf.reduce_sum(error_fn(z))
        return z, tape.gradient(loss, [w, log_step])

    z, (gw, gs) = outer(True)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-6)
    assert gs is not None and float(gs) != 0.0
    _, (gw1, gs1) = outer(False)
    assert not np.allclose(gw, gw1)  # the second-order term changes the outer gradient


# ------------------------------------------------------------------ baselines
@pytest.mark.parametrize("basis", ["dct", "wavelet"])
def test_synthesis_matrices_are_the_libraries_transforms(basis):
    psi = synthesis_matrix(basis, (8, 4, 2))
    np.testing.assert_allclose(psi.T @ psi, np.eye(64), atol=1e-10)  # orthonormal
    x = np.random.default_rng(0).random((8, 4, 2))
    coefficients = psi.T @ x.reshape(-1)
    if basis == "dct":
        ref = scipy.fft.dctn(x, axes=(0, 1), norm="ortho").reshape(-1)
    else:
        ref = np.stack([pywt.coeffs_to_array(pywt.wavedec2(x[..., c], "db1", mode="periodization", level=2))[0]
                        for c in range(2)], axis=-1).reshape(-1)
    np.testing.assert_allclose(coefficients, ref, atol=1e-10)


def _sparse_images(basis, k, n_images=3, seed=0):
    psi = synthesis_matrix(basis, SHAPE)
    rng = np.random.default_rng(seed)
    coef = np.zeros((n_images, 64))
    for i in range(n_images):
        coef[i, rng.choice(64, k, replace=False)] = rng.uniform(0.5, 1.0, k)
    x = coef @ psi.T
    if basis != "pixel":  # into [0, 1]; the shift only adds the constant atom of the DCT / wavelet
        x = (x - x.min()) / (x.max() - x.min())
    return x.reshape(n_images, *SHAPE).astype("float32")


@pytest.mark.parametrize("basis", ["pixel", "dct", "wavelet"])
def test_baselines_recover_an_exactly_sparse_signal(basis):
    x = _sparse_images(basis, 4)
    op = M.GaussianProjection(40, seed=3, image_shape=SHAPE)
    y = op(x)
    assert np.abs(OMP(op, basis=basis, sparsity=6).reconstruct(y).x - x).max() < 1e-4
    assert np.abs(Lasso(op, basis=basis, alpha=1e-4, max_iter=50000, tol=1e-9).reconstruct(y).x - x).max() < 0.01


def _ten_sparse_mnist_sized(n_images=3):
    rng = np.random.default_rng(0)
    x = np.zeros((n_images, 784))
    for i in range(n_images):
        x[i, rng.choice(784, 10, replace=False)] = rng.uniform(0.5, 1.0, 10)
    return x.reshape(n_images, 28, 28, 1).astype("float32")


def test_lasso_converges_for_a_small_alpha():
    # 10-sparse 28 × 28 images, 150 Gaussian measurements, α = 1e-4: a direct coordinate-descent fit
    # stops at max_iter with relative errors of 0.5–0.7; the warm-started α path converges.
    x = _ten_sparse_mnist_sized()
    op = M.GaussianProjection(150, seed=0)
    op.ensure_built((28, 28, 1))
    y = op(x)
    lasso = Lasso(op, basis="pixel", alpha=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.ConvergenceWarning)
        rec = lasso.reconstruct(y)
    assert _relative_error(rec.x, x).max() < 0.05
    assert np.all(lasso.dual_gap_ <= 1e-4 * np.square(np.asarray(y, np.float64)).sum(axis=1))


def test_lasso_warns_with_the_gap_it_reached_when_it_cannot_converge():
    x = _ten_sparse_mnist_sized(2)
    op = M.GaussianProjection(150, seed=0)
    op.ensure_built((28, 28, 1))
    with pytest.warns(sklearn.exceptions.ConvergenceWarning,
                      match=r"did not converge for 2 of 2 image\(s\) \(α = 0.0001, max_iter = 3\): duality gap up "
                            r"to [0-9.e-]+ against a tolerance of [0-9.e-]+") as record:
        Lasso(op, alpha=1e-4, max_iter=3, path_per_decade=0).reconstruct(op(x))
    assert len(record) == 1 and record[0].filename == __file__  # one warning, at the user's call


def test_effective_matrix_is_built_once_per_operator(monkeypatch):
    calls = []
    real = baselines.operator_matrix
    monkeypatch.setattr(baselines, "operator_matrix", lambda *a: calls.append(1) or real(*a))
    op = M.GaussianProjection(30, seed=0, image_shape=SHAPE)
    lasso = Lasso(op, alpha=0.01)
    lasso.reconstruct(op(_sparse_images("pixel", 3)))
    lasso.reconstruct(op(_sparse_images("pixel", 3, seed=1)))
    assert len(calls) == 1


def test_random_operator_and_least_squares():
    x = _sparse_images("pixel", 5)
    op = M.GaussianProjection(40, seed=0, resample=True, image_shape=SHAPE)
    y, theta = op.measure(x, seed=1)
    rec = OMP(op, sparsity=8).reconstruct(y, theta)
    assert np.abs(rec.x - x).max() < 1e-4
    drop = M.PixelDrop(0.5, seed=0, image_shape=SHAPE)
    y, theta = drop.measure(x, seed=2)
    ls = LeastSquares(drop).reconstruct(y, theta)
    np.testing.assert_allclose(ls.x, np.clip(drop.pseudo_inverse(y, theta), 0, 1), atol=1e-6)
    np.testing.assert_allclose(ls.measurement_error, 0.0, atol=1e-8)
    with pytest.raises(ValueError, match="needs a linear operator"):
        Lasso(M.LearnedNetwork(4, image_shape=SHAPE))
    with pytest.raises(ValueError, match="basis"):
        Lasso(op, basis="fourier")


def test_reconstruct_file_streams_from_disk_and_equals_reconstruct(generator, tmp_path):
    from ambient_dcs.data.files import save_measurements

    op = M.PixelDrop(0.6, noise=M.GaussianNoise(0.05), seed=0)
    op.ensure_built(SHAPE)
    x = np.random.default_rng(2).uniform(0, 1, (7, *SHAPE)).astype("float32")
    y, theta = op.measure(x, seed=3)
    path = save_measurements(tmp_path / "m.npz", y, theta, op, image_shape=SHAPE)
    csgm = CSGM(generator, op, steps=30, restarts=3, batch_size=3, seed=4)
    info = csgm.reconstruct_file(path, tmp_path / "out")
    assert info["count"] == 7 and info["replicas"] == 1
    rec = csgm.reconstruct(y, theta)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "x.npy"), rec.x, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "measurement_error.npy"), rec.measurement_error, rtol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "restart_errors.npy"), rec.restart_errors, rtol=1e-5)
    assert info["mean_measurement_error"] == pytest.approx(rec.measurement_error.mean(), rel=1e-5)
    # Image i starts from the same z0 whatever the batch size: the same reconstructions.
    other = CSGM(generator, op, steps=30, restarts=3, batch_size=5, seed=4).reconstruct(y, theta)
    np.testing.assert_allclose(other.x, rec.x, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "std.npy"), rec.std, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "measurement_error.npy", "restart_errors.npy", "std.npy", "x.npy", "z.npy"]


def test_reconstruct_file_rejects_a_file_for_other_images(generator, tmp_path):
    from ambient_dcs.data.files import save_measurements

    op = M.PixelDrop(0.5, seed=0)
    op.ensure_built((4, 4, 1))
    y, theta = op.measure(np.zeros((2, 4, 4, 1), "float32"), seed=1)
    path = save_measurements(tmp_path / "m.npz", y, theta, op, image_shape=(4, 4, 1))
    with pytest.raises(ValueError, match=r"signals have shape \(4, 4, 1\); the generator makes images of shape \(8, 8, 1\)"):
        CSGM(generator, M.PixelDrop(0.5, seed=0), steps=1, restarts=1).reconstruct_file(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_xla_auto_is_on_for_dense_generators_only(generator):
    from ambient_dcs.networks import mnist_wgan_generator

    op = M.Identity()
    assert CSGM(generator, op, steps=1, restarts=1).jit_compile is True
    conv = mnist_wgan_generator(8, (8, 8, 1), seed=0, width=0.0625, upsampling="nearest")
    assert CSGM(conv, op, steps=1, restarts=1).jit_compile is False
    assert CSGM(conv, op, steps=1, restarts=1, jit_compile=True).jit_compile is True
    with pytest.raises(ValueError, match="expected jit_compile True, False or 'auto'; received 'yes'"):
        CSGM(generator, op, jit_compile="yes")
