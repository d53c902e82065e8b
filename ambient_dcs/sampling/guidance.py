r"""Posterior guidance of a denoiser: ``(x, σ) → E[x₀ | x, y]`` from a prior's ``(x, σ) → E[x₀ | x]``
and a linear measurement ``y = A x + η``, ``η ~ N(0, σ_y² I)`` — shared by posterior sampling
(:class:`ambient_dcs.reconstruction.PosteriorSampling`) and the E-step of
:class:`ambient_dcs.models.DiffusionEM`; it takes a denoiser function and imports neither.

* :func:`mmps_denoiser` — moment matching (Rozet et al., NeurIPS 2024, arXiv 2405.13712):
  ``E[x | x_σ, y] = D + V Aᵀ (σ_y² I + A V Aᵀ)⁻¹ (y − A D)`` with Tweedie's covariance
  ``V = σ² ∂D/∂x_σ``, the system solved by :func:`conjugate_gradient` through the operator's
  ``forward`` / ``adjoint`` and vector–Jacobian products of the denoiser.
* :func:`dps_denoiser` — diffusion posterior sampling (Chung et al., ICLR 2023).

Example:
    >>> guided = mmps_denoiser(prior.denoise, op, y, theta, noise_var=0.25, cg_iterations=3)
    >>> x0 = guided(x_sigma, tf.constant(0.5))             # (N, H, W, C)
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["conjugate_gradient", "mmps_denoiser", "dps_denoiser"]


def _rows_dot(a, b):
    return tf.reduce_sum(a * b, axis=tf.range(1, tf.rank(a)), keepdims=True)


def conjugate_gradient(matvec, b, iterations):
    """``iterations`` conjugate-gradient steps on ``matvec(u) = b`` for every row of ``b`` at once
    (a symmetric positive-definite system per row), from ``u = 0``.

    A row stops where the system shows no positive curvature along its search direction (a learned
    denoiser's Jacobian is only approximately symmetric positive semi-definite): it keeps its last
    iterate instead of diverging.
    """
    u, r = tf.zeros_like(b), b
    p, rs = r, _rows_dot(r, r)
    for _ in range(int(iterations)):
        ap = matvec(p)
        curvature = _rows_dot(p, ap)
        go = (curvature > 0) & (rs > 0)
        alpha = tf.where(go, rs / tf.where(go, curvature, 1.0), 0.0)
        u, r = u + alpha * p, r - alpha * ap
        rs_next = _rows_dot(r, r)
        p, rs = r + tf.where(go, rs_next / tf.where(go, rs, 1.0), 0.0) * p, tf.where(go, rs_next, 0.0)
    return u


def mmps_denoiser(denoise, operator, y, theta, noise_var, cg_iterations=5):
    """The moment-matching posterior denoiser ``(x, σ) → E[x₀ | x, y]`` (see the module docstring).

    Args:
        denoise: the prior's ``(x, σ) → E[x₀ | x]``.
        operator: a linear operator (``forward`` / ``adjoint``).
        y, theta: the measurements of each row and their θ.
        noise_var: σ_y² of the measurement noise (a small positive number for noise-free data).
        cg_iterations: conjugate-gradient iterations per evaluation.
    """

    def posterior(x, sigma):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            d = denoise(x, sigma)

        def covariance(v):  # V v = σ² J v (J symmetric: a vector–Jacobian product)
            return tf.square(sigma) * tape.gradient(d, x, output_gradients=v)

        residual = y - operator.forward(d, theta)
        u = conjugate_gradient(lambda v: noise_var * v + operator.forward(covariance(operator.adjoint(v, theta)), theta),
                               residual, cg_iterations)
        return d + covariance(operator.adjoint(u, theta))

    return posterior


def dps_denoiser(denoise, operator, y, theta, scale=1.0):
    """DPS's guided denoiser ``(x, σ) → D − ζ ∇_x ‖y − A D(x)‖`` (ζ = ``scale``)."""

    def posterior(x, sigma):
        with tf.GradientTape() as tape:
            tape.watch(x)
            d = denoise(x, sigma)
            residual = y - operator.forward(d, theta)
            norm = tf.sqrt(tf.reduce_sum(tf.reshape(tf.square(residual), [tf.shape(x)[0], -1]), axis=1) + 1e-12)
        return tf.stop_gradient(d) - scale * tape.gradient(norm, x)

    return posterior
