"""Keras callbacks for long generative-model runs: sample grids, checkpoints with resume, divergence.

``standard_callbacks(out_dir, operator=op)`` returns the usual set, in this order:

1. :func:`checkpointing` — a ``keras.callbacks.BackupAndRestore`` (:class:`StepBackupAndRestore`)
   that writes a backup every N steps to ``out_dir/backup`` and, when the same ``fit`` is started
   again after a crash or ``kill -9``, restores the weights, *both* optimizers' state and the random
   stream, and continues from the step after the last backup;
2. :class:`SampleGrid` — PNG grids of generator samples (fixed ``z``) and of their measurements in
   ``out_dir/samples``;
3. :func:`tensorboard` — ``keras.callbacks.TensorBoard(out_dir/logs)``: the logged scalars
   (``d_loss``, ``g_loss``, ``gp``) per epoch, ``tensorboard --logdir out_dir/logs``. Keras' callback
   needs the ``tensorboard`` package, which TensorFlow >= 2.20 no longer installs; without it the
   same scalars are written by :class:`TensorBoardScalars` with TensorFlow alone;
4. :class:`DivergenceGuard` — stops training at the first NaN/Inf loss and says so.

Example:
    >>> gan.fit(dataset, epochs=20, callbacks=standard_callbacks("results/run1", operator=op))
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from ..reporting.figures import save_array_image, save_image_grid

__all__ = ["SampleGrid", "StepBackupAndRestore", "checkpointing", "DivergenceGuard", "TrainingDiverged",
           "TensorBoardScalars", "tensorboard", "standard_callbacks"]


def _optimizers(model):
    """The optimizers a model holds: its ``optimizers`` mapping (every trainer of
    :mod:`ambient_dcs.models`), else Keras' ``optimizer``."""
    named = getattr(model, "optimizers", None)
    if isinstance(named, dict) and named:
        return list(named.values())
    opt = getattr(model, "optimizer", None)
    return [opt] if isinstance(opt, keras.optimizers.Optimizer) else []


def _global_step(model):
    """Training steps done so far by ``model`` (its first optimizer's ``iterations``), or ``None``."""
    opts = _optimizers(model)
    return int(keras.ops.convert_to_numpy(opts[0].iterations)) if opts else None


def _finite_logs(logs):
    """``(name, value)`` of the first non-finite numeric log entry, or ``None``."""
    for name, value in (logs or {}).items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(v):
            return name, v
    return None


