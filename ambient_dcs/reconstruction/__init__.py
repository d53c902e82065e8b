"""Reconstructors: ``reconstruct(y, theta=None) -> Reconstruction`` and ``reconstruct_file(path, out_dir)`` for every method."""

from .base import Reconstruction, Reconstructor, check_reconstruction_inputs, measurement_error
from .baselines import OMP, ClassicalInverse, Lasso, LeastSquares
from .csgm import CSGM
from .learned import LearnedLatentReconstructor
from .posterior import PosteriorSampling

__all__ = ["Reconstruction", "Reconstructor", "CSGM", "LearnedLatentReconstructor", "PosteriorSampling", "Lasso", "OMP",
           "LeastSquares", "ClassicalInverse", "measurement_error", "check_reconstruction_inputs"]
