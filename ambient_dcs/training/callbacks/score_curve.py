"""``ScoreCurve``: scores of a model against its training wall time, and a time budget."""

from __future__ import annotations

import time

import keras

from .common import global_step

__all__ = ["ScoreCurve"]


class ScoreCurve(keras.callbacks.Callback):
    """Scores the model every ``every_seconds`` of *training* time and can stop at a time budget.

    The clock counts the time spent in training calls (tracing included: a user pays it) and excludes
    the scoring itself, so curves of runs that score at different rates stay comparable. A score is
    taken at the first batch end after each multiple of ``every_seconds``, and at the end of training.

    Args:
        score_fn: ``model → dict`` of numbers (e.g. classifier IS / FID of samples).
        every_seconds: training seconds between scores (> 0).
        budget_seconds: stop training (``model.stop_training``) once this much training time is
            spent; ``None``: no budget.

    Attributes:
        points: ``[{"seconds", "step", **scores}, …]`` in order.

    Example:
        >>> curve = ScoreCurve(lambda m: {"fid": fid_of(m.generator)}, every_seconds=30, budget_seconds=120)
        >>> gan.fit(data, epochs=1, steps_per_epoch=100_000, callbacks=[curve])
        >>> curve.points[-1]["fid"]
    """

    def __init__(self, score_fn, every_seconds=30.0, budget_seconds=None):
        super().__init__()
        if not every_seconds > 0:
            raise ValueError(f"ScoreCurve: expected every_seconds > 0; received {every_seconds!r}.")
        if budget_seconds is not None and not budget_seconds > 0:
            raise ValueError(f"ScoreCurve: expected budget_seconds > 0 or None; received {budget_seconds!r}.")
        self.score_fn, self.every, self.budget = score_fn, float(every_seconds), budget_seconds
        self.points = []

    def on_train_begin(self, logs=None):
        self.points, self.seconds, self._next = [], 0.0, self.every
        self._last = time.perf_counter()

    def _score(self):
        self.points.append({"seconds": self.seconds, "step": global_step(self.model), **self.score_fn(self.model)})

    def on_train_batch_end(self, batch, logs=None):
        self.seconds += time.perf_counter() - self._last
        if self.seconds >= self._next:
            self._score()
            while self._next <= self.seconds:
                self._next += self.every
        if self.budget is not None and self.seconds >= self.budget:
            self.model.stop_training = True
        self._last = time.perf_counter()

    def on_train_end(self, logs=None):
        if not self.points or self.points[-1]["seconds"] < self.seconds:
            self._score()
