"""Checkpoints with an exact resume: ``StepBackupAndRestore`` (a ``keras.callbacks.BackupAndRestore``).

Example:
    >>> backup = checkpointing("runs/gan", every_steps=250)
    >>> gan.fit(dataset, epochs=20, steps_per_epoch=250, callbacks=[backup])   # again after kill -9: resumes
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf

from measurements.validation import check_positive_int

from ..._files import save_keras, write_json
from .common import first_non_finite, model_optimizers

__all__ = ["StepBackupAndRestore", "checkpointing", "read_backup_metadata"]

#: The file of a backup folder that names its current weights file and the step they are of.
METADATA = "training_metadata.json"


def read_backup_metadata(backup_dir):
    """What the backup in ``backup_dir`` holds — ``{"weights", "epoch", "batches_done", "step"}`` — or
    ``None`` if there is none."""
    path = os.path.join(str(backup_dir), METADATA)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


class StepBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` that resumes at the exact step and never saves a NaN state.

    Behaviour kept from Keras: a backup every ``save_freq`` steps in ``backup_dir`` (a folder of its
    own), restored at ``on_train_begin`` when the same ``fit`` runs again; the backup is deleted at
    the end of a finished run when ``delete_checkpoint``. What it changes, and why:

    * **Exact resume.** Keras records the step but only uses the epoch: a run killed in the middle
      of epoch E restarts E from its first batch, so it trains more steps in total than an
      uninterrupted run. Here the restarted run enters epoch E, passes over (without training on
      them) the batches the backup already covers, and trains the rest: the total number of steps
      equals the uninterrupted run's. (With a dataset reshuffled per epoch, the skipped batches of
      the restarted process are not the same examples; only their number is.) Under
      :func:`ambient_dcs.train` no callback sees the passed-over batches
      (:class:`~ambient_dcs.training.callbacks.resume.ResumedCallbackList`).
    * **Atomic writes.** Each backup is written under a new name, then ``training_metadata.json``
      (which names it) is replaced atomically, then older backups are removed: a ``kill -9`` at
      any moment leaves a complete, loadable backup.
    * **Never overwrite a good backup with a diverged state.** A backup is skipped (with a
      message) when a logged value or any weight or optimizer variable is NaN/Inf, and the backup
      is kept at the end of a run that ended in that state (see :class:`DivergenceGuard`).

    Optimizer state is restored for every optimizer the model holds as an attribute (``optimizer``
    and, for :class:`~ambient_dcs.models.ambientgan.AmbientGAN`, ``g_optimizer`` and ``d_optimizer``), so
    Adam's moments and step counters continue where they stopped. Local file systems only.

    Attributes:
        restored: after ``on_train_begin``, ``{"epoch", "step", "weights"}`` of the backup restored,
            or ``None`` for a fresh start.
    """

    def __init__(self, backup_dir, save_freq=500, delete_checkpoint=True, verbose=1):
        save_freq = check_positive_int(save_freq, "StepBackupAndRestore", "save_freq")
        super().__init__(str(backup_dir), save_freq=save_freq, double_checkpoint=False,
                         delete_checkpoint=delete_checkpoint)
        self.verbose = verbose
        self.restored = None
        self.refused = []

    # -------------------------------------------------------------- helpers
    @property
    def metadata_path(self):
        return os.path.join(self.backup_dir, METADATA)

    def read_metadata(self):
        """The metadata of the current backup (a dict), or ``None`` if there is none."""
        return read_backup_metadata(self.backup_dir)

    def _say(self, message):
        if self.verbose:
            print(message, file=sys.stderr, flush=True)

    def _state_problem(self, logs):
        """Why the current state must not be saved (``None`` if it may)."""
        bad = first_non_finite(logs)
        if bad is not None:
            return f"logged {bad[0]} = {bad[1]}"
        variables = list(self.model.weights)
        for opt in model_optimizers(self.model):
            variables += list(opt.variables)
        for v in variables:
            value = keras.ops.convert_to_numpy(v)
            if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
                return f"variable {v.path} holds NaN/Inf"
        return None

    # -------------------------------------------------------------- restore
    def on_train_begin(self, logs=None):
        self._epoch = 0
        self._step = 0
        self._steps_before_epoch = 0
        self._last_saved_step = self._last_attempt = 0
        self._last_logs = {}
        self.restored = None
        self.refused = []
        meta = self.read_metadata()
        if meta is None:
            return
        if not self.model.built:
            raise ValueError("StepBackupAndRestore: build the model before fit() (call it on a batch).")
        for opt in model_optimizers(self.model):
            if not opt.built:
                opt.build(self.model.trainable_variables)
        weights = os.path.join(self.backup_dir, meta["weights"])
        self.model.load_weights(weights)
        epoch, done, step = int(meta["epoch"]), int(meta["batches_done"]), int(meta["step"])
        steps_per_epoch = (self.params or {}).get("steps")
        if steps_per_epoch is not None and done >= steps_per_epoch:
            epoch, done = epoch + 1, 0
        self.model._initial_epoch = epoch
        self._epoch = epoch
        self._step = self._last_saved_step = self._last_attempt = step
        self._steps_before_epoch = step - done
        self.restored = {"epoch": epoch, "step": step, "weights": weights}
        params = self.params or {}
        where = f"epoch {epoch + 1}" + (f" of {params['epochs']}" if params.get("epochs") else "")
        if done:
            where += f", batch {done + 1}" + (f" of {steps_per_epoch}" if steps_per_epoch else "")
        self._say(f"StepBackupAndRestore: resumed from {weights} at step {step} ({where}).")
        if done:
            self._skip_batches(done)

    def _skip_batches(self, count):
        """Makes the next ``count`` train-function calls consume their batches without training."""
        model = self.model
        original = model.train_function
        per_call = max(int(getattr(model, "steps_per_execution", 1) or 1), 1)
        remaining = [count // per_call]  # a partial chunk is trained again

        def skipping(iterator):
            if remaining[0] <= 0:
                model.train_function = original
                return original(iterator)
            remaining[0] -= 1
            for _ in range(per_call):
                if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
                    if not iterator.get_next_as_optional().has_value():
                        raise StopIteration
                else:
                    next(iterator)
            if remaining[0] <= 0:
                model.train_function = original
            return {}

        model.train_function = skipping

    # -------------------------------------------------------------- save
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self._steps_before_epoch + batch + 1
        if step <= self._last_saved_step:  # batches covered by the restored backup
            return
        self._step = step
        self._last_logs = logs or {}
        if step // self.save_freq > self._last_attempt // self.save_freq:
            self._last_attempt = step
            self._save(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._steps_before_epoch = self._step

    def _save(self, batches_done, logs):
        problem = self._state_problem(logs)
        if problem is not None:
            self.refused.append(self._step)
            self._say(f"StepBackupAndRestore: not saving step {self._step}: {problem}; the backup of step "
                      f"{self._last_saved_step} is kept.")
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"ckpt-{self._step:08d}.weights.h5"
        save_keras(self.model, os.path.join(self.backup_dir, name))
        write_json(self.metadata_path, {"weights": name, "epoch": self._epoch, "batches_done": int(batches_done),
                                        "step": self._step})
        # Older backups, and what a killed process left half-written.
        for old in glob.glob(os.path.join(self.backup_dir, "*ckpt-*.weights.h5")) + glob.glob(
                os.path.join(self.backup_dir, ".tmp-*")):
            if os.path.basename(old) != name:
                os.remove(old)
        self._last_saved_step = self._step

    def save_final(self):
        """Saves the state at the end of a run (unless it is already saved or not finite); returns whether it did."""
        if self._step <= self._last_saved_step:
            return False
        before = self._last_saved_step
        self._epoch += 1  # the run is over: a resume finds nothing left of this epoch
        self._save(0, self._last_logs)
        return self._last_saved_step != before

    def _save_model(self):  # Keras' own entry point: same rules
        self._save(0, self._last_logs)

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or not os.path.exists(self.backup_dir):
            return
        problem = self._state_problem(self._last_logs)
        if problem is not None:
            self._say(f"StepBackupAndRestore: training ended in a non-finite state ({problem}); the backup of "
                      f"step {self._last_saved_step} in {self.backup_dir} is kept.")
            return
        shutil.rmtree(self.backup_dir)


def checkpointing(out_dir, every_steps=500, delete_checkpoint=True, verbose=1):
    """A backup every ``every_steps`` steps in ``out_dir/backup``, with automatic resume.

    Start the same ``fit(..., callbacks=[checkpointing(out_dir), ...])`` again after an
    interruption (even ``kill -9``) and it continues from the last backup: weights, both optimizers
    and the random stream are restored and the run ends after the same total number of steps.

    Args:
        out_dir: the run's folder; the backup goes to its ``backup`` subfolder (used for nothing else).
        every_steps: steps between backups.
        delete_checkpoint: remove the backup when the run finishes normally (it is always kept
            after a divergence). Keep it (``False``) to resume a finished run with more epochs.
        verbose: print a line on resume and on refused saves.

    Returns:
        A :class:`StepBackupAndRestore` (a ``keras.callbacks.BackupAndRestore``).
    """
    return StepBackupAndRestore(os.path.join(str(out_dir), "backup"), save_freq=every_steps,
                                delete_checkpoint=delete_checkpoint, verbose=verbose)
