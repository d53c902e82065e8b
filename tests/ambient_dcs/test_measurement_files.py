"""Measurement files (the domain scientist's input) and the classical baselines used beside CSGM."""

import json

import numpy as np
import pytest

import measurements as M
from ambient_dcs.reconstruction.baselines import ClassicalInverse, Lasso
from ambient_dcs.data.files import (MeasurementFileError, NpyWriter, load_measurements, open_measurements, operator_from_spec, save_measurements)
from ambient_dcs.metrics import per_image_squared_error

SHAPE = (8, 8, 1)


def _images(n=6, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *SHAPE)).astype("float32")


def test_round_trip_restores_y_theta_operator_and_shape(tmp_path):
    op = M.PixelDrop(0.5, noise=M.GaussianNoise(0.1), seed=3)
    op.ensure_built(SHAPE)
    y, theta = op.measure(_images(), seed=1)
    path = save_measurements(tmp_path / "m.npz", y, theta, op, image_shape=SHAPE)
    data = load_measurements(path)
    np.testing.assert_array_equal(data.y, np.asarray(y))
    np.testing.assert_array_equal(data.theta["mask"], np.asarray(theta["mask"]))
    assert isinstance(data.operator, M.PixelDrop) and data.operator.p == 0.5
    assert data.operator.noise.std == pytest.approx(0.1)
    assert data.image_shape == SHAPE and len(data) == 6
    # The operator given on the command line wins over the stored one.
    other = load_measurements(path, operator="PixelDrop", operator_args='{"p": 0.3}')
    assert other.operator.p == 0.3


def test_vector_measurements_need_their_image_shape(tmp_path):
    op = M.GaussianProjection(5, seed=0, image_shape=SHAPE)
    op.ensure_built(SHAPE)
    y = np.asarray(op(_images()))
    np.savez(tmp_path / "bare.npz", y=y)
    with pytest.raises(MeasurementFileError, match="image_shape"):
        load_measurements(tmp_path / "bare.npz", operator=M.GaussianProjection(5, seed=0))
    data = load_measurements(tmp_path / "bare.npz", operator=op)  # the operator knows its shape
    assert data.image_shape == SHAPE


def _bad_file(tmp_path, name, **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((2, 8, 8, 1))}, "expected an array named 'y'"),
    ({"y": np.array([["a", "b"], ["c", "d"]])}, "numeric"),
    ({"y": np.full((2, 8, 8, 1), np.nan)}, "finite"),
    ({"y": np.zeros((2, 7, 8, 1))}, r"y should have shape \(N, 8, 8, 1\)"),
    ({"y": np.zeros((2, 8, 8, 1))}, "theta/mask"),
    ({"y": np.zeros((2, 8, 8, 1)), "theta/mask": np.ones((3, 8, 8, 1))}, "leading size 2"),
])
@pytest.mark.parametrize("loader", [load_measurements, open_measurements], ids=["load", "stream"])
def test_bad_files_raise_clear_errors(tmp_path, arrays, message, loader):
    path = _bad_file(tmp_path, "bad.npz", image_shape=np.array(SHAPE), **arrays)
    with pytest.raises(MeasurementFileError, match=message):
        loader(path, operator="PixelDrop", operator_args={"p": 0.5})


@pytest.mark.parametrize("loader", [load_measurements, open_measurements], ids=["load", "stream"])
def test_pickled_files_are_refused(tmp_path, loader):
    path = tmp_path / "pickled.npz"
    np.savez(path, y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(MeasurementFileError, match="pickle"):
        loader(path, operator="Identity")


@pytest.mark.parametrize("loader", [load_measurements, open_measurements], ids=["load", "stream"])
def test_missing_file_and_unknown_operator(tmp_path, loader):
    with pytest.raises(MeasurementFileError, match="does not exist"):
        loader(tmp_path / "nope.npz", operator="Identity")
    path = _bad_file(tmp_path, "ok.npz", y=np.zeros((2, 8, 8, 1)))
    with pytest.raises(MeasurementFileError, match="does not say which operator"):
        loader(path)
    with pytest.raises(MeasurementFileError, match="Did you mean 'PixelDrop'"):
        loader(path, operator="PixelDorp")
    with pytest.raises(MeasurementFileError, match="unknown argument"):
        loader(path, operator="PixelDrop", operator_args='{"q": 1}')
    with pytest.raises(MeasurementFileError, match="JSON object"):
        operator_from_spec("PixelDrop", "{p: 0.5")


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "compressed"])
def test_streamed_batches_equal_the_loaded_file(tmp_path, save):
    op = M.PixelDrop(0.5, noise=M.GaussianNoise(0.1), seed=3)
    op.ensure_built(SHAPE)
    y, theta = op.measure(_images(11), seed=1)
    path = tmp_path / "m.npz"
    save(path, y=np.asarray(y), **{"theta/mask": np.asarray(theta["mask"])}, image_shape=np.array(SHAPE),
         operator=np.asarray(json.dumps(M.config_of(op))))
    loaded, stream = load_measurements(path), open_measurements(path)
    assert len(stream) == 11 and stream.measurement_shape == SHAPE and stream.theta_keys == ("mask",)
    blocks = list(stream.batches(4))
    assert [len(b[0]) for b in blocks] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks]), loaded.y)
    np.testing.assert_array_equal(np.concatenate([b[1]["mask"] for b in blocks]), loaded.theta["mask"])
    # A bare .npy holds y alone (a deterministic operator) and streams as well.
    np.save(tmp_path / "y.npy", np.asarray(y))
    bare = open_measurements(tmp_path / "y.npy", operator="Identity")
    np.testing.assert_array_equal(np.concatenate([b for b, _ in bare.batches(5)]), loaded.y)


