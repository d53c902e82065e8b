"""Extract a random patch whose location is hidden [AmbientGAN ``extract_patch``].

Example:
    >>> op = ExtractPatch(size=14, seed=0)
    >>> y = op(images)      # 28×28 images → the 14×14 crop, zero-padded to 28×28 around the centre
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .base import LinearOperator
from .seeding import split_seed
from .validation import check_positive_int


@keras.saving.register_keras_serializable(package="measurements")
class ExtractPatch(LinearOperator):
    """Crops a random ``size × size`` patch and zero-pads it back to the image size, centred.

    The measurement does not say where the patch came from (θ is not exposed). The corner is
    uniform over every valid position, the last one included. θ: ``{"corner": (N, 2)}`` int32
    (top, left). Measurement shape: the image shape.
    """

    theta_keys = ("corner",)

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = check_positive_int(size, "ExtractPatch", "size")

    def check_image_shape(self, image_shape):
        super().check_image_shape(image_shape)
        h, w = image_shape[0], image_shape[1]
        if (h is not None and self.size > h) or (w is not None and self.size > w):
            raise ValueError(
                f"ExtractPatch: expected a patch of size <= the image height and width; received "
                f"size={self.size} for images of shape {tuple(image_shape)}."
            )

    def measurement_shape(self, image_shape):
        return tuple(image_shape)

    def draw_theta(self, batch_size, seed, image_shape):
        h, w, _ = image_shape
        s = split_seed(seed, 2)
        top = tf.random.stateless_uniform([batch_size], s[0], 0, h - self.size + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([batch_size], s[1], 0, w - self.size + 1, dtype=tf.int32)
        return {"corner": tf.stack([top, left], axis=1)}

    def forward(self, x, theta):
        h, w = x.shape[1], x.shape[2]
        k = self.size
        corner = tf.cast(theta["corner"], tf.int32)
        rows = corner[:, :1] + tf.range(k)[None, :]                 # (N, k)
        cols = corner[:, 1:] + tf.range(k)[None, :]
        patch = tf.gather(x, rows, axis=1, batch_dims=1)              # (N, k, W, C)
        patch = tf.gather(patch, cols, axis=2, batch_dims=1)          # (N, k, k, C)
        top, left = (h - k) // 2, (w - k) // 2
        return tf.pad(patch, [[0, 0], [top, h - k - top], [left, w - k - left], [0, 0]])

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config
