"""Diffusion sampling: EDM's preconditioning and noise levels, the samplers, MMPS / DPS guidance,
and the exact denoiser of a Gaussian prior. Everything takes a denoiser function ``(x, σ) → D``."""

from .edm import (DATA_CENTRE, SAMPLERS, edm_scalings, noise_levels, per_example, run_sampler, sampler_noise,
                  sampler_start)
from .gaussian import GaussianPrior, gaussian_denoise
from .guidance import conjugate_gradient, dps_denoiser, mmps_denoiser

__all__ = ["SAMPLERS", "DATA_CENTRE", "edm_scalings", "noise_levels", "per_example", "sampler_start",
           "sampler_noise", "run_sampler", "GaussianPrior", "gaussian_denoise", "conjugate_gradient",
           "mmps_denoiser", "dps_denoiser"]
