"""Checks for people who write operators: the dot test and the pseudo-inverse test.

Example:
    >>> from measurements.testing import check_adjoint
    >>> check_adjoint(GaussianBlur(sigma=1.0), image_shape=(28, 28, 1)) < 1e-6
    True
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _setup(op, image_shape, batch_size, seed, dtype):
    if not op.is_linear:
        raise ValueError(f"{type(op).__name__} is not linear: it has no adjoint to check.")
    shape = op._resolve_image_shape(image_shape)
    op.ensure_built(shape)
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal((batch_size, *shape)), dtype=dtype)
    theta = op.sample_theta(batch_size, seed=seed, image_shape=shape)
    return x, theta, rng


def check_adjoint(op, image_shape=None, batch_size=2, seed=0, dtype="float64", adjoint=None):
    """Dot test ``⟨A u, v⟩ = ⟨u, Aᵀ v⟩`` with random ``u``, ``v`` and a drawn θ.

    Args:
        op: a linear operator (``op.is_linear``).
        image_shape: ``(H, W, C)``; defaults to the operator's.
        batch_size: examples per test (θ differs per example).
        seed: seed of ``u``, ``v`` and θ.
        dtype: ``"float64"`` (default) makes round-off negligible, so the error measures the
            adjoint itself; ``"float32"`` errors are around 1e-7 · the size of the sums.
        adjoint: the adjoint to check, ``adjoint(y, theta)``; default ``op.adjoint``.

    Returns:
        The relative error ``|⟨Au, v⟩ − ⟨u, Aᵀv⟩| / max(|⟨Au, v⟩|, |⟨u, Aᵀv⟩|)`` (a float).
    """
    u, theta, rng = _setup(op, image_shape, batch_size, seed, dtype)
    au = op.forward(u, theta)
    v = tf.constant(rng.standard_normal(au.shape), dtype=au.dtype)
    atv = (adjoint or op.adjoint)(v, theta)
    lhs = float(tf.reduce_sum(au * v))
    rhs = float(tf.reduce_sum(u * tf.cast(atv, u.dtype)))
    scale = max(abs(lhs), abs(rhs), np.finfo(float).tiny)
    return abs(lhs - rhs) / scale


def check_pseudo_inverse(op, image_shape=None, batch_size=2, seed=0, dtype="float64"):
    """Checks ``A⁺`` on the range of ``Aᵀ``: for ``r = Aᵀ A u``, ``A⁺ A r`` must give back ``r``.

    Any ``r`` in the range of ``Aᵀ`` (the row space) is recovered exactly by the pseudo-inverse
    (``A⁺ A`` is the projection onto it). Returns ``‖A⁺ A r − r‖ / ‖r‖``.
    """
    u, theta, _ = _setup(op, image_shape, batch_size, seed, dtype)
    r = op.adjoint(op.forward(u, theta), theta)
    r_hat = op.pseudo_inverse(op.forward(r, theta), theta)
    return float(tf.norm(tf.cast(r_hat, r.dtype) - r) / tf.maximum(tf.norm(r), 1e-300))
