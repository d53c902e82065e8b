"""What the callbacks of a resumed run see: only the batches that train.

A run resumed from a checkpoint taken inside an epoch re-enters that epoch, and the checkpoint
(:class:`~ambient_dcs.training.callbacks.checkpoint.StepBackupAndRestore`) passes over the batches it
already covers without training on them. Keras would still call every callback's
``on_train_batch_begin`` / ``on_train_batch_end`` for them, with empty logs: a user's callback that
reads ``logs["loss"]`` would fail, a step counter would count batches that did not train.
:class:`ResumedCallbackList` is the ``keras.callbacks.CallbackList`` that :func:`ambient_dcs.train`
hands to ``fit``: it keeps those calls from every callback (the progress bar included, which then
starts at the batch where the run stands), so each callback sees the batches that train, numbered
``(epoch, batch)`` as the uninterrupted run numbers them.

Example:
    >>> callbacks = ResumedCallbackList([my_logger], passed_over=10, add_history=True, add_progbar=True,
    ...                                 verbose=1, epochs=3, steps=25, model=model)
    >>> model.fit(stream, epochs=3, steps_per_epoch=25, initial_epoch=1, callbacks=callbacks)
"""

from __future__ import annotations

import keras

__all__ = ["ResumedCallbackList"]


class ResumedCallbackList(keras.callbacks.CallbackList):
    """A ``keras.callbacks.CallbackList`` that hides the first ``passed_over`` batches of the first epoch.

    Args:
        callbacks: the Keras callbacks.
        passed_over: batches of the first epoch ``fit`` runs that the checkpoint already covers (0 for a
            fresh run or a resume at an epoch boundary).
        **kwargs: ``keras.callbacks.CallbackList``'s (``add_history``, ``add_progbar``, ``model`` and
            the ``params``: ``verbose``, ``epochs``, ``steps``).
    """

    def __init__(self, callbacks=None, passed_over=0, **kwargs):
        super().__init__(callbacks, **kwargs)
        self.passed_over = int(passed_over)

    def on_train_batch_begin(self, batch, logs=None):
        if batch >= self.passed_over:
            super().on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution k Keras reports a call of k batches by its last index: a call that
        # only passed over batches ends before ``passed_over`` (a multiple of k, as checkpoints are).
        if batch >= self.passed_over:
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.passed_over = 0  # from the next epoch on, every batch trains
        super().on_epoch_end(epoch, logs)
