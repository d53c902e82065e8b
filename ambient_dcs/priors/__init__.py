"""Priors trained into a folder and reused: GAN priors (:mod:`~ambient_dcs.priors.gan`), diffusion priors
(:mod:`~ambient_dcs.priors.diffusion`), and the store both use (:mod:`~ambient_dcs.priors.store`)."""

from .diffusion import FAMILIES, DiffusionConfig, TrainedDiffusionPrior, family_of, train_diffusion_prior
from .gan import PriorConfig, TrainedPrior, build_networks, build_trainer, compile_trainer, load_prior, train_prior
from .store import PriorExistsError, PriorFolder, check_prior_target, prior_settings, train_run, training_dataset

__all__ = ["PriorConfig", "TrainedPrior", "train_prior", "load_prior", "build_networks", "build_trainer",
           "compile_trainer", "DiffusionConfig", "TrainedDiffusionPrior",
           "train_diffusion_prior", "family_of", "FAMILIES", "PriorExistsError", "PriorFolder", "check_prior_target",
           "prior_settings", "training_dataset", "train_run"]
