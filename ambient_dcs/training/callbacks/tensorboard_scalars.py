"""TensorBoard scalars of a run, with or without the ``tensorboard`` package."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

__all__ = ["TensorBoardScalars", "tensorboard"]


def _tensorboard_installed():
    try:
        import tensorboard.summary.v2  # noqa: F401  (what tf.summary.scalar needs)
    except ImportError:
        return False
    return True


class TensorBoardScalars(keras.callbacks.Callback):
    """Epoch scalars as TensorBoard event files, written with TensorFlow alone.

    The same files as ``keras.callbacks.TensorBoard``'s scalars (``log_dir/train``, tags
    ``epoch_<name>``, step = epoch, the "scalars" plugin), without the ``tensorboard`` package, which
    ``tf.summary.scalar`` needs. View them with ``tensorboard --logdir log_dir`` wherever TensorBoard
    is installed.
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = str(log_dir)
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_epoch_end(self, epoch, logs=None):
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "scalars"
        with self._writer.as_default():
            for name, value in (logs or {}).items():
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    continue
                tf.summary.write(f"epoch_{name}", tf.constant(value, tf.float32), step=epoch, metadata=metadata)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def tensorboard(log_dir):
    """``keras.callbacks.TensorBoard(log_dir)`` if the ``tensorboard`` package is installed, else
    :class:`TensorBoardScalars` (the same epoch scalars, written with TensorFlow alone)."""
    if _tensorboard_installed():
        return keras.callbacks.TensorBoard(log_dir=str(log_dir))
    return TensorBoardScalars(log_dir)
