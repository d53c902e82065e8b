"""Gaussian blur: AmbientGAN's ``blur_addnoise`` (with ``noise=GaussianNoise(std)``).

Example:
    >>> op = GaussianBlur(sigma=1.0, size=5, noise=GaussianNoise(0.1))
    >>> y = op(images)                      # same shape as the images
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .base import LinearOperator
from .validation import check_positive, check_positive_int


def gaussian_kernel(sigma, size):
    """The ``size × size`` Gaussian filter of the original code, normalised to sum 1.

    Taps sit at ``-(size-1)/2 … (size-1)/2`` (half-integers for even sizes), as
    ``np.mgrid[-(s-1)/2 : s/2]`` in AmbientGAN's ``get_gaussian_filter``.
    """
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma**2))
    return g / g.sum()


@keras.saving.register_keras_serializable(package="measurements")
class GaussianBlur(LinearOperator):
    """Per-channel Gaussian blur with zero padding (same output size).

    ``y_c = k ⋆ x_c`` where ``k`` is :func:`gaussian_kernel` and pixels outside the image count
    as 0 (``conv2d`` with ``SAME`` padding, as the original). Deterministic (θ = ``{}``).

    Args:
        sigma: standard deviation of the Gaussian, in pixels (> 0).
        size: kernel size in pixels (>= 1; 1 means no blur).
        **kwargs: ``noise`` (e.g. ``GaussianNoise(0.1)``), ``seed``, ``image_shape``, Layer args.
    """

    def __init__(self, sigma=1.0, size=5, **kwargs):
        super().__init__(**kwargs)
        self.sigma = check_positive(sigma, "GaussianBlur", "sigma")
        self.size = check_positive_int(size, "GaussianBlur", "size")
        self._kernel = gaussian_kernel(self.sigma, self.size)

    def kernel(self):
        """The ``(size, size)`` filter as a NumPy array."""
        return self._kernel.copy()

    def _filters(self, channels, dtype):
        k = tf.constant(self._kernel, dtype=dtype)[:, :, None, None]
        return tf.tile(k, [1, 1, channels, 1])  # depthwise: one copy per channel

    def forward(self, x, theta):
        # depthwise_conv2d is a cross-correlation; the kernel is symmetric, so it is a convolution.
        return tf.nn.depthwise_conv2d(x, self._filters(x.shape[-1], x.dtype), [1, 1, 1, 1], "SAME")

    def adjoint(self, y, theta=None):
        # The exact adjoint of the SAME, zero-padded correlation, for odd and even sizes alike.
        return tf.nn.depthwise_conv2d_backprop_input(
            tf.shape(y), self._filters(y.shape[-1], y.dtype), y, [1, 1, 1, 1], "SAME")

    def get_config(self):
        config = super().get_config()
        config.update(sigma=self.sigma, size=self.size)
        return config
