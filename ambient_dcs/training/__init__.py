"""Training: the loop for any trainer, callbacks (resume, sample grids, divergence guard), distribution,
and the prior-training helper of the recipes."""

from .callbacks import (DivergenceGuard, SampleGrid, ScoreCurve, StepBackupAndRestore, TrainingDiverged,
                        standard_callbacks)
from .distribute import make_strategy, set_precision
from .fit import train

__all__ = ["train", "make_strategy", "set_precision", "standard_callbacks", "StepBackupAndRestore", "SampleGrid",
           "DivergenceGuard", "TrainingDiverged", "ScoreCurve"]