# ---------------------------------------------------------------------- samples
class SampleGrid(keras.callbacks.Callback):
    """Saves PNG grids of generator samples at the end of every ``every_epochs`` epochs.

    Files (``NNN`` = the 1-based epoch): ``samples_epochNNN.png``, generator samples for a ``z``
    fixed at the start of training (so grids of successive epochs are comparable); and, when
    ``operator`` is given, ``measured_epochNNN.png``, the same samples measured with a fixed θ
    and fixed noise. Image-shaped measurements are shown as a grid (rescaled from their min..max
    when they leave [0, 1], e.g. the ×1/(1−p) of ``PixelDrop``; channels other than 1 or 3 are
    averaged); vector measurements as one image whose rows are the samples' measurement vectors.

    The generator is ``model.generator`` (or the model itself), ``z`` comes from
    ``model.sample_latent(num_samples, seed)`` when the model has it, else U[−1, 1]. A model without
    a latent (a diffusion prior) is sampled with ``model.sample(num_samples, seed=seed, steps=12)``:
    the same starting noise every epoch.

    Args:
        out_dir: folder for the PNGs (created).
        num_samples: images per grid.
        every_epochs: save every this many epochs (and never more often).
        operator: optional ``measurements.Operator`` for the measured grid.
        seed: seed of the fixed ``z``, θ and noise.
    """

    def __init__(self, out_dir, num_samples=64, every_epochs=1, operator=None, seed=0):
        super().__init__()
        self.out_dir = str(out_dir)
        self.num_samples = int(num_samples)
        self.every_epochs = max(int(every_epochs), 1)
        self.operator = operator
        self.seed = int(seed)
        self._z = None
        self._theta = None

    def _generator(self):
        return getattr(self.model, "generator", self.model)

    def _latent_free(self):
        return getattr(self.model, "latent_dim", 1) is None and hasattr(self.model, "denoise")

    def on_train_begin(self, logs=None):
        if self._latent_free():
            self._z = self.seed
        elif hasattr(self.model, "sample_latent"):
            self._z = self.model.sample_latent(self.num_samples, seed=self.seed)
        else:
            dim = self._generator().input_shape[-1]
            self._z = tf.random.stateless_uniform([self.num_samples, dim], [self.seed, 0], -1.0, 1.0)
        self._theta = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs:
            return
        self.save(epoch + 1)

    def save(self, epoch):
        """Writes the grids for ``epoch`` (1-based) now; returns the paths written."""
        if self._z is None:
            self.on_train_begin()
        if self._latent_free():
            images = tf.constant(self.model.sample(self.num_samples, seed=self.seed, steps=12))
        else:
            images = self._generator()(self._z, training=False)
        values = np.asarray(images)
        if not np.isfinite(values).all():
            print(f"SampleGrid: epoch {epoch}: the generator returned NaN/Inf; no grid saved.", file=sys.stderr)
            return []
        paths = [save_image_grid(values, os.path.join(self.out_dir, f"samples_epoch{epoch:03d}.png"),
                                 title=f"samples, epoch {epoch}")]
        if self.operator is not None:
            paths.append(self._save_measured(images, epoch))
        return paths

    def _save_measured(self, images, epoch):
        op = self.operator
        if self._theta is None:
            self._theta = op.sample_theta(self.num_samples, seed=self.seed, image_shape=tuple(images.shape[1:]))
        y = np.asarray(op(images, theta=self._theta, seed=self.seed + 1))
        path = os.path.join(self.out_dir, f"measured_epoch{epoch:03d}.png")
        name = type(op).__name__
        if y.ndim == 4:
            if y.shape[-1] not in (1, 3):
                y = y.mean(axis=-1, keepdims=True)
            lo, hi = float(y.min()), float(y.max())
            title = f"{name} measurements, epoch {epoch}"
            if lo < 0.0 or hi > 1.0:
                y = (y - lo) / (hi - lo if hi > lo else 1.0)
                title += f" (shown {lo:.2g}..{hi:.2g} → 0..1)"
            return save_image_grid(y, path, title=title)
        rows = y.reshape(len(y), -1)
        return save_array_image(rows, path, title=f"{name} measurements, epoch {epoch} (one row per sample)",
                                pixel_scale=max(1, min(3, 600 // max(rows.shape[1], 1))))


# ---------------------------------------------------------------------- checkpoints
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
      the restarted process are not the same examples; only their number is.)
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

    METADATA = "training_metadata.json"

    def __init__(self, backup_dir, save_freq=500, delete_checkpoint=True, verbose=1):
        if not isinstance(save_freq, (int, np.integer)) or isinstance(save_freq, bool) or save_freq < 1:
            raise ValueError(f"StepBackupAndRestore: expected save_freq to be an integer >= 1 (steps); "
                             f"received {save_freq!r}.")
        super().__init__(str(backup_dir), save_freq=int(save_freq), double_checkpoint=False,
                         delete_checkpoint=delete_checkpoint)
        self.verbose = verbose
        self.restored = None
        self.refused = []

    # -------------------------------------------------------------- helpers
    @property
    def metadata_path(self):
        return os.path.join(self.backup_dir, self.METADATA)

    def read_metadata(self):
        """The metadata of the current backup (a dict), or ``None`` if there is none."""
        if not os.path.exists(self.metadata_path):
            return None
        with open(self.metadata_path) as f:
            return json.load(f)

    def _say(self, message):
        if self.verbose:
            print(message, file=sys.stderr, flush=True)

    def _state_problem(self, logs):
        """Why the current state must not be saved (``None`` if it may)."""
        bad = _finite_logs(logs)
        if bad is not None:
            return f"logged {bad[0]} = {bad[1]}"
        variables = list(self.model.weights)
        for opt in _optimizers(self.model):
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
        for opt in _optimizers(self.model):
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
        self._say(f"StepBackupAndRestore: resumed from {weights} (step {step}; epoch {epoch + 1}"
                  + (f", skipping its first {done} batches)" if done else ")"))
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
        tmp = os.path.join(self.backup_dir, f"tmp-{name}")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, os.path.join(self.backup_dir, name))
        meta = {"weights": name, "epoch": self._epoch, "batches_done": int(batches_done), "step": self._step}
        tmp_meta = self.metadata_path + ".tmp"
        with open(tmp_meta, "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_meta, self.metadata_path)
        for old in glob.glob(os.path.join(self.backup_dir, "*ckpt-*.weights.h5")):
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
        import shutil
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


# ---------------------------------------------------------------------- divergence
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
        self.points.append({"seconds": self.seconds, "step": _global_step(self.model), **self.score_fn(self.model)})

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
        bad = _finite_logs(watched)
        if bad is None:
            return
        name, value = bad
        step = _global_step(self.model)
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


# ---------------------------------------------------------------------- TensorBoard
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


# ---------------------------------------------------------------------- the usual set
def standard_callbacks(out_dir, operator=None, checkpoint_every=500, samples_every=1, num_samples=64, seed=0,
                       delete_checkpoint=True):
    """``[checkpointing, SampleGrid, tensorboard, DivergenceGuard]`` writing under ``out_dir``.

    ``out_dir/backup`` (resume; see :func:`checkpointing`), ``out_dir/samples`` (PNG grids, with
    measured samples when ``operator`` is given), ``out_dir/logs`` (TensorBoard scalars per
    epoch: ``tensorboard --logdir out_dir/logs``).
    """
    out_dir = str(out_dir)
    return [
        checkpointing(out_dir, every_steps=checkpoint_every, delete_checkpoint=delete_checkpoint),
        SampleGrid(os.path.join(out_dir, "samples"), num_samples=num_samples, every_epochs=samples_every,
                   operator=operator, seed=seed),
        tensorboard(os.path.join(out_dir, "logs")),
        DivergenceGuard(),
    ]
