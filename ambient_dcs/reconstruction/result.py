"""What every reconstructor returns, and the checks and batching every reconstructor shares.

The leaf of :mod:`ambient_dcs.reconstruction`: :class:`Reconstruction` (the result, its per-image
fields), the input checks made before any work, the measurement error, and the helpers of the batch
loops (fixed-size padded batches, the progress bar). :mod:`~ambient_dcs.reconstruction.base` (the
protocol) and :mod:`~ambient_dcs.reconstruction.streaming` (files) both build on it.

Example:
    >>> y, theta = check_reconstruction_inputs(op, y, theta, (28, 28, 1), "CSGM")
    >>> rec = Reconstruction(x=x_hat, measurement_error=measurement_error(op, x_hat, y, theta))
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from measurements.validation import check_theta

__all__ = ["Reconstruction", "PER_IMAGE_FIELDS", "image_shape_of", "check_reconstruction_inputs",
           "measurement_error", "batch_rows", "progress_bar"]

# Per-image fields of a Reconstruction (leading axis N): concatenated over batches, written by reconstruct_file.
PER_IMAGE_FIELDS = ("x", "measurement_error", "z", "restart_errors", "restart_losses", "samples", "std")


@dataclasses.dataclass
class Reconstruction:
    """The result of a reconstructor.

    Attributes:
        x: reconstructions ``(N, H, W, C)`` in [0, 1].
        measurement_error: ``‖y − A_θ(x̂)‖²`` per image ``(N,)`` (sum over measurement entries).
        z: chosen latents ``(N, k)`` (coefficients ``(N, n)`` for Lasso / OMP; ``None`` for methods
            without either).
        restart_errors: measurement error of every restart ``(N, R)`` (latent methods).
        restart_losses: total loss (data term + λ‖z‖²) of every restart ``(N, R)`` (CSGM only).
        steps: optimisation steps run per restart (latent methods).
        wall_time: seconds spent in ``reconstruct``.
        samples: ``(N, K, H, W, C)``: K reconstructions of each image that fit its measurements
            (CSGM and the learned fast path: the images of the K = R restarts, with ``keep_samples=True``).
        std: per-pixel standard deviation over those K images ``(N, H, W, C)`` (latent methods with
            more than one restart). For restarts this is the spread of the local optima found from
            different starts, not a calibrated posterior standard deviation.
    """

    x: np.ndarray
    measurement_error: np.ndarray
    z: np.ndarray | None = None
    restart_errors: np.ndarray | None = None
    restart_losses: np.ndarray | None = None
    steps: int | None = None
    wall_time: float = 0.0
    samples: np.ndarray | None = None
    std: np.ndarray | None = None

    def __len__(self):
        return len(self.x)

    @classmethod
    def concatenate(cls, parts):
        """One :class:`Reconstruction` of the images of ``parts`` (in order); ``steps`` is their
        maximum, ``wall_time`` their sum."""
        parts = list(parts)
        if not parts:
            raise ValueError("Reconstruction.concatenate: expected at least one part.")
        if len(parts) == 1:
            return parts[0]
        fields = {}
        for name in PER_IMAGE_FIELDS:
            values = [getattr(p, name) for p in parts]
            fields[name] = None if any(v is None for v in values) else np.concatenate(values)
        steps = [p.steps for p in parts if p.steps is not None]
        return cls(**fields, steps=max(steps) if steps else None, wall_time=sum(p.wall_time for p in parts))


def image_shape_of(generator):
    """``(H, W, C)`` of a generator's output (any Keras model mapping ``(N, k)`` to images)."""
    shape = tuple(generator.output_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(f"expected a generator producing images (N, H, W, C); its output shape is "
                         f"{generator.output_shape}.")
    return shape


def check_reconstruction_inputs(operator, y, theta, image_shape, owner):
    """Validates ``y`` and ``θ`` before any work; returns them as tensors.

    Raises ``ValueError`` for measurements whose shape does not match the operator, NaN/Inf,
    a missing θ for a random operator, or a θ whose batch size differs from ``y``'s.
    """
    operator.ensure_built(image_shape)
    try:
        y = operator.check_measurements(y, image_shape)
    except ValueError as err:
        raise ValueError(f"{owner}: {err}") from None
    if operator.is_random and theta is None:
        raise ValueError(f"{owner}: {type(operator).__name__} is random; pass the θ that produced y "
                         f"(keys {list(operator.theta_keys)}), e.g. from operator.measure(x).")
    try:
        theta = check_theta(theta, y.shape[0], type(operator).__name__, operator.theta_keys) or {}
    except ValueError as err:
        raise ValueError(f"{owner}: {err}") from None
    return y, theta


def measurement_error(operator, x, y, theta):
    """``‖y − A_θ(x)‖²`` per image, as a NumPy array ``(N,)``."""
    residual = tf.cast(y, tf.float32) - tf.cast(operator.forward(tf.convert_to_tensor(x, tf.float32), theta), tf.float32)
    return tf.reduce_sum(tf.reshape(tf.square(residual), [tf.shape(residual)[0], -1]), axis=1).numpy()


def batch_rows(count, rows):
    """Indices ``0..count-1`` repeated up to ``rows`` (``rows >= count``): a batch padded to a fixed
    size, so one traced graph serves every batch (the padding rows are dropped afterwards)."""
    return np.resize(np.arange(count), max(rows, count))


def progress_bar(n, verbose):
    """A Keras progress bar over ``n`` images when ``verbose``, else ``None``."""
    return keras.utils.Progbar(n, unit_name="image") if verbose else None
