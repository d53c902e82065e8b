r"""EDM's σ-parametrisation: the preconditioning, the noise levels and the samplers.

Karras et al., "Elucidating the design space of diffusion-based generative models", NeurIPS 2022
(``NVlabs/edm``: ``training/networks.py`` ``EDMPrecond``, ``generate.py`` ``edm_sampler``). A noisy
image is ``x_σ = x + σ·n``, ``n ~ N(0, I)``, with ``x`` in [0, 1], so σ is in pixel units — the unit
of an operator's Gaussian noise. A denoiser ``D(x_σ; σ) ≈ E[x | x_σ]`` is a network ``F`` with

.. math::

    D(x_σ; σ) = ½ + c_{skip}(σ)\,(x_σ − ½) + c_{out}(σ)\,F\big(c_{in}(σ)\,(x_σ − ½),\ c_{noise}(σ)\big),

    c_{skip} = σ_d² / (σ² + σ_d²),\quad c_{out} = σ σ_d / \sqrt{σ² + σ_d²},\quad
    c_{in} = 1 / \sqrt{σ² + σ_d²},\quad c_{noise} = \ln(σ) / 4,

σ_d the data's scale around the centre ½ (:data:`DATA_CENTRE`). Sampling runs from σ_max to 0 on
the grid ``σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ`` (ρ = 7): ``"heun"``
integrates the probability-flow ODE ``dx/dσ = (x − D(x; σ))/σ`` with Heun's method (EDM Algorithm 1);
``"stochastic"`` first raises each σ to ``σ(1 + γ)`` with fresh noise (EDM Algorithm 2, "churn").

Everything here takes a denoiser *function* ``(x, σ) → D``: a trained diffusion prior's, a Gaussian's
exact one (:mod:`~ambient_dcs.sampling.gaussian`) or a posterior one (:mod:`~ambient_dcs.sampling.guidance`).

Example:
    >>> sigmas = noise_levels(18, 0.002, 40.0)                       # 19 floats, the last 0
    >>> start, noise = sampler_noise(np.random.default_rng(0), (16, 28, 28, 1), sigmas, steps=18)
    >>> x = run_sampler(prior.denoise, tf.constant(start), sigmas, "stochastic", tf.constant(noise))
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from measurements.validation import check_positive_int

__all__ = ["SAMPLERS", "DATA_CENTRE", "edm_scalings", "noise_levels", "per_example", "sampler_start",
           "sampler_noise", "run_sampler"]

SAMPLERS = ("heun", "stochastic")

#: The centre of images in [0, 1]: the preconditioning works on ``x − ½`` and sampling starts at ½.
DATA_CENTRE = 0.5


def edm_scalings(sigma, sigma_data):
    """``(c_skip, c_out, c_in, c_noise)`` of EDM's preconditioning for noise levels ``sigma`` (a tensor)."""
    s2, d2 = tf.square(sigma), sigma_data ** 2
    return d2 / (s2 + d2), sigma * sigma_data / tf.sqrt(s2 + d2), 1.0 / tf.sqrt(s2 + d2), tf.math.log(sigma) / 4.0


def noise_levels(steps, sigma_min, sigma_max, rho=7.0):
    """EDM's grid of ``steps`` noise levels from ``sigma_max`` down to ``sigma_min``, then 0.

    Returns:
        ``steps + 1`` float32 values (a NumPy array).
    """
    steps = check_positive_int(steps, "noise_levels", "steps")
    i = np.arange(steps) / max(steps - 1, 1)
    sigmas = (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return np.append(sigmas, 0.0).astype(np.float32)


def per_example(value, n):
    """A scalar or ``(N,)`` noise level as ``(N, 1, 1, 1)`` float32 (broadcast over an image batch)."""
    value = tf.convert_to_tensor(value, tf.float32)
    return tf.reshape(tf.broadcast_to(value, [n]) if value.shape.rank == 0 else value, [-1, 1, 1, 1])


def sampler_start(normals, sigma_max):
    """Where a sampler starts: ``½ + σ_max · n`` for standard normals ``n`` (NumPy or TF, any shape)."""
    return DATA_CENTRE + sigma_max * normals


def sampler_noise(rng, shape, sigmas, steps):
    """A sampler's random inputs drawn from a NumPy ``Generator``, in this order: the start
    (:func:`sampler_start` at ``sigmas[0]``, shape ``shape``) and ``steps`` arrays of standard normals
    for the stochastic steps (``(steps, *shape)``), both float32.

    Drawn by the caller in image order, so the draws of an image do not depend on the batching.
    """
    start = sampler_start(rng.standard_normal(shape).astype(np.float32), sigmas[0])
    return start, rng.standard_normal((steps, *shape)).astype(np.float32)


def run_sampler(denoise, x, sigmas, sampler="heun", noise=None, churn=0.4):
    """Runs a sampler from ``x`` (noisy at ``sigmas[0]``) down the grid ``sigmas``.

    Args:
        denoise: ``(x, σ) → E[x₀ | x]`` for a scalar σ (a tensor).
        x: ``(N, H, W, C)`` at noise level ``sigmas[0]``.
        sigmas: the grid (:func:`noise_levels`), a sequence of floats ending in 0.
        sampler: ``"heun"`` (EDM Algorithm 1, deterministic) or ``"stochastic"`` (EDM Algorithm 2:
            noise is added to raise σ to ``σ(1 + γ)`` before each Heun step, γ = ``churn``).
        noise: for ``"stochastic"``: a tensor ``(len(sigmas) − 1, N, H, W, C)`` of standard normals
            (drawn by the caller, so that the draw does not depend on the batching).
        churn: γ of the stochastic sampler (at most √2 − 1, EDM's cap).

    Returns:
        The samples ``(N, H, W, C)``.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"run_sampler: expected sampler in {list(SAMPLERS)}; received {sampler!r}.")
    gamma = min(float(churn), math.sqrt(2.0) - 1.0) if sampler == "stochastic" else 0.0
    sigmas = tf.constant(np.asarray(sigmas, np.float32))
    if noise is None:
        noise = tf.zeros((1,), x.dtype)

    def step(i, x):
        s, s_next = sigmas[i], sigmas[i + 1]
        if gamma > 0:  # churn: add noise from σ up to σ̂ = σ(1 + γ)
            s_hat = s * (1.0 + gamma)
            x = x + tf.sqrt(s_hat**2 - s**2) * noise[i]
            s = s_hat
        slope = (x - denoise(x, s)) / s
        x_euler = x + (s_next - s) * slope
        slope_next = (x_euler - denoise(x_euler, s_next)) / s_next
        return i + 1, x + (s_next - s) * 0.5 * (slope + slope_next)

    # An explicit while loop: one graph node however many steps, also where AutoGraph does not
    # convert the caller (a branch of tf.cond).
    _, x = tf.while_loop(lambda i, x: i < tf.shape(sigmas)[0] - 2, step, [tf.constant(0), x])
    return denoise(x, sigmas[-2])  # the last step, to σ = 0: the denoised estimate
