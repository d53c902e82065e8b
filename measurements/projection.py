"""Projections to a vector of ``m`` measurements: random Gaussian, learned linear, learned MLP.

``GaussianProjection`` is CSGM's ``gaussian`` measurement; ``LearnedLinear`` and
``LearnedNetwork`` are the trainable measurement functions of Deep Compressed Sensing
("LINEAR(L)" and "NN(L)").

Example:
    >>> op = GaussianProjection(num_measurements=100, seed=0, noise=GaussianNoise(0.01))
    >>> y = op(images)                      # (N, 784) images of 28×28×1 → y of shape (N, 100)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .base import LinearOperator, Operator
from .validation import check_positive_int


def _flatten(x):
    return tf.reshape(x, [tf.shape(x)[0], -1])


@keras.saving.register_keras_serializable(package="measurements")
class GaussianProjection(LinearOperator):
    """``y = A vec(x)`` with ``A ∈ R^{m×n}`` of i.i.d. ``N(0, 1/m)`` entries [CSGM ``gaussian``].

    With entries of variance ``1/m``, ``E‖A v‖² = ‖v‖²``: measurements keep the scale of the image.
    (The original CSGM code used unscaled ``N(0, 1)`` entries and redrew ``A`` per batch; with
    ``noise=GaussianNoise(σ)`` here that is ``A/√m`` and noise ``σ/√m`` of the original.)

    Args:
        num_measurements: ``m`` (>= 1).
        seed: seed of the matrix (and of the generator drawing noise and resampled matrices).
        resample: draw a new matrix per example (θ = ``{"matrix": (N, m, n)}``) instead of one
            fixed matrix stored as a (non-trainable) weight.
        **kwargs: ``noise``, ``image_shape`` and Layer arguments (see ``Operator``).

    Measurement shape: ``(m,)``. The image shape is fixed when the operator is built.
    """

    fixed_image_shape = True
    trainable_matrix = False

    def __init__(self, num_measurements, seed=None, resample=False, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.num_measurements = check_positive_int(num_measurements, type(self).__name__, "num_measurements")
        self.resample = bool(resample)
        if self.resample:
            self.theta_keys = ("matrix",)

    def measurement_shape(self, image_shape):
        return (self.num_measurements,)

    def build_weights(self, image_shape):
        if self.resample:
            return
        n = int(np.prod(image_shape))
        self.kernel = self.add_weight(
            name="kernel",
            shape=(n, self.num_measurements),  # stored transposed: y = vec(x) @ kernel
            initializer=keras.initializers.RandomNormal(
                stddev=1.0 / np.sqrt(self.num_measurements), seed=self.seed),
            trainable=self.trainable_matrix,
        )

    def matrix(self, theta=None):
        """``A`` as ``(m, n)`` (fixed) or ``(N, m, n)`` (resampled, from θ)."""
        self.ensure_built()
        if self.resample:
            return theta["matrix"]
        return tf.transpose(self.kernel)

    def draw_theta(self, batch_size, seed, image_shape):
        n = int(np.prod(image_shape))
        m = self.num_measurements
        a = tf.random.stateless_normal([batch_size, m, n], seed=seed, stddev=1.0 / np.sqrt(m))
        return {"matrix": a}

    def forward(self, x, theta):
        self.ensure_built(x.shape[1:])
        v = _flatten(x)
        if self.resample:
            return tf.einsum("bmn,bn->bm", tf.cast(theta["matrix"], x.dtype), v)
        return tf.matmul(v, tf.cast(self.kernel, x.dtype))

    def adjoint(self, y, theta=None):
        theta = self._theta_for(theta, "adjoint")
        self.ensure_built()
        shape = self.image_shape
        if self.resample:
            v = tf.einsum("bmn,bm->bn", tf.cast(theta["matrix"], y.dtype), y)
        else:
            v = tf.matmul(y, tf.cast(self.kernel, y.dtype), transpose_b=True)
        return tf.reshape(v, [-1, *shape])

    def pseudo_inverse(self, y, theta=None, **unused):
        theta = self._theta_for(theta, "pseudo_inverse")
        shape = self._resolve_image_shape(None)
        a = tf.cast(self.matrix(theta), y.dtype)
        pinv = tf.linalg.pinv(a)  # (n, m) or (N, n, m), by SVD: exact for any rank
        if self.resample:
            v = tf.einsum("bnm,bm->bn", pinv, y)
        else:
            v = tf.matmul(y, pinv, transpose_b=True)
        return tf.reshape(v, [-1, *shape])

    def get_config(self):
        config = super().get_config()
        config.update(num_measurements=self.num_measurements, resample=self.resample)
        return config


@keras.saving.register_keras_serializable(package="measurements")
class LearnedLinear(GaussianProjection):
    """A trainable linear measurement ``y = F vec(x)`` (Deep Compressed Sensing "LINEAR(L)").

    Initialised like :class:`GaussianProjection` (i.i.d. ``N(0, 1/m)``) and trained with the
    generator. Measurement shape ``(m,)``.
    """

    trainable_matrix = True

    def __init__(self, num_measurements, seed=None, **kwargs):
        kwargs.pop("resample", None)
        super().__init__(num_measurements, seed=seed, resample=False, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("resample", None)
        return config


@keras.saving.register_keras_serializable(package="measurements")
class LearnedNetwork(Operator):
    """A trainable non-linear measurement: an MLP on ``vec(x)`` (Deep Compressed Sensing "NN(L)").

    Layers ``hidden`` (default 500-500) with leaky ReLU (slope 0.2), then a linear layer to ``m``
    outputs; weights start truncated-normal with std ``1/√fan_in`` as in the original Sonnet nets.

    Args:
        num_measurements: ``m`` (>= 1).
        hidden: sizes of the hidden layers.
        seed: seed of the initial weights.
    """

    fixed_image_shape = True

    def __init__(self, num_measurements, hidden=(500, 500), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.num_measurements = check_positive_int(num_measurements, "LearnedNetwork", "num_measurements")
        self.hidden = tuple(check_positive_int(h, "LearnedNetwork", "hidden size") for h in hidden)

    def measurement_shape(self, image_shape):
        return (self.num_measurements,)

    def build_weights(self, image_shape):
        sizes = (*self.hidden, self.num_measurements)
        self.dense_layers = []
        fan_in = int(np.prod(image_shape))
        for i, size in enumerate(sizes):
            layer = keras.layers.Dense(
                size,
                kernel_initializer=keras.initializers.LecunNormal(
                    seed=None if self.seed is None else self.seed + i),
                dtype=self.dtype_policy,
                name=f"dense_{i}",
            )
            layer.build((None, fan_in))
            self.dense_layers.append(layer)
            fan_in = size

    def forward(self, x, theta):
        self.ensure_built(x.shape[1:])
        h = _flatten(x)
        for layer in self.dense_layers[:-1]:
            h = tf.nn.leaky_relu(layer(h), alpha=0.2)
        return self.dense_layers[-1](h)

    def get_config(self):
        config = super().get_config()
        config.update(num_measurements=self.num_measurements, hidden=list(self.hidden))
        return config
