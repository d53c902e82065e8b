"""Training one model of an experiment into its own folder: :func:`ambient_dcs.training.train` plus a settings check.

The experiments of this package (the DCS table, the CS-GAN sweeps) train many models, each into
``<out>/<model>_training``; started again with the same output folder, an interrupted training resumes
and a finished one is not repeated. A folder that holds a training with other settings is cleared
first: its checkpoint would silently stand in for the model asked for.

Example:
    >>> history, seconds = train_run(gan, data, steps=800, run_dir=out / "csgan_T3_s0_training",
    ...                              settings={"latent_steps": 3, "seed": 0, "steps": 800}, log_every=300)
"""

from __future__ import annotations

import json
import pathlib
import shutil

from ..training.fit import train

__all__ = ["log_chunk", "train_run"]


def log_chunk(steps, log_every):
    """Steps per progress line (and checkpoint): the largest divisor of ``steps`` between
    ``log_every / 2`` and ``log_every``, or all ``steps`` if there is none, so every line covers the
    same number of steps."""
    if steps <= log_every:
        return steps
    return next((c for c in range(log_every, max(1, log_every // 2) - 1, -1) if steps % c == 0), steps)


def train_run(model, data, *, steps, run_dir, settings, log_every=500, seed=0, verbose=1):
    """Trains ``model`` for ``steps`` steps with :func:`~ambient_dcs.training.train` in ``run_dir``.

    Args:
        model: a compiled trainer.
        data: a ``tf.data.Dataset`` of training batches.
        steps: training steps.
        run_dir: the training's folder (checkpoints, sample grids, TensorBoard logs, ``settings.json``).
        settings: JSON-serialisable dict of what identifies the training; a checkpoint in ``run_dir``
            made with other settings is deleted before training.
        log_every: target steps per progress line; the lines (Keras epochs, history entries) and
            checkpoints come every :func:`log_chunk` steps.
        seed: seed of the sample grids' latents.
        verbose: as :func:`~ambient_dcs.training.train`.

    Returns:
        ``(history, seconds)``: the history dict of this call (one entry per line; empty when the
        folder held the finished training) and the seconds of training.
    """
    run_dir = pathlib.Path(run_dir)
    record = run_dir / "settings.json"
    settings = json.loads(json.dumps(settings))
    if run_dir.exists() and (not record.exists() or json.loads(record.read_text()) != settings):
        print(f"{run_dir} holds a training with other settings; starting it over.", flush=True)
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=2))
    history = train(model, data, steps=steps, out_dir=run_dir, checkpoint_every=log_chunk(steps, log_every),
                    seed=seed, verbose=verbose)
    return dict(history.history), float(history.seconds)
