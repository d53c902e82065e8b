"""Super-resolution: block averages [CSGM ``superres``].

Example:
    >>> SuperResolution(factor=2)(tf.ones((1, 28, 28, 1))).shape
    TensorShape([1, 14, 14, 1])
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .base import LinearOperator
from .validation import check_positive_int


@keras.saving.register_keras_serializable(package="measurements")
class SuperResolution(LinearOperator):
    """Averages non-overlapping ``factor × factor`` blocks: ``(H, W, C) → (H/f, W/f, C)``.

    ``A Aᵀ = I / f²``, so ``Aᵀ y`` spreads ``y / f²`` over each block and ``A⁺ y`` repeats ``y``
    over each block (nearest-neighbour upsampling). (CSGM scaled the rows to norm √n; the block
    mean keeps measurements in [0, 1].) H and W must be multiples of ``factor``.
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = check_positive_int(factor, "SuperResolution", "factor")

    def check_image_shape(self, image_shape):
        super().check_image_shape(image_shape)
        h, w = image_shape[0], image_shape[1]
        if (h is not None and h % self.factor) or (w is not None and w % self.factor):
            raise ValueError(
                f"SuperResolution: expected image height and width divisible by factor="
                f"{self.factor}; received images of shape {tuple(image_shape)}."
            )

    def measurement_shape(self, image_shape):
        h, w, c = image_shape
        return (h // self.factor, w // self.factor, c)

    def forward(self, x, theta):
        f = self.factor
        return tf.nn.avg_pool2d(x, ksize=f, strides=f, padding="VALID")

    def _repeat(self, y):
        f = self.factor
        y = tf.repeat(y, f, axis=1)
        return tf.repeat(y, f, axis=2)

    def adjoint(self, y, theta=None):
        return self._repeat(y) / tf.cast(self.factor**2, y.dtype)

    def pseudo_inverse(self, y, theta=None, **unused):
        return self._repeat(y)

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config
