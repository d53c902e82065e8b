"""Keras callbacks for long generative-model runs, one a module: checkpoints with an exact resume, sample
grids, a step limit, TensorBoard scalars, a divergence guard, score curves; the standard set of them, and the
callback list of a resumed run."""

from .checkpoint import StepBackupAndRestore, checkpointing, read_backup_metadata
from .divergence import DivergenceGuard, TrainingDiverged
from .resume import ResumedCallbackList
from .sample_grid import SampleGrid
from .score_curve import ScoreCurve
from .standard import standard_callbacks
from .stop_at_step import StopAtStep
from .tensorboard_scalars import TensorBoardScalars, tensorboard

__all__ = ["StepBackupAndRestore", "checkpointing", "read_backup_metadata", "SampleGrid", "StopAtStep",
           "DivergenceGuard", "TrainingDiverged", "TensorBoardScalars", "tensorboard", "ScoreCurve",
           "standard_callbacks", "ResumedCallbackList"]
