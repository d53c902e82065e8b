"""Training: the loop for any trainer (:func:`train`), its callbacks (one a module), and distribution."""

from .callbacks import (DivergenceGuard, SampleGrid, ScoreCurve, StepBackupAndRestore, StopAtStep, TrainingDiverged,
                        standard_callbacks)
from .distribute import make_strategy, set_precision
from .fit import train

__all__ = ["train", "make_strategy", "set_precision", "standard_callbacks", "StepBackupAndRestore", "SampleGrid",
           "StopAtStep", "DivergenceGuard", "TrainingDiverged", "ScoreCurve"]
