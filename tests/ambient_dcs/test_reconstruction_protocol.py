"""One protocol for every reconstructor: ``reconstruct(y, theta) -> Reconstruction`` and a streamed
``reconstruct_file(path, out_dir)`` that gives the same images.

A new reconstructor is one entry of ``RECONSTRUCTORS``.
"""

import numpy as np
import pytest
import tensorflow as tf

import measurements as M
from ambient_dcs.data.files import save_measurements
from ambient_dcs.networks import mlp_generator
from ambient_dcs.reconstruction import (CSGM, OMP, ClassicalInverse, Lasso, LearnedLatentReconstructor, LeastSquares,
                                        Reconstruction, Reconstructor)
from ambient_dcs.reconstruction.streaming import FILE_FIELDS

SHAPE = (16, 16, 1)
N = 5        # images: three batches of 2, the last one padded
BATCH = 2


@pytest.fixture(scope="module")
def generator():
    return mlp_generator(latent_dim=8, image_shape=SHAPE, hidden=(16,), seed=0)


def _operator(kind):
    if kind == "gaussian":   # deterministic, vector measurements
        return M.GaussianProjection(40, seed=0, image_shape=SHAPE, noise=M.GaussianNoise(0.01, seed=1))
    return M.PixelDrop(0.5, seed=0, image_shape=SHAPE)  # random (θ per image), image-shaped measurements


RECONSTRUCTORS = {
    "csgm": lambda g, op: CSGM(g, op, steps=5, restarts=2, batch_size=BATCH, seed=1, jit_compile=False),
    "learned": lambda g, op: LearnedLatentReconstructor(g, op, steps=2, step_size=0.01, project="norm", restarts=2,
                                                        batch_size=BATCH, seed=1),
    "lasso": lambda g, op: Lasso(op, basis="dct", alpha=0.1, batch_size=BATCH),
    "omp": lambda g, op: OMP(op, basis="dct", sparsity=5, batch_size=BATCH),
    "least_squares": lambda g, op: LeastSquares(op, batch_size=BATCH),
    "classical": lambda g, op: ClassicalInverse(op, batch_size=BATCH),
}


def _measurements(op):
    x = np.random.default_rng(0).uniform(0, 1, (N, *SHAPE)).astype("float32")
    y, theta = op.measure(x, seed=2)
    return np.asarray(y), {k: np.asarray(v) for k, v in theta.items()}


@pytest.mark.slow  # 3.4 s
@pytest.mark.parametrize("kind", ["gaussian", "pixeldrop"])
@pytest.mark.parametrize("name", sorted(RECONSTRUCTORS))
def test_reconstruct_and_reconstruct_file_agree(generator, name, kind, tmp_path):
    op = _operator(kind)
    method = RECONSTRUCTORS[name](generator, op)
    assert isinstance(method, Reconstructor)
    y, theta = _measurements(op)

    rec = method.reconstruct(y, theta or None)
    assert isinstance(rec, Reconstruction)
    assert rec.x.shape == (N, *SHAPE) and rec.x.dtype == np.float32
    assert np.all(np.isfinite(rec.x)) and rec.x.min() >= 0.0 and rec.x.max() <= 1.0
    assert rec.measurement_error.shape == (N,) and np.all(np.isfinite(rec.measurement_error))
    recomputed = np.square(y - np.asarray(op.forward(tf.constant(rec.x), theta))).reshape(N, -1).sum(axis=1)
    np.testing.assert_allclose(rec.measurement_error, recomputed, rtol=1e-3, atol=1e-5)
    assert rec.wall_time > 0
    for field in ("samples", "std"):
        value = getattr(rec, field)
        assert value is None or value.shape[0] == N and np.all(np.isfinite(value))

    path = save_measurements(tmp_path / "m.npz", y, theta, op, image_shape=SHAPE)
    info = method.reconstruct_file(path, tmp_path / "out")
    assert info["count"] == N and info["replicas"] == 1
    written = {f: np.load(tmp_path / "out" / f"{f}.npy") for f in FILE_FIELDS if getattr(rec, f) is not None}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{f}.npy" for f in written)
    np.testing.assert_allclose(written["x"], rec.x, atol=1e-5)
    np.testing.assert_allclose(written["measurement_error"], rec.measurement_error, rtol=1e-4, atol=1e-6)
    assert info["mean_measurement_error"] == pytest.approx(rec.measurement_error.mean(), rel=1e-4, abs=1e-6)
    for field, value in written.items():
        assert value.shape == getattr(rec, field).shape


