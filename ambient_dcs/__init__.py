"""ambient_dcs: learn generative priors from lossy measurements (AmbientGAN) and reconstruct signals with them (CSGM, Deep Compressed Sensing)."""

__version__ = "0.1.0"
