"""A Gaussian prior and a linear Gaussian measurement with known closed forms, for the sampling tests.

A Gaussian prior N(μ, Σ) has the exact denoiser μ + Σ(Σ + σ²I)⁻¹(x − μ), and with a linear Gaussian
measurement its posterior is Gaussian with precision Σ⁻¹ + AᵀA/σ_y².
"""

import numpy as np
import tensorflow as tf

import measurements as M
from ambient_dcs.sampling import GaussianPrior

SHAPE = (4, 4, 1)
DIM = 16


def gaussian(seed=0):
    rng = np.random.default_rng(seed)
    root = rng.standard_normal((DIM, DIM)) * 0.025  # marginal stds ≈ 0.1: samples stay inside [0, 1]
    return GaussianPrior(0.5 + 0.05 * rng.standard_normal(DIM), root @ root.T + 0.005 * np.eye(DIM), SHAPE)


def linear_problem(noise=0.05, m=6):
    op = M.GaussianProjection(m, seed=3, noise=M.GaussianNoise(noise, seed=4))
    op.ensure_built(SHAPE)
    a = np.asarray(op.forward(tf.eye(DIM, dtype=tf.float32).numpy().reshape(DIM, *SHAPE), {})).T  # (m, DIM)
    return op, a.astype(np.float64)