def test_npy_writer_is_atomic_and_checks_rows(tmp_path):
    target = tmp_path / "x.npy"
    np.save(target, np.arange(3.0))                   # an earlier result
    w = NpyWriter(target, (5, 2))
    w.append(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"expected blocks of shape \(k, 2\)"):
        w.append(np.ones((2, 3)))
    with pytest.raises(ValueError, match="3 of 5 rows written"):
        w.close()
    w.abort()                                          # an interrupted run
    np.testing.assert_array_equal(np.load(target), np.arange(3.0))   # the earlier file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]
    w = NpyWriter(target, (5, 2))
    w.append(np.ones((2, 2)))
    w.append(np.zeros((3, 2)))
    w.close()
    np.testing.assert_array_equal(np.load(target), np.r_[np.ones((2, 2)), np.zeros((3, 2))])


def test_operator_config_file(tmp_path):
    op = M.GaussianBlur(sigma=2.0, size=3, noise=M.GaussianNoise(0.2))
    (tmp_path / "op.json").write_text(json.dumps(M.config_of(op)))
    back = operator_from_spec(str(tmp_path / "op.json"))
    assert isinstance(back, M.GaussianBlur) and back.sigma == 2.0 and back.noise.std == pytest.approx(0.2)
    with pytest.raises(MeasurementFileError, match="does not exist"):
        operator_from_spec(str(tmp_path / "missing.json"))


def test_classical_inverse_matches_unmeasure_and_reports_measurement_error():
    op = M.PixelDrop(0.5, seed=0)
    x = _images(4)
    y, theta = op.measure(x, seed=1)
    rec = ClassicalInverse(op, "inpaint", image_shape=SHAPE).reconstruct(y, theta)
    np.testing.assert_allclose(rec.x, M.unmeasure(op, y, theta, method="inpaint"))
    expected = np.sum((np.asarray(y) - np.asarray(op.forward(rec.x, theta))) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(rec.measurement_error, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="does not fit"):
        ClassicalInverse(op, "wiener")
    with pytest.raises(ValueError, match="no classical inverse"):
        ClassicalInverse(M.ExtractPatch(4))


def test_lasso_discrepancy_principle_picks_alpha_from_the_noise_level():
    x = np.full((12, 8, 8, 1), 0.3, np.float32)
    x[:, 2:6, 3:5] = 0.7                     # blocky images away from the clip bounds: sparse in Haar
    op = M.GaussianBlur(1.0, 3, noise=M.GaussianNoise(0.3), seed=0, image_shape=SHAPE)
    y, _ = op.measure(x, seed=1)
    lasso = Lasso(op, basis="wavelet", alpha="discrepancy", image_shape=SHAPE, discrepancy_images=8)
    rec = lasso.reconstruct(y)
    # Independent scan: the largest α of the grid whose residual on the first 8 images is <= m σ².
    target = 64 * 0.3**2
    residuals = {a: Lasso(op, basis="wavelet", alpha=a, image_shape=SHAPE).reconstruct(y[:8]).measurement_error.mean()
                 for a in Lasso.ALPHA_GRID}
    below = [a for a in Lasso.ALPHA_GRID if residuals[a] <= target]
    assert below and max(below) < Lasso.ALPHA_GRID[-1]     # the rule has a real choice to make here
    assert lasso.alpha_ == max(below)
    # ... and it beats a fixed, far too small α on these noisy measurements.
    tiny = Lasso(op, basis="wavelet", alpha=0.003, image_shape=SHAPE).reconstruct(y)
    assert per_image_squared_error(rec.x, x).mean() < per_image_squared_error(tiny.x, x).mean()
    with pytest.raises(ValueError, match="noise level"):
        Lasso(M.GaussianBlur(1.0, 3), alpha="discrepancy", image_shape=SHAPE)
