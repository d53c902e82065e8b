"""The trainers: AmbientGAN (+ learned inversion), VAE, Deep Compressed Sensing, CS-GAN, CS-SGAN,
diffusion priors (clean-data oracle, Ambient Diffusion, EM with posterior sampling), and pretrained priors."""

from .ambientgan import LATENT_DISTRIBUTIONS, LOSSES, MODES, AmbientGAN
from .base import GenerativeTrainer
from .csgan import CSGAN, CSSGAN
from .dcs import UPDATES, DeepCompressedSensing, calibrate_measurement, distance_scale, rip_loss
from .diffusion import AmbientDiffusion, DiffusionPrior
from .diffusion_em import DiffusionEM
from .inversion import AmbientGANWithInversion
from .pretrained import mnist_vae_prior, train_mnist_vae
from .vae import VAE

__all__ = ["GenerativeTrainer", "AmbientGAN", "AmbientGANWithInversion", "VAE", "DeepCompressedSensing", "CSGAN",
           "CSSGAN", "DiffusionPrior", "AmbientDiffusion", "DiffusionEM", "rip_loss", "distance_scale",
           "calibrate_measurement", "mnist_vae_prior", "train_mnist_vae", "MODES", "LOSSES", "LATENT_DISTRIBUTIONS",
           "UPDATES"]
