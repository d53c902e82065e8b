"""Masking operators: ``y = m_θ ⊙ x`` with a per-example mask ``m_θ``.

These are AmbientGAN's ``drop_*``, ``drop_patch`` and ``keep_patch`` devices and CSGM's
``inpaint``. θ is ``{"mask": m}`` with ``m`` broadcastable to the images (``(N, H, W, C)``,
``(N, H, W, 1)``, ``(N, H, 1, C)`` …); kept entries hold the rescale factor (``1/(1−p)`` for the
drop operators with ``rescale=True``, else 1), dropped entries hold 0. The adjoint is the same
mask and the pseudo-inverse divides kept entries by their factor and leaves dropped ones at 0.

Example:
    >>> op = PixelDrop(p=0.9, seed=0)
    >>> y, theta = op.measure(images)                  # about 10 % of pixels kept, ×10
    >>> x_known = op.pseudo_inverse(y, theta)          # kept pixels back in [0, 1], zeros elsewhere
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .base import LinearOperator
from .seeding import split_seed
from .validation import check_positive_int, check_probability


class MaskOperator(LinearOperator):
    """Base of the masking operators. Subclasses draw ``{"mask": m}`` in ``draw_theta``."""

    theta_keys = ("mask",)
    is_mask = True

    def mask(self, theta):
        """The mask of θ, broadcastable to the images."""
        return theta["mask"]

    def measurement_shape(self, image_shape):
        return tuple(image_shape)

    def observed(self, theta, image_shape=None):
        """Boolean ``(N, H, W, C)``: which entries of each image the measurement keeps."""
        shape = self._resolve_image_shape(image_shape)
        m = tf.convert_to_tensor(self.mask(theta))
        if m.shape.rank == 3:  # a fixed (H, W, C) mask
            m = m[None]
        target = tf.concat([tf.shape(m)[:1], shape], axis=0)
        return tf.broadcast_to(m > 0, target)

    def forward(self, x, theta):
        return x * tf.cast(self.mask(theta), x.dtype)

    def adjoint(self, y, theta=None):
        theta = self._theta_for(theta, "adjoint")
        return y * tf.cast(self.mask(theta), y.dtype)

    def pseudo_inverse(self, y, theta=None, **unused):
        theta = self._theta_for(theta, "pseudo_inverse")
        m = tf.cast(self.mask(theta), y.dtype)
        safe = tf.where(m > 0, m, tf.ones_like(m))
        return tf.where(m > 0, y / safe, tf.zeros_like(y * m))


class _DropOperator(MaskOperator):
    """Independent Bernoulli drops with probability ``p`` on a broadcast pattern."""

    def __init__(self, p, rescale=True, **kwargs):
        super().__init__(**kwargs)
        self.p = check_probability(p, type(self).__name__)
        self.rescale = bool(rescale)

    def _keep(self, seed, shape):
        u = tf.random.stateless_uniform(shape, seed=seed)
        keep = tf.cast(u >= self.p, tf.float32)
        return keep / (1.0 - self.p) if self.rescale else keep

    def get_config(self):
        config = super().get_config()
        config.update(p=self.p, rescale=self.rescale)
        return config


@keras.saving.register_keras_serializable(package="measurements")
class PixelDrop(_DropOperator):
    """Drops each pixel independently with probability ``p`` [AmbientGAN ``drop_independent``].

    ``y = m ⊙ x`` with ``m = 1{u ≥ p} / (1 − p)`` (inverted-dropout rescaling, so ``E[y] = x``)
    when ``rescale=True``, else ``m = 1{u ≥ p}``.

    Args:
        p: drop probability in [0, 1).
        per_channel: draw the mask per channel (the original MNIST/CelebA code) or once per pixel
            for all channels (the original CIFAR code).
        rescale: multiply kept values by ``1/(1 − p)``.
        **kwargs: ``noise``, ``seed``, ``image_shape`` and Layer arguments (see ``Operator``).

    Measurement shape: the image shape. θ: ``{"mask": (N, H, W, C or 1)}``.
    """

    def __init__(self, p, per_channel=True, rescale=True, **kwargs):
        super().__init__(p, rescale=rescale, **kwargs)
        self.per_channel = bool(per_channel)

    def draw_theta(self, batch_size, seed, image_shape):
        h, w, c = image_shape
        return {"mask": self._keep(seed, [batch_size, h, w, c if self.per_channel else 1])}

    def get_config(self):
        config = super().get_config()
        config["per_channel"] = self.per_channel
        return config


@keras.saving.register_keras_serializable(package="measurements")
class RowDrop(_DropOperator):
    """Drops whole rows (per channel) with probability ``p`` [AmbientGAN ``drop_row``].

    θ: ``{"mask": (N, H, 1, C)}``, kept rows scaled by ``1/(1 − p)`` when ``rescale=True``.
    """

    def draw_theta(self, batch_size, seed, image_shape):
        h, _, c = image_shape
        return {"mask": self._keep(seed, [batch_size, h, 1, c])}


@keras.saving.register_keras_serializable(package="measurements")
class ColumnDrop(_DropOperator):
    """Drops whole columns (per channel) with probability ``p`` [AmbientGAN ``drop_col``].

    θ: ``{"mask": (N, 1, W, C)}``, kept columns scaled by ``1/(1 − p)`` when ``rescale=True``.
    """

    def draw_theta(self, batch_size, seed, image_shape):
        _, w, c = image_shape
        return {"mask": self._keep(seed, [batch_size, 1, w, c])}


@keras.saving.register_keras_serializable(package="measurements")
class RowColumnDrop(_DropOperator):
    """Drops rows and columns independently, each with probability ``p`` [``drop_rowcol``].

    The mask is the product of a row mask and a column mask, so kept pixels are scaled by
    ``1/(1 − p)²`` when ``rescale=True``. θ: ``{"mask": (N, H, W, C)}``.
    """

    def draw_theta(self, batch_size, seed, image_shape):
        h, w, c = image_shape
        s = split_seed(seed, 2)
        rows = self._keep(s[0], [batch_size, h, 1, c])
        cols = self._keep(s[1], [batch_size, 1, w, c])
        return {"mask": rows * cols}


class _SquareOperator(MaskOperator):
    """One random ``size × size`` square per example, its corner uniform over every position."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = check_positive_int(size, type(self).__name__, "size")

    def check_image_shape(self, image_shape):
        super().check_image_shape(image_shape)
        h, w = image_shape[0], image_shape[1]
        if (h is not None and self.size > h) or (w is not None and self.size > w):
            raise ValueError(
                f"{self._owner}: expected a square of size <= the image height and width; received "
                f"size={self.size} for images of shape {tuple(image_shape)}."
            )

    def _square(self, batch_size, seed, image_shape):
        """Boolean ``(N, H, W, 1)``, true inside the square. Corners cover 0 … H−size inclusive
        (the original's ``choice(h − k)`` never drew the last position)."""
        h, w, _ = image_shape
        k = self.size
        s = split_seed(seed, 2)
        top = tf.random.stateless_uniform([batch_size, 1], s[0], minval=0, maxval=h - k + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([batch_size, 1], s[1], minval=0, maxval=w - k + 1, dtype=tf.int32)
        rows = tf.range(h)[None, :]
        cols = tf.range(w)[None, :]
        in_rows = (rows >= top) & (rows < top + k)
        in_cols = (cols >= left) & (cols < left + k)
        return (in_rows[:, :, None] & in_cols[:, None, :])[..., None]

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


@keras.saving.register_keras_serializable(package="measurements")
class BlockDrop(_SquareOperator):
    """Zeroes one random ``size × size`` square per example, all channels [``drop_patch``].

    No rescaling. θ: ``{"mask": (N, H, W, 1)}`` (0 inside the square, 1 outside).
    """

    def draw_theta(self, batch_size, seed, image_shape):
        return {"mask": 1.0 - tf.cast(self._square(batch_size, seed, image_shape), tf.float32)}


@keras.saving.register_keras_serializable(package="measurements")
class KeepPatch(_SquareOperator):
    """Keeps only one random ``size × size`` square per example [``keep_patch``].

    θ: ``{"mask": (N, H, W, 1)}`` (1 inside the square, 0 outside).
    """

    def draw_theta(self, batch_size, seed, image_shape):
        return {"mask": tf.cast(self._square(batch_size, seed, image_shape), tf.float32)}


@keras.saving.register_keras_serializable(package="measurements")
class Inpainting(MaskOperator):
    """A fixed, known mask: ``y = m ⊙ x`` [CSGM ``inpaint``].

    Args:
        mask: array ``(H, W)``, ``(H, W, 1)`` or ``(H, W, C)``, 1 where the pixel is observed and
            0 where it is missing (any non-negative weights are allowed).
        **kwargs: see ``Operator``.

    Deterministic (θ is ``{}``). ``Inpainting.centered_square((28, 28, 1), 10)`` hides the centred
    10 × 10 square, as in the CSGM inpainting demo.
    """

    theta_keys = ()
    fixed_image_shape = True

    def __init__(self, mask, **kwargs):
        m = np.asarray(mask, dtype=np.float32)
        if m.ndim == 2:
            m = m[..., None]
        if m.ndim != 3 or not np.all(np.isfinite(m)) or (m < 0).any():
            raise ValueError(
                f"Inpainting: expected a finite, non-negative mask of shape (H, W) or (H, W, C); "
                f"received shape {m.shape}."
            )
        super().__init__(**kwargs)
        self._mask = m

    def check_image_shape(self, image_shape):
        super().check_image_shape(image_shape)
        h, w, c = self._mask.shape
        got = tuple(image_shape)
        if got[:2] != (h, w) or (c != 1 and got[2] != c):
            raise ValueError(
                f"Inpainting: expected images of shape ({h}, {w}, {c if c != 1 else 'C'}) to match "
                f"the mask; received {got}."
            )

    def mask(self, theta):
        return tf.constant(self._mask)

    def observed(self, theta, image_shape=None):
        shape = self._resolve_image_shape(image_shape)
        return tf.broadcast_to(tf.constant(self._mask)[None] > 0, (1, *shape))

    @classmethod
    def centered_square(cls, image_shape, size, **kwargs):
        """An operator hiding the centred ``size × size`` square (all channels)."""
        h, w, _ = image_shape
        mask = np.ones((h, w, 1), np.float32)
        top, left = (h - size) // 2, (w - size) // 2
        mask[top:top + size, left:left + size] = 0
        return cls(mask, image_shape=tuple(image_shape), **kwargs)

    def get_config(self):
        config = super().get_config()
        config["mask"] = self._mask.tolist()
        return config
