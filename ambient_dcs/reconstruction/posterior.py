r"""Posterior sampling with a diffusion prior: K samples of ``p(x | y)`` per measurement, their mean and std.

A diffusion prior gives ``D(x_σ; σ) = E[x | x_σ]``. To sample ``p(x | y)`` for ``y = A x + η``,
``η ~ N(0, σ_y² I)``, the sampler runs with a *posterior* denoiser ``E[x | x_σ, y]`` instead:

* ``"mmps"`` — moment matching (Rozet et al., NeurIPS 2024, arXiv 2405.13712;
  ``francois-rozet/diffusion-priors``): ``x | x_σ`` is taken Gaussian with Tweedie's mean ``D`` and
  covariance ``V = σ² ∂D/∂x_σ``, which gives

  .. math::

      E[x | x_σ, y] = D + V A^⊤ (σ_y² I + A V A^⊤)^{-1} (y − A D),

  the linear system solved by a few conjugate-gradient iterations through the operator's
  ``forward`` / ``adjoint`` and vector–Jacobian products of the denoiser (``V`` is symmetric for a
  denoiser that is a gradient field). Exact when the prior is Gaussian
  (:class:`~ambient_dcs.sampling.GaussianPrior`).
* ``"dps"`` — diffusion posterior sampling (Chung et al., ICLR 2023): ``D − ζ ∇_{x_σ} ‖y − A D(x_σ)‖``.

The per-pixel ``std`` of the K samples is the posterior uncertainty; CSGM's restarts give the same
fields (an ensemble of local optima, not a posterior), so every prior reports uncertainty.

Example:
    >>> rec = PosteriorSampling(prior, op, samples=8, method="mmps").reconstruct(y, theta)
    >>> rec.x, rec.samples.shape, rec.std      # posterior mean, (N, 8, H, W, C), per-pixel std
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
import tensorflow as tf

import measurements
from measurements.validation import check_positive_int

from ..sampling.edm import SAMPLERS, noise_levels, run_sampler, sampler_noise
from ..sampling.guidance import dps_denoiser, mmps_denoiser
from .base import Reconstructor
from .result import Reconstruction, measurement_error

__all__ = ["PosteriorSampling", "METHODS"]

METHODS = ("mmps", "dps")


class PosteriorSampling(Reconstructor):
    """Reconstructs by sampling the posterior of a diffusion prior: ``K`` samples per measurement.

    Args:
        prior: a denoiser prior: anything with ``denoiser(n, seed) → (x, σ) → D``, ``image_shape``,
            ``sigma_min`` and ``sigma_max`` — a trained :class:`~ambient_dcs.models.DiffusionPrior`,
            :class:`~ambient_dcs.models.AmbientDiffusion` or :class:`~ambient_dcs.models.DiffusionEM`
            (or the path of one saved with ``model.save``), or a :class:`~ambient_dcs.sampling.GaussianPrior`.
        operator: the measurement operator, linear (its Gaussian noise, if any, is the likelihood's).
        samples: ``K`` posterior samples per measurement.
        method: ``"mmps"`` or ``"dps"``.
        steps: noise levels of the sampler.
        sampler: ``"stochastic"`` (EDM's churn) or ``"heun"`` (deterministic given the start).
        cg_iterations: conjugate-gradient iterations per step (MMPS).
        dps_scale: ζ of DPS.
        min_noise_var: σ_y² used for noise-free operators (keeps the MMPS system well posed).
        batch_size: measurements per graph call (× ``samples`` rows).
        seed: seed of the starting noise, the stochastic steps and the priors' masks; image ``i``
            gets the same draws whatever the batching.

    Returns (``reconstruct``): a :class:`~ambient_dcs.reconstruction.Reconstruction` with ``x`` the
    posterior mean, ``samples`` ``(N, K, H, W, C)`` and ``std`` per pixel (clipped to [0, 1]).
    """

    def __init__(self, prior, operator, samples=8, method="mmps", steps=32, sampler="stochastic", cg_iterations=5,
                 dps_scale=1.0, min_noise_var=1e-4, batch_size=64, seed=0):
        if isinstance(prior, (str, pathlib.Path)):
            prior = keras.saving.load_model(prior)
        if not hasattr(prior, "denoiser") or not hasattr(prior, "image_shape"):
            raise ValueError(f"PosteriorSampling: expected a diffusion prior (DiffusionPrior, AmbientDiffusion, "
                             f"GaussianPrior or the path of a saved one); received {type(prior).__name__}.")
        if not operator.is_linear:
            raise ValueError(f"PosteriorSampling: needs a linear operator; {type(operator).__name__} is not.")
        if method not in METHODS:
            raise ValueError(f"PosteriorSampling: expected method in {list(METHODS)}; received {method!r}.")
        if sampler not in SAMPLERS:
            raise ValueError(f"PosteriorSampling: expected sampler in {list(SAMPLERS)}; received {sampler!r}.")
        self.samples, self.steps, self.cg_iterations, self.batch_size = (
            check_positive_int(value, "PosteriorSampling", name) for name, value in (
                ("samples", samples), ("steps", steps), ("cg_iterations", cg_iterations), ("batch_size", batch_size)))
        self.prior, self.operator, self.method, self.sampler = prior, operator, method, sampler
        self.dps_scale, self.seed = float(dps_scale), seed
        self.image_shape = tuple(prior.image_shape)
        operator.ensure_built(self.image_shape)
        self.noise_var = max(measurements.noise_std_of(operator) ** 2, float(min_noise_var))
        self.sigmas = noise_levels(self.steps, prior.sigma_min, prior.sigma_max)
        self._graph = tf.function(self._sample_rows, reduce_retracing=True)

    def _begin(self, n):
        return {"rng": np.random.default_rng(self.seed)}

    def _sample_rows(self, start, noise, y, theta, mask_seed):
        denoise = self.prior.denoiser(tf.shape(start)[0], seed=mask_seed)
        if self.method == "mmps":
            guided = mmps_denoiser(denoise, self.operator, y, theta, self.noise_var, self.cg_iterations)
        else:
            guided = dps_denoiser(denoise, self.operator, y, theta, self.dps_scale)
        return run_sampler(guided, start, self.sigmas, self.sampler, noise)

    def _reconstruct_batch(self, y, theta, state):
        b, k = int(y.shape[0]), self.samples
        rng = state["rng"]
        start, noise = sampler_noise(rng, (b, k, *self.image_shape), self.sigmas, self.steps)
        mask_seed = tf.constant(rng.integers(2**31, size=2), tf.int64)
        rows = b * k
        repeat = lambda t: tf.repeat(t, k, axis=0)  # noqa: E731 (image-major rows: image i's K samples together)
        x = self._graph(tf.constant(start.reshape(rows, *self.image_shape)),
                        tf.constant(noise.reshape(self.steps, rows, *self.image_shape)), repeat(y),
                        {key: repeat(v) for key, v in theta.items()}, mask_seed)
        samples = np.clip(np.asarray(x), 0.0, 1.0).reshape(b, k, *self.image_shape)
        mean = samples.mean(axis=1)
        return Reconstruction(x=mean, measurement_error=measurement_error(self.operator, mean, y, theta),
                              samples=samples, std=samples.std(axis=1), steps=self.steps)
