"""``train``: runs any trainer for an exact number of steps, with checkpoints, resume and a NaN guard.

Every trainer of :mod:`ambient_dcs.models` (a :class:`~ambient_dcs.models.base.GenerativeTrainer`)
trains through :func:`train`, and so do :func:`ambient_dcs.train_prior` and the recipes. It is
``model.fit`` with Keras' own callbacks, arranged so that:

* exactly ``steps`` training steps run (a run asked for 2,001 steps runs 2,001);
* a checkpoint (weights, every optimizer's state, the trainer's random stream) is written atomically
  to ``out_dir/backup`` every ``checkpoint_every`` steps and at the end;
* the same call with the same ``out_dir`` after a crash or ``kill -9`` resumes from the last
  checkpoint *at the same position in the data*, so the final weights equal an uninterrupted run's
  (for a deterministic dataset: seeded shuffling); a finished run is not trained again. The resume is
  invisible to the callbacks: they see the batches that train, numbered as the uninterrupted run
  numbers them (:class:`~ambient_dcs.training.callbacks.resume.ResumedCallbackList`);
* a NaN/Inf loss stops the run and raises :class:`~ambient_dcs.training.callbacks.divergence.TrainingDiverged`;
  the last good checkpoint is kept (a non-finite state is never saved);
* models with a generator get PNG sample grids in ``out_dir/samples`` (fixed latents, and their
  measurements for trainers with an operator), every run gets TensorBoard scalars in ``out_dir/logs``
  and a progress bar.

Keras' ``TerminateOnNaN`` watches ``loss`` only, while GAN trainers log ``d_loss`` / ``g_loss``:
the :class:`~ambient_dcs.training.callbacks.divergence.DivergenceGuard` watches every logged value instead.
``tf.data`` autotuning is switched off for the training stream: with it on, about half of the short
``fit`` calls measured on TF 2.21 blocked 3-5 s after training while the iterator shut down
(``benchmarks/train_overhead.py`` measures it).

Example:
    >>> gan = ad.AmbientGAN(G, D, op, seed=0); gan.compile()
    >>> data = tf.data.Dataset.from_tensor_slices({"y": y}).shuffle(len(y), seed=0).batch(32, drop_remainder=True)
    >>> history = ad.train(gan, data, steps=2000, out_dir="runs/gan")   # again after a crash: resumes
"""

from __future__ import annotations

import math
import os
import pathlib
import sys
import time

import keras
import tensorflow as tf

from measurements.validation import check_int, check_positive_int

from .callbacks.checkpoint import read_backup_metadata
from .callbacks.divergence import TrainingDiverged
from .callbacks.resume import ResumedCallbackList
from .callbacks.standard import standard_callbacks

__all__ = ["train"]

#: Steps of a Keras epoch of :func:`train` (one progress line, sample grid and TensorBoard point each),
#: rounded to a multiple of the checkpoint interval.
EPOCH_STEPS = 250


def _epoch_length(steps, checkpoint_every, epoch_steps=EPOCH_STEPS):
    """The multiple of ``checkpoint_every`` nearest to ``epoch_steps``, at most ``steps``: short
    checkpoint intervals do not make a sample grid every few steps."""
    return min(steps, checkpoint_every * max(1, round(epoch_steps / checkpoint_every)))


def _training_stream(data, skip):
    """The dataset repeated, positioned ``skip`` batches in, with ``tf.data`` autotuning off."""
    options = tf.data.Options()
    options.autotune.enabled = False
    stream = data.repeat()
    if skip > 0:
        stream = stream.skip(skip)
    return stream.with_options(options)


def _check_train_inputs(model, data, steps, checkpoint_every, seed, epoch_steps):
    owner = "train"
    steps = check_positive_int(steps, owner, "steps")
    checkpoint_every = check_positive_int(checkpoint_every, owner, "checkpoint_every")
    check_int(seed, owner, "seed", 0)
    check_positive_int(epoch_steps, owner, "epoch_steps")
    if not isinstance(model, keras.Model) or not getattr(model, "optimizers", None):
        what = "one that is not compiled" if isinstance(model, keras.Model) else type(model).__name__
        raise ValueError(f"{owner}: expected a compiled trainer (an ambient_dcs.models trainer after "
                         f"model.compile()); received {what}.")
    if not isinstance(data, tf.data.Dataset):
        raise ValueError(f"{owner}: expected data to be a tf.data.Dataset of batches (e.g. "
                         f"ambient_dcs.data.as_tf_dataset(x, batch_size=64)); received {type(data).__name__}.")
    per_call = max(int(model.steps_per_execution or 1), 1)
    if steps % per_call or checkpoint_every % per_call:
        raise ValueError(f"{owner}: expected steps ({steps}) and checkpoint_every ({checkpoint_every}) to be multiples "
                         f"of the model's steps_per_execution ({per_call}).")
    return steps, checkpoint_every


