"""Datasets of measurements: measure a set of images once, invert a set of measurements classically,
hide labels for semi-supervised training.

Example:
    >>> y, theta = measure_dataset(measurements.PixelDrop(0.8), x_train, seed=0)   # what an instrument records
    >>> x_inv = unmeasure_dataset(op, y, theta)                                     # the "unmeasure" baseline
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import measurements
from measurements.validation import check_positive

__all__ = ["measure_dataset", "unmeasure_dataset", "hide_labels", "UNLABELLED"]

UNLABELLED = -1  #: label value of an unlabelled image in CS-SGAN datasets


def _theta_slice(theta, start, stop):
    if not theta:
        return None
    return {k: np.asarray(v)[start:stop] for k, v in theta.items()}


def unmeasure_dataset(operator, y, theta=None, method="auto", batch_size=256):
    """Inverts a whole set of measurements with a classical method, for ``mode="unmeasure"``.

    The inverses (``measurements.unmeasure``: Wiener, blur fill, biharmonic inpainting,
    pseudo-inverse) are NumPy / scikit-image, so they run once, up front, batch by batch.

    Args:
        operator: the operator that produced ``y`` (its image shape must be known: built, or
            constructed with ``image_shape=``).
        y: measurements ``(N, *measurement_shape)``.
        theta: the θ that produced them (a dict of arrays with first axis ``N``), needed by
            random operators.
        method: ``"auto"`` or a method name of ``measurements.unmeasure``.
        batch_size: measurements inverted per call.

    Returns:
        A float32 NumPy array ``(N, H, W, C)`` in [0, 1].

    Raises:
        ValueError: if no inverse fits the operator (e.g. ``ExtractPatch``), or as ``unmeasure``.
    """
    if not measurements.available_methods(operator):
        raise ValueError(f"unmeasure_dataset: no classical inverse fits {type(operator).__name__} "
                         f"(measurements.available_methods is empty).")
    y = np.asarray(y)
    chunks = []
    for start in range(0, len(y), int(batch_size)):
        stop = start + int(batch_size)
        chunks.append(measurements.unmeasure(operator, y[start:stop], _theta_slice(theta, start, stop), method=method))
    if not chunks:
        raise ValueError("unmeasure_dataset: received no measurements.")
    return np.concatenate(chunks).astype(np.float32)


def measure_dataset(operator, x, seed=None, batch_size=256):
    """Measures a set of images once: returns ``(y, theta)`` as NumPy (θ a dict of arrays).

    This is what an instrument would record; ``{"y": y, "theta": theta}`` is then a training set
    for :class:`AmbientGAN` that holds no clean image. ``seed`` (an int) makes it reproducible.
    """
    x = np.asarray(x)
    ys, thetas = [], []
    for i, start in enumerate(range(0, len(x), int(batch_size))):
        s = None if seed is None else tf.constant([int(seed), i], tf.int64)
        y, theta = operator.measure(x[start:start + int(batch_size)], seed=s)
        ys.append(np.asarray(y))
        thetas.append(measurements.base.as_numpy_dict(theta))
    if not ys:
        raise ValueError("measure_dataset: received no images.")
    theta = {k: np.concatenate([t[k] for t in thetas]) for k in thetas[0]}
    return np.concatenate(ys), theta


def hide_labels(labels, labelled_fraction, seed=0, num_classes=None):
    """Keeps a class-balanced fraction of the labels and marks the rest unlabelled (``−1``).

    Args:
        labels: ``(N,)`` ints in ``[0, K)``.
        labelled_fraction: fraction in ``[0, 1]`` of each class that keeps its label.
        seed: which images keep their label.
        num_classes: ``K`` (default ``max(labels) + 1``).

    Returns:
        ``(N,)`` int64 NumPy array: the label, or :data:`UNLABELLED`.

    Example:
        >>> hide_labels(np.array([0, 0, 1, 1]), 0.5, seed=0)      # one label per class kept
        array([ 0, -1, -1,  1])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError(f"hide_labels: expected labels as a 1-D array of non-negative ints; received "
                         f"dtype {labels.dtype}, shape {labels.shape}.")
    fraction = check_positive(labelled_fraction, "hide_labels", "labelled_fraction", allow_zero=True)
    if fraction > 1:
        raise ValueError(f"hide_labels: expected labelled_fraction in [0, 1]; received {labelled_fraction!r}.")
    k = int(labels.max()) + 1 if num_classes is None and labels.size else int(num_classes or 0)
    rng = np.random.default_rng(seed)
    out = np.full(labels.shape, UNLABELLED, np.int64)
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        keep = rng.permutation(idx)[: int(round(fraction * len(idx)))]
        out[keep] = c
    return out
