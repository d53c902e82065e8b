"""``DivergenceGuard``: stops training at the first NaN/Inf logged value."""

from __future__ import annotations

import sys

import keras

from .common import first_non_finite, global_step

__all__ = ["DivergenceGuard", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """Raised by :class:`DivergenceGuard` with ``raise_error=True``."""


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose logged loss is NaN or Inf.

    It sets ``model.stop_training`` (the epoch ends, ``fit`` returns) and prints which value
    diverged, its value and the step. :class:`StepBackupAndRestore` never saves such a state and
    keeps its backup, so the last good checkpoint survives whatever the order of the callbacks.

    Args:
        monitor: names of the logged values to watch (default: all).
        raise_error: also raise :class:`TrainingDiverged` from ``fit`` (after stopping).

    Attributes:
        diverged: ``None``, or ``{"loss", "value", "step", "epoch", "batch", "message"}``.
    """

    def __init__(self, monitor=None, raise_error=False):
        super().__init__()
        self.monitor = None if monitor is None else set([monitor] if isinstance(monitor, str) else monitor)
        self.raise_error = raise_error
        self.diverged = None

    def on_train_begin(self, logs=None):
        self.diverged = None
        self._epoch = 0
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        watched = {k: v for k, v in (logs or {}).items() if self.monitor is None or k in self.monitor}
        bad = first_non_finite(watched)
        if bad is None:
            return
        name, value = bad
        step = global_step(self.model)
        where = f"step {step}" if step is not None else f"batch {self._batches} of this run"
        message = (f"DivergenceGuard: training diverged at {where} (epoch {self._epoch + 1}, batch {batch + 1}): "
                   f"{name} = {value}. Training stopped; the last good checkpoint is kept (a non-finite "
                   f"state is never saved over it).")
        self.diverged = {"loss": name, "value": value, "step": step, "epoch": self._epoch, "batch": batch,
                         "message": message}
        self.model.stop_training = True
        print(message, file=sys.stderr, flush=True)
        if self.raise_error:
            raise TrainingDiverged(message)
