"""Operators written by users, as the README's "Your own operator" describes, work end to end."""

import numpy as np
import tensorflow as tf

import measurements as M
from ambient_dcs.networks import mlp_generator
from ambient_dcs.reconstruction import CSGM


class AbsProjection(M.Operator):
    """``y = |A vec(x)|`` with a fixed 64 × 784 matrix: non-linear, not image-shaped, only ``forward``."""

    def __init__(self, num_measurements=64, **kwargs):
        super().__init__(**kwargs)
        self.a = np.random.default_rng(0).standard_normal((num_measurements, 784)).astype("float32") / 28

    def forward(self, x, theta):
        return tf.abs(tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), tf.cast(self.a.T, x.dtype)))


def test_csgm_with_a_forward_only_operator_whose_measurements_are_vectors():
    generator = mlp_generator(latent_dim=8, image_shape=(28, 28, 1), hidden=(16,), seed=0)
    op = AbsProjection()
    x = generator(np.random.default_rng(1).standard_normal((4, 8)).astype("float32"))
    y = op(x)
    assert tuple(y.shape) == (4, 64)
    rec = CSGM(generator, op, steps=5, restarts=2).reconstruct(y)
    assert rec.x.shape == (4, 28, 28, 1) and rec.restart_errors.shape == (4, 2)
    assert np.all(np.isfinite(rec.x)) and np.all(np.isfinite(rec.measurement_error))
