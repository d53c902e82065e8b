"""Reconstructors: ``reconstruct(y, theta=None) -> Reconstruction`` and ``reconstruct_file(path, out_dir)`` for
every method. They take a generator ``z → x`` (CSGM, the learned fast path) or a denoiser (posterior sampling),
never a trainer class."""

from .base import LatentReconstructor, Reconstructor
from .baselines import OMP, ClassicalInverse, Lasso, LeastSquares
from .csgm import CSGM
from .learned import LearnedLatentReconstructor
from .posterior import PosteriorSampling
from .result import Reconstruction, check_reconstruction_inputs, measurement_error

__all__ = ["Reconstruction", "Reconstructor", "LatentReconstructor", "CSGM", "LearnedLatentReconstructor",
           "PosteriorSampling", "Lasso", "OMP", "LeastSquares", "ClassicalInverse", "measurement_error",
           "check_reconstruction_inputs"]
