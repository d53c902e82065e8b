"""Training into a folder and reusing what is there — one store for every prior and every experiment's model.

A prior named ``name`` in ``out_dir`` (:class:`PriorFolder`) is trained in ``<name>_training/``
(``settings.json``, ``backup/`` checkpoints for resume, ``samples/``, ``logs/``) and finished as
``<name>.keras`` with its record ``<name>.json`` (the settings that identify it and the training
numbers), each file written atomically (:mod:`ambient_dcs._files`). Asked again with the same
settings, a finished prior is reused and an interrupted one resumes; with other settings
:class:`PriorExistsError` is raised before any work, unless the caller overwrites.

An experiment's model (:func:`train_run`) is trained the same way in its own folder; a folder that
holds a training with other settings is cleared first (its checkpoint would silently stand in for
the model asked for).

Example:
    >>> folder = PriorFolder("results/run", "prior")
    >>> if folder.plan(settings, overwrite=False) == "train":
    ...     run_dir = folder.begin(settings, overwrite=False)
    ...     ambient_dcs.train(trainer, data, steps=2000, out_dir=run_dir)
    ...     folder.finish(trainer.generator, dict(settings, steps=2000))
"""

from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import tensorflow as tf

import measurements

from .._files import save_keras, write_json
from ..training.fit import train

__all__ = ["PriorExistsError", "PriorFolder", "check_prior_target", "prior_settings", "same_settings",
           "training_dataset", "train_run", "log_chunk"]


class PriorExistsError(RuntimeError):
    """A finished prior with other settings is in the output folder (pass ``overwrite=True``)."""


def prior_settings(operator, image_shape, config, mode, training_examples):
    """What identifies a prior's training (stored in its record; compared on reuse and resume).

    Args:
        operator: the measurement operator of the training data.
        image_shape: ``(H, W, C)``.
        config: the training's settings (a dataclass with ``as_dict``).
        mode: what the prior is (``"ambient"``, ``"oracle"``, a diffusion family …).
        training_examples: the number of training examples.
    """
    return {"mode": mode, "config": config.as_dict(), "image_shape": [int(d) for d in image_shape],
            "operator": measurements.config_of(operator), "training_examples": int(training_examples)}


def _operator_identity(config):
    """An operator config without what does not change the measurements: Keras' automatic layer
    names (``gaussian_blur_1``), the build state and the image shape (compared on its own)."""
    if isinstance(config, dict):
        return {k: _operator_identity(v) for k, v in config.items()
                if k not in ("name", "build_config", "image_shape")}
    if isinstance(config, list):
        return [_operator_identity(v) for v in config]
    return config


def same_settings(a, b):
    """Whether two trainings are the same (how often they checkpoint or run is not a difference)."""

    def key(settings):
        core = {k: settings.get(k) for k in ("mode", "config", "image_shape", "operator", "training_examples")}
        core["config"] = {k: v for k, v in (core["config"] or {}).items()
                          if k not in ("checkpoint_every", "steps_per_execution", "jit_compile")}
        core["operator"] = _operator_identity(core["operator"])
        return json.loads(json.dumps(core))

    return key(a) == key(b)


def _read_json(path):
    path = pathlib.Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def _start_run(run_dir, settings, clear):
    """Makes ``run_dir`` (emptied first when ``clear``) and records ``settings`` in its ``settings.json``."""
    run_dir = pathlib.Path(run_dir)
    if clear and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "settings.json", settings)
    return run_dir


