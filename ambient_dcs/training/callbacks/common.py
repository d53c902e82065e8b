"""What the callbacks read off a model and its logs: its optimizers, its step, non-finite values."""

from __future__ import annotations

import math

import keras

__all__ = ["model_optimizers", "global_step", "first_non_finite"]


def model_optimizers(model):
    """The optimizers a model holds: its ``optimizers`` mapping (every trainer of
    :mod:`ambient_dcs.models`), else Keras' ``optimizer``."""
    named = getattr(model, "optimizers", None)
    if isinstance(named, dict) and named:
        return list(named.values())
    opt = getattr(model, "optimizer", None)
    return [opt] if isinstance(opt, keras.optimizers.Optimizer) else []


def global_step(model):
    """Training steps done so far by ``model`` (its first optimizer's ``iterations``), or ``None``."""
    opts = model_optimizers(model)
    return int(keras.ops.convert_to_numpy(opts[0].iterations)) if opts else None


def first_non_finite(logs):
    """``(name, value)`` of the first non-finite numeric log entry, or ``None``."""
    for name, value in (logs or {}).items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(v):
            return name, v
    return None
