"""ambient_dcs: learn generative priors from lossy measurements and reconstruct signals with them.

AmbientGAN (Bora et al. 2018) learns a prior from measurements only; CSGM (Bora et al. 2017) and
Deep Compressed Sensing (Wu et al. 2019) reconstruct with it. Every piece uses the operators of
:mod:`measurements`.

Example:
    >>> import ambient_dcs as ad, measurements as M
    >>> op = M.PixelDrop(0.8, noise=M.GaussianNoise(0.1))
    >>> y, theta = ad.measure_dataset(op, ad.load_dataset("mnist-embedded", "train"), seed=0)
    >>> prior = ad.train_prior({"y": y, "theta": theta}, op, (28, 28, 1), ad.PriorConfig(steps=2000), "runs/p")
    >>> rec = ad.CSGM(prior.generator, op, steps=300, restarts=3).reconstruct(y[:10], {k: v[:10] for k, v in theta.items()})
    >>> rec.x.shape                                         # (10, 28, 28, 1)

Layout (one subpackage per concept, imports pointing down): :mod:`~ambient_dcs.experiments` (the
main job and the papers' experiments) → :mod:`~ambient_dcs.priors` (train a prior into a folder,
reuse it) → :mod:`~ambient_dcs.training` (:func:`train`, callbacks, distribution) →
:mod:`~ambient_dcs.models` (trainers on one contract, :class:`GenerativeTrainer`) →
:mod:`~ambient_dcs.networks`, :mod:`~ambient_dcs.latent`, :mod:`~ambient_dcs.sampling`;
:mod:`~ambient_dcs.reconstruction` takes a generator or a denoiser; :mod:`~ambient_dcs.data`,
:mod:`~ambient_dcs.metrics` and :mod:`~ambient_dcs.reporting` beside them; all on the operators of
:mod:`measurements`. :mod:`~ambient_dcs.experiments` and :mod:`~ambient_dcs.testing` load on first use.
"""

import importlib

from . import data, latent, metrics, models, networks, priors, reconstruction, reporting, sampling, training
from .data import (hide_labels, load_dataset, load_measurements, measure_dataset, open_measurements, save_measurements,
                   unmeasure_dataset)
from .metrics import (classifier_scores, frechet_distance, inception_score, mnist_classifier, per_image_l2_error,
                      per_image_squared_error, per_pixel_mse, posterior_coverage, psnr, reconstruction_summary, ssim,
                      summarize)
from .models import (CSGAN, CSSGAN, VAE, AmbientDiffusion, AmbientGAN, AmbientGANWithInversion, DeepCompressedSensing,
                     DiffusionEM, DiffusionPrior, GenerativeTrainer, mnist_vae_prior)
from .priors import (DiffusionConfig, PriorConfig, TrainedDiffusionPrior, TrainedPrior, load_prior,
                     train_diffusion_prior, train_prior)
from .reconstruction import (CSGM, OMP, ClassicalInverse, Lasso, LearnedLatentReconstructor, LeastSquares,
                             PosteriorSampling, Reconstruction)
from .sampling import GaussianPrior
from .training import TrainingDiverged, make_strategy, set_precision, train

__version__ = "0.2.0"

__all__ = [
    # trainers and training
    "GenerativeTrainer", "AmbientGAN", "AmbientGANWithInversion", "VAE", "DeepCompressedSensing", "CSGAN", "CSSGAN",
    "DiffusionPrior", "AmbientDiffusion", "DiffusionEM", "GaussianPrior",
    "train", "TrainingDiverged", "train_prior", "PriorConfig", "TrainedPrior", "load_prior", "mnist_vae_prior",
    "train_diffusion_prior", "DiffusionConfig", "TrainedDiffusionPrior", "make_strategy", "set_precision",
    # reconstruction
    "Reconstruction", "CSGM", "LearnedLatentReconstructor", "PosteriorSampling", "Lasso", "OMP", "LeastSquares", "ClassicalInverse",
    # data
    "load_dataset", "load_measurements", "open_measurements", "save_measurements", "measure_dataset",
    "unmeasure_dataset", "hide_labels",
    # metrics
    "per_image_squared_error", "per_image_l2_error", "posterior_coverage", "per_pixel_mse", "psnr", "ssim", "summarize", "reconstruction_summary",
    "inception_score", "frechet_distance", "mnist_classifier", "classifier_scores",
    # subpackages
    "models", "networks", "sampling", "reconstruction", "data", "training", "metrics", "priors", "reporting",
    "latent", "experiments", "testing",
]

_LAZY = ("experiments", "testing")


def __getattr__(name):
    # The experiments and the test helpers are loaded on first use: `import ambient_dcs` stays lean.
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ambient_dcs' has no attribute {name!r}")