class PriorFolder:
    """Where the prior ``name`` lives in ``out_dir``: its finished file, its record, its training folder.

    Args:
        out_dir: the run's folder (made if missing).
        name: the prior's file name (without ``.keras``).

    Attributes:
        path: ``<out_dir>/<name>.keras``, the finished prior.
        record: ``<out_dir>/<name>.json``, its settings and training numbers.
        run_dir: ``<out_dir>/<name>_training``, its checkpoints, sample grids and logs.
    """

    def __init__(self, out_dir, name):
        self.out_dir, self.name = pathlib.Path(out_dir), str(name)
        self.path = self.out_dir / f"{self.name}.keras"
        self.record = self.out_dir / f"{self.name}.json"
        self.run_dir = self.out_dir / f"{self.name}_training"

    def info(self):
        """The record of the finished prior (``{}`` if it has none)."""
        return _read_json(self.record) or {}

    def plan(self, settings, overwrite):
        """``"train"`` or ``"reuse"``: what a training with ``settings`` does here.

        Raises:
            PriorExistsError: a finished prior or a checkpoint with other settings is here and
                ``overwrite`` is false (call it before any work to fail early).
        """
        if overwrite:
            return "train"
        if self.path.exists():
            if same_settings(self.info(), settings):
                return "reuse"
            raise PriorExistsError(
                f"{self.path} is a finished prior trained with other settings; pass --overwrite (overwrite=True) "
                f"to retrain it, --prior {self.path} to reuse it, or choose another output folder.")
        started = _read_json(self.run_dir / "settings.json")
        if (self.run_dir / "backup").exists() and started is not None and not same_settings(started, settings):
            raise PriorExistsError(
                f"{self.run_dir / 'backup'} holds a checkpoint of a training with other settings; pass --overwrite "
                f"(overwrite=True) to start over, or choose another output folder.")
        return "train"

    def begin(self, settings, overwrite):
        """Prepares the training folder (emptied with ``overwrite``; else a checkpoint there resumes);
        returns it."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return _start_run(self.run_dir, settings, clear=overwrite)

    def finish(self, model, info, **records):
        """Saves the finished prior: ``model`` as :attr:`path`, every ``records[suffix]`` as
        ``<name>.<suffix>.json``, then ``info`` as :attr:`record` — each file atomically."""
        save_keras(model, self.path)
        for suffix, value in records.items():
            write_json(self.out_dir / f"{self.name}.{suffix}.json", value)
        write_json(self.record, info, default=float)


def check_prior_target(out_dir, name, settings, overwrite):
    """What training the prior ``name`` in ``out_dir`` with ``settings`` will do: ``"train"`` or
    ``"reuse"`` (:meth:`PriorFolder.plan`; raises :class:`PriorExistsError`)."""
    return PriorFolder(out_dir, name).plan(settings, overwrite)


def training_dataset(data, config):
    """The training stream of a prior: a shuffled, repeated, batched ``tf.data`` pipeline.

    Args:
        data: images ``(N, H, W, C)`` or ``{"y": y, "theta": {...}}`` measurements.
        config: has ``batch_size`` and ``seed``.

    Returns:
        ``(dataset, N)``.
    """
    if isinstance(data, dict):
        y = np.asarray(data["y"], np.float32)
        n = len(y)
        theta = {k: np.asarray(v) for k, v in (data.get("theta") or {}).items()}
        elements = {"y": y, "theta": theta} if theta else {"y": y}
    else:
        elements = np.asarray(data, np.float32)
        n = len(elements)
    if n < config.batch_size:
        raise ValueError(f"train_prior: expected at least batch_size = {config.batch_size} training examples; "
                         f"received {n}. Lower the batch size.")
    ds = tf.data.Dataset.from_tensor_slices(elements)
    ds = ds.shuffle(n, seed=config.seed, reshuffle_each_iteration=True).repeat()
    return ds.batch(config.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE), n


def log_chunk(steps, log_every):
    """Steps per progress line (and checkpoint): the largest divisor of ``steps`` between
    ``log_every / 2`` and ``log_every``, or all ``steps`` if there is none, so every line covers the
    same number of steps."""
    if steps <= log_every:
        return steps
    return next((c for c in range(log_every, max(1, log_every // 2) - 1, -1) if steps % c == 0), steps)


def train_run(model, data, *, steps, run_dir, settings, log_every=500, seed=0, verbose=1):
    """Trains one model of an experiment for ``steps`` steps with :func:`~ambient_dcs.training.train` in ``run_dir``.

    Started again with the same folder, an interrupted training resumes and a finished one is not
    repeated; a folder that holds a training with other settings is cleared first.

    Args:
        model: a compiled trainer.
        data: a ``tf.data.Dataset`` of training batches.
        steps: training steps.
        run_dir: the training's folder (checkpoints, sample grids, TensorBoard logs, ``settings.json``).
        settings: JSON-serialisable dict of what identifies the training.
        log_every: target steps per progress line; the lines (Keras epochs, history entries) and
            checkpoints come every :func:`log_chunk` steps.
        seed: seed of the sample grids' latents.
        verbose: as :func:`~ambient_dcs.training.train`.

    Returns:
        ``(history, seconds)``: the history dict of this call (one entry per line; empty when the
        folder held the finished training) and the seconds of training.

    Example:
        >>> history, seconds = train_run(gan, data, steps=800, run_dir=out / "csgan_T3_s0_training",
        ...                              settings={"latent_steps": 3, "seed": 0, "steps": 800}, log_every=300)
    """
    run_dir = pathlib.Path(run_dir)
    settings = json.loads(json.dumps(settings))
    stale = run_dir.exists() and _read_json(run_dir / "settings.json") != settings
    if stale:
        print(f"{run_dir} holds a training with other settings; starting it over.", flush=True)
    _start_run(run_dir, settings, clear=stale)
    history = train(model, data, steps=steps, out_dir=run_dir, checkpoint_every=log_chunk(steps, log_every),
                    seed=seed, verbose=verbose)
    return dict(history.history), float(history.seconds)
