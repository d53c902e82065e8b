"""The identity measurement ``y = x`` (plus optional noise: denoising).

Used for the representation-error experiments of CSGM: with ``Identity()`` the reconstruction
error is the distance from the image to the range of the generator.
"""

from __future__ import annotations

import keras

from .base import LinearOperator


@keras.saving.register_keras_serializable(package="measurements")
class Identity(LinearOperator):
    """``y = x``. Its adjoint and pseudo-inverse are the identity too."""

    def measurement_shape(self, image_shape):
        return tuple(image_shape)

    def forward(self, x, theta):
        return x

    def adjoint(self, y, theta=None):
        return y

    def pseudo_inverse(self, y, theta=None, **unused):
        return y