def train(model, data, *, steps, out_dir, checkpoint_every=250, seed=0, callbacks=(), verbose=1,
          sample_operator=None, epoch_steps=EPOCH_STEPS):
    """Trains ``model`` for exactly ``steps`` steps on ``data``, resuming from ``out_dir`` if it holds a checkpoint.

    Args:
        model: a compiled trainer (``model.optimizers`` non-empty), built in the scope of the
            ``tf.distribute`` strategy to train with, if any.
        data: a ``tf.data.Dataset`` of training batches (global batches under a strategy), e.g.
            images ``(B, H, W, C)`` or ``{"y": ..., "theta": {...}}``; it is repeated as needed. For
            an exact resume, seed its shuffling and pass a newly made dataset (a process started
            again does): a shuffled dataset object that was iterated before continues its sequence
            of orders. Under a ``tf.distribute`` strategy Keras opens the dataset once more before
            training; for the same batches as on one device, shuffle without reshuffling per
            iterator: ``ds.repeat().shuffle(n, seed=0, reshuffle_each_iteration=False).batch(b)``.
        steps: training steps of the run in ``out_dir``, counting those of the interrupted calls it
            resumes (the model's own earlier training, before this run, does not count).
        out_dir: the run's folder: ``backup/`` (checkpoints), ``samples/`` (PNG grids), ``logs/``
            (TensorBoard).
        checkpoint_every: steps between checkpoints.
        seed: seed of the fixed latents (and θ, noise) of the sample grids.
        callbacks: more Keras callbacks, run after the standard ones. On a resume they see exactly
            the batches that train — none of those the checkpoint already covers — each with the
            logs an uninterrupted run gives it, numbered ``(epoch, batch)`` as the uninterrupted run
            numbers them: a run resumed at step 310 of epochs of 250 enters epoch index 1 at batch
            index 60. Logged values are running means over an epoch's batches, so in the resumed
            epoch they cover the batches trained since the resume; from the next epoch on they equal
            the uninterrupted run's. ``on_train_begin`` / ``on_train_end`` are called once per call of
            :func:`train`.
        verbose: 0 no progress, 1 progress bar (one line per epoch when not on a terminal), 2 one line per
            epoch; a resumed run's bar starts where the run stands. A resume, a refused checkpoint and
            a divergence are said on stderr in any case.
        sample_operator: operator for the measured sample grids (default: the model's ``operator``).
        epoch_steps: steps of a Keras epoch (one progress line, one sample grid, one TensorBoard
            point), rounded to the nearest multiple of ``checkpoint_every``; the same for every call
            of a run.

    Returns:
        The ``keras.callbacks.History`` of this call (empty when the run had already finished), with
        ``seconds`` (wall time of ``fit``), ``initial_step`` (the step of the run it resumed from, 0
        for a fresh start) and ``steps`` (the run's steps now done).

    Raises:
        ValueError: bad arguments, before any work.
        TrainingDiverged: a NaN/Inf logged value (the last good checkpoint is kept).
    """
    steps, checkpoint_every = _check_train_inputs(model, data, steps, checkpoint_every, seed, epoch_steps)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_epoch = _epoch_length(steps, checkpoint_every, epoch_steps)
    meta = read_backup_metadata(out_dir / "backup") or {}
    start = int(meta.get("step", 0))
    history = keras.callbacks.History()
    history.history, history.seconds, history.initial_step = {}, 0.0, start
    if start >= steps:  # finished before: load it, train nothing
        model.load_weights(os.path.join(out_dir / "backup", meta["weights"]))
        history.steps = start
        if verbose:
            print(f"train: {out_dir} holds a finished run ({start} steps); nothing to train.", flush=True)
        return history
    # Where the checkpoint callback puts the run back: its epoch, and the batches of that epoch it passes
    # over (hidden from every callback); the batches before that epoch are skipped in the stream.
    done = int(meta.get("batches_done", 0))
    initial_epoch = int(meta.get("epoch", 0)) + (1 if meta and done >= per_epoch else 0)
    done_in_epoch = done if done < per_epoch else 0
    first = start - done_in_epoch  # batches of the stream before the first one fit sees
    epochs = initial_epoch + math.ceil((steps - first) / per_epoch)
    # Resumes and refused checkpoints are rare and matter: the checkpoint says them on stderr whatever ``verbose``.
    standard = standard_callbacks(out_dir, operator=sample_operator or getattr(model, "operator", None),
                                  checkpoint_every=checkpoint_every, seed=seed, delete_checkpoint=False,
                                  samples=getattr(model, "generator", None) is not None, steps=steps, start=start)
    backup, guard = standard[0], standard[-1]
    if verbose == 1 and not sys.stdout.isatty():
        verbose = 2
    everything = ResumedCallbackList(standard + list(callbacks), passed_over=done_in_epoch, add_history=True,
                                     add_progbar=verbose != 0, model=model, verbose=verbose, epochs=epochs,
                                     steps=per_epoch)
    began = time.perf_counter()
    model.fit(_training_stream(data, first), epochs=epochs, steps_per_epoch=per_epoch, callbacks=everything,
              verbose=verbose, shuffle=False)
    history = model.history
    history.seconds, history.initial_step, history.steps = time.perf_counter() - began, start, steps
    if guard.diverged is not None:
        raise TrainingDiverged(f"{guard.diverged['message']} Checkpoints: {backup.backup_dir}.")
    backup.save_final()
    return history