@pytest.mark.slow  # 4.0 s
@pytest.mark.parametrize("name", ["csgm", "learned"])
def test_restarts_give_samples_and_their_per_pixel_std(generator, name, tmp_path):
    op = _operator("gaussian")
    y, _ = _measurements(op)
    cls = CSGM if name == "csgm" else LearnedLatentReconstructor
    extra = dict(steps=5, jit_compile=False) if name == "csgm" else dict(steps=2, step_size=0.01)
    rich = cls(generator, op, restarts=3, batch_size=BATCH, seed=1, keep_samples=True, **extra)
    rec = rich.reconstruct(y)
    assert rec.samples.shape == (N, 3, *SHAPE) and rec.std.shape == (N, *SHAPE)
    best = np.argmin(rec.restart_errors, axis=1)
    np.testing.assert_allclose(rec.x, rec.samples[np.arange(N), best], atol=1e-6)
    np.testing.assert_allclose(rec.std, rec.samples.std(axis=1), atol=1e-5)
    assert rec.std.max() > 0  # the restarts end in different images
    # The default keeps no samples (R times the memory of x), but still reports the std, and the same x.
    cheap = cls(generator, op, restarts=3, batch_size=BATCH, seed=1, **extra).reconstruct(y)
    assert cheap.samples is None
    np.testing.assert_allclose(cheap.std, rec.std, atol=1e-6)
    np.testing.assert_allclose(cheap.x, rec.x, atol=1e-6)
    # One restart: no spread to report.
    single = cls(generator, op, restarts=1, batch_size=BATCH, seed=1, **extra).reconstruct(y)
    assert single.std is None and single.samples is None
    # Samples stream to disk too.
    path = save_measurements(tmp_path / "m.npz", y, None, op, image_shape=SHAPE)
    rich.reconstruct_file(path, tmp_path / "o")
    np.testing.assert_allclose(np.load(tmp_path / "o" / "samples.npy"), rec.samples, atol=1e-5)


def test_a_file_that_does_not_fit_fails_before_any_output(tmp_path):
    op = M.PixelDrop(0.5, seed=0)
    op.ensure_built((4, 4, 1))
    y, theta = op.measure(np.zeros((2, 4, 4, 1), "float32"), seed=1)
    path = save_measurements(tmp_path / "m.npz", y, theta, op, image_shape=(4, 4, 1))
    with pytest.raises(ValueError, match=r"Lasso.reconstruct_file: the file's signals have shape \(4, 4, 1\); it "
                                         r"reconstructs images of shape \(16, 16, 1\)"):
        Lasso(M.PixelDrop(0.5, seed=0, image_shape=SHAPE)).reconstruct_file(path, tmp_path / "out")
    projected = save_measurements(tmp_path / "g.npz", np.zeros((2, 5), "float32"), None,
                                  M.GaussianProjection(5, seed=0), image_shape=SHAPE)
    with pytest.raises(ValueError, match=r"GaussianProjection makes measurements of shape \(40,\)"):
        LeastSquares(_operator("gaussian")).reconstruct_file(projected, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_no_measurements_and_bad_batch_size_raise():
    op = _operator("gaussian")
    with pytest.raises(ValueError, match=r"LeastSquares: received no measurements \(N = 0\)"):
        LeastSquares(op).reconstruct(np.zeros((0, 40), "float32"))
    with pytest.raises(ValueError, match="OMP: expected batch_size to be an integer >= 1"):
        OMP(op, batch_size=0)
