"""Saving and restoring how a trainer with several optimizers was compiled (``.keras`` files).

Keras serialises a model's compile arguments through ``get_compile_config`` /
``compile_from_config``; the trainers here take their own optimizers (``g_optimizer``,
``d_optimizer``, ``measurement_optimizer`` …), so they share these two functions.

Example:
    >>> class MyTrainer(keras.Model):
    ...     def get_compile_config(self):
    ...         return optimizers_compile_config(self, g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer)
    ...     def compile_from_config(self, config):
    ...         compile_with_optimizers(self, config)
"""

from __future__ import annotations

import keras


def optimizers_compile_config(model, **optimizers):
    """The compile config: each optimizer serialised (``None`` ones left out), plus ``jit_compile``
    and ``steps_per_execution``. ``None`` when the first optimizer is ``None`` (not compiled)."""
    if next(iter(optimizers.values()), None) is None:
        return None
    config = {name: keras.saving.serialize_keras_object(opt) for name, opt in optimizers.items() if opt is not None}
    config.update(jit_compile=bool(model.jit_compile), steps_per_execution=model.steps_per_execution)
    return config


def compile_with_optimizers(model, config):
    """``model.compile(**config)`` with every ``*optimizer`` entry deserialised first."""
    config = {key: keras.saving.deserialize_keras_object(value) if key.endswith("optimizer") else value
              for key, value in config.items()}
    model.compile(**config)
