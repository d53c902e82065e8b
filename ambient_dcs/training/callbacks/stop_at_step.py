"""``StopAtStep``: ends ``fit`` after an exact number of training steps."""

from __future__ import annotations

import keras

__all__ = ["StopAtStep"]


class StopAtStep(keras.callbacks.Callback):
    """Stops ``fit`` once the run has done ``steps`` training steps.

    Args:
        steps: the run's total steps.
        start: the steps the run had done when this ``fit`` began (a resumed run's).
    """

    def __init__(self, steps, start=0):
        super().__init__()
        self.steps = int(steps)
        self._step = int(start)

    def on_train_batch_end(self, batch, logs=None):
        self._step += max(int(getattr(self.model, "steps_per_execution", 1) or 1), 1)
        if self._step >= self.steps:
            self.model.stop_training = True
