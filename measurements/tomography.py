"""Pad, rotate by a random angle, project: 1-D views of an image [AmbientGAN ``pad_rotate_project``].

The rotation is a bilinear resampling written with ``tf.gather``, so it is differentiable and
automatic differentiation gives its exact adjoint (the original rotated with SciPy in a
``py_func``, nearest-neighbour, with a hand-written approximate gradient).

Example:
    >>> op = PadRotateProject(num_angles=2, seed=0)
    >>> y = op(images)                      # 28×28×1 images → y of shape (N, 2·40) (pad 6 → 40 px)
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from .base import LinearOperator
from .validation import check_positive_int


def rotate_bilinear(images, angles):
    """Rotates each image about its centre by ``angles`` (radians, counter-clockwise), bilinear.

    Args:
        images: ``(B, H, W, C)``.
        angles: ``(B,)``.

    Returns:
        ``(B, H, W, C)``; samples falling outside the image are 0.
    """
    h, w, c = images.shape[1], images.shape[2], images.shape[3]
    dtype = images.dtype
    angles = tf.cast(angles, dtype)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64) - cy, np.arange(w, dtype=np.float64) - cx,
                             indexing="ij")
    rows = tf.constant(rows.reshape(1, -1), dtype)
    cols = tf.constant(cols.reshape(1, -1), dtype)
    cos, sin = tf.cos(angles)[:, None], tf.sin(angles)[:, None]
    # Output pixel p samples the input at R(-angle) p (image rows point down, hence the signs).
    src_x = cos * cols - sin * rows + cx
    src_y = sin * cols + cos * rows + cy
    x0, y0 = tf.floor(src_x), tf.floor(src_y)
    flat = tf.reshape(images, [-1, h * w, c])
    out = 0.0
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (1.0 - tf.abs(src_y - yy)) * (1.0 - tf.abs(src_x - xx))
            inside = (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
            weight = tf.where(inside, weight, tf.zeros_like(weight))
            index = tf.cast(tf.clip_by_value(yy, 0, h - 1) * w + tf.clip_by_value(xx, 0, w - 1), tf.int32)
            out = out + weight[..., None] * tf.gather(flat, index, batch_dims=1)
    return tf.reshape(out, [-1, h, w, c])


@keras.saving.register_keras_serializable(package="measurements")
class PadRotateProject(LinearOperator):
    """Zero-pads, rotates by a random angle and sums along the width: 1-D projections.

    Each example is seen under ``num_angles`` angles drawn uniformly in ``[−π, π)``; each view is
    the sum over the width axis of the rotated, padded image (``H + 2·pad`` values per channel).
    The views are concatenated into a vector of ``num_angles · (H + 2·pad) · C`` values.

    Args:
        num_angles: views per example (>= 1).
        pad: zero padding on each side; default ``ceil(max(H, W)·(√2 − 1)/2)`` so the rotated
            image fits (6 px for 28 × 28, 14 px for 64 × 64, as the original).
        expose_theta: make the angles visible to a discriminator (``theta_features``), as
            AmbientGAN's ``pad_rotate_project_with_theta``, which appended them to the measurement.
            The measurement itself stays linear in ``x``.
        **kwargs: ``noise``, ``seed``, ``image_shape`` and Layer arguments.

    θ: ``{"angles": (N, num_angles)}`` in radians.
    """

    theta_keys = ("angles",)
    theta_needs_image_shape = False  # the angles do not depend on the image size

    def __init__(self, num_angles=1, pad=None, expose_theta=False, **kwargs):
        super().__init__(**kwargs)
        self.num_angles = check_positive_int(num_angles, "PadRotateProject", "num_angles")
        self.pad = None if pad is None else int(pad)
        if self.pad is not None and self.pad < 0:
            raise ValueError(f"PadRotateProject: expected pad >= 0 or None; received {pad!r}.")
        self.exposes_theta = bool(expose_theta)

    def padding(self, image_shape):
        """The padding used for images of shape ``(H, W, C)``."""
        if self.pad is not None:
            return self.pad
        return int(math.ceil(max(image_shape[0], image_shape[1]) * (math.sqrt(2.0) - 1.0) / 2.0))

    def measurement_shape(self, image_shape):
        h, _, c = image_shape
        return (self.num_angles * (h + 2 * self.padding(image_shape)) * c,)

    def draw_theta(self, batch_size, seed, image_shape):
        angles = tf.random.stateless_uniform([batch_size, self.num_angles], seed, minval=-math.pi, maxval=math.pi)
        return {"angles": angles}

    def theta_features(self, theta):
        return theta["angles"] if self.exposes_theta else None

    def forward(self, x, theta):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        p = self.padding((h, w, c))
        k = self.num_angles
        padded = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        views = tf.repeat(padded, k, axis=0)                       # (N·k, H', W', C)
        rotated = rotate_bilinear(views, tf.reshape(theta["angles"], [-1]))
        projections = tf.reduce_sum(rotated, axis=2)              # sum along the width: (N·k, H', C)
        return tf.reshape(projections, [-1, k * (h + 2 * p) * c])

    def get_config(self):
        config = super().get_config()
        config.update(num_angles=self.num_angles, pad=self.pad, expose_theta=self.exposes_theta)
        return config
