"""Training a diffusion prior into a folder, the way :mod:`ambient_dcs.priors.gan` trains a GAN prior.

:func:`train_diffusion_prior` picks the trainer from the operator — clean images
(``measurements.Identity``): :class:`~ambient_dcs.models.DiffusionPrior` (the oracle); a masking
operator: :class:`~ambient_dcs.models.AmbientDiffusion`; any other linear operator with Gaussian
noise: :class:`~ambient_dcs.models.DiffusionEM` — trains it with :func:`ambient_dcs.train`
(checkpoints, exact resume, progress, divergence guard) for ``config.steps`` steps or until
``budget_seconds`` of training, and saves the whole trainer as ``<out>/<name>.keras`` (a
:class:`~ambient_dcs.reconstruction.PosteriorSampling` prior, or ``prior.sample(n)``) with its settings
in ``<name>.json`` (:class:`~ambient_dcs.priors.store.PriorFolder`). A finished prior with the same
settings is reused; with other settings :class:`~ambient_dcs.priors.store.PriorExistsError` is raised
before any work (unless ``overwrite``).

Example:
    >>> config = DiffusionConfig(steps=2000, seed=0)
    >>> result = train_diffusion_prior({"y": y, "theta": theta}, op, (28, 28, 1), config, "results/run")
    >>> result.model.sample(16)                        # (16, 28, 28, 1) in [0, 1]
"""

from __future__ import annotations

import dataclasses
import pathlib

import keras
import tensorflow as tf

import measurements
from measurements.validation import check_int

from ..models.diffusion import AmbientDiffusion, DiffusionPrior
from ..models.diffusion_em import DiffusionEM
from ..networks import unet
from ..training.callbacks.divergence import TrainingDiverged
from ..training.callbacks.score_curve import ScoreCurve
from ..training.fit import train
from .store import PriorFolder, prior_settings, training_dataset

__all__ = ["DiffusionConfig", "TrainedDiffusionPrior", "FAMILIES", "family_of", "build_diffusion_trainer",
           "train_diffusion_prior"]

#: Diffusion trainers by name (``DiffusionConfig.family``; ``"auto"`` picks by the operator).
FAMILIES = ("auto", "oracle", "ambient", "em")


@dataclasses.dataclass
class DiffusionConfig:
    """Settings of a diffusion prior's training.

    Attributes:
        steps: training steps (the most; ``budget_seconds`` may stop earlier).
        batch_size: training batch (global under a strategy).
        channels: U-Net channels per resolution (:func:`ambient_dcs.networks.unet`).
        learning_rate: Adam's.
        family: ``"auto"`` (by the operator: oracle for ``Identity``, ambient for masks, em otherwise),
            ``"oracle"``, ``"ambient"`` or ``"em"``.
        delta: Ambient Diffusion's further-corruption probability.
        pool, gaussian_laps, e_every, posterior_steps, cg_iterations: :class:`DiffusionEM`'s (``pool``
            0: all training measurements).
        checkpoint_every: steps between checkpoints.
        jit_compile: XLA for the training step.
        seed: seed of the networks, the training stream and the data order.
    """

    steps: int = 2000
    batch_size: int = 64
    channels: tuple = (16, 32)
    learning_rate: float = 1e-3
    family: str = "auto"
    delta: float = 0.1
    pool: int = 0
    gaussian_laps: int = 2
    e_every: int = 8
    posterior_steps: int = 6
    cg_iterations: int = 1
    checkpoint_every: int = 250
    jit_compile: bool = False
    seed: int = 0

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        if self.family not in FAMILIES:
            raise ValueError(f"DiffusionConfig: expected family in {list(FAMILIES)}; received {self.family!r}.")
        for name in ("steps", "batch_size", "checkpoint_every", "e_every", "posterior_steps", "cg_iterations"):
            check_int(getattr(self, name), "DiffusionConfig", name, 1)

    def as_dict(self):
        return {**dataclasses.asdict(self), "channels": list(self.channels), "kind": "diffusion"}


@dataclasses.dataclass
class TrainedDiffusionPrior:
    """A trained (or reused) diffusion prior: ``model`` (the trainer: ``sample``, ``denoiser``), its
    ``.keras`` ``path``, ``info`` (settings and training numbers) and whether it was ``reused``."""

    model: DiffusionPrior
    path: pathlib.Path
    info: dict
    reused: bool = False


def family_of(operator, family="auto"):
    """The trainer family for ``operator``: ``"oracle"``, ``"ambient"`` or ``"em"`` (see :data:`FAMILIES`)."""
    if family != "auto":
        return family
    if isinstance(operator, measurements.Identity):
        return "oracle"
    return "ambient" if operator.is_mask else "em"


def build_diffusion_trainer(operator, image_shape, config, training_examples):
    """The compiled trainer for ``operator`` (see :func:`family_of`), built in the current strategy's scope."""
    family = family_of(operator, config.family)
    shape = tuple(int(d) for d in image_shape)
    common = dict(seed=config.seed)
    if family == "oracle":
        model = DiffusionPrior(unet(shape, channels=config.channels, seed=config.seed), **common)
    elif family == "ambient":
        model = AmbientDiffusion(unet(shape, channels=config.channels, condition_channels=shape[-1], seed=config.seed),
                                 operator, delta=config.delta, **common)
    else:
        model = DiffusionEM(unet(shape, channels=config.channels, seed=config.seed), operator,
                            pool=config.pool or int(training_examples), gaussian_laps=config.gaussian_laps,
                            e_every=config.e_every, posterior_steps=config.posterior_steps,
                            cg_iterations=config.cg_iterations, **common)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=config.jit_compile)
    return model


def train_diffusion_prior(data, operator, image_shape, config, out_dir, name="diffusion_prior", overwrite=False,
                          budget_seconds=None, verbose=1, progress=None, strategy=None):
    """Trains (or resumes, or reuses) a diffusion prior and saves it as ``<out_dir>/<name>.keras``.

    Args:
        data: clean images ``(N, H, W, C)`` (with ``measurements.Identity()``) or
            ``{"y": y, "theta": {...}}`` measurements.
        operator: the measurement operator of ``data``.
        image_shape: ``(H, W, C)``.
        config: a :class:`DiffusionConfig`.
        out_dir: the run's folder (``<name>_training/`` holds checkpoints and logs).
        name: file name of the prior.
        overwrite: retrain even if a finished prior is there.
        budget_seconds: stop after this much training wall time (the same budget for every prior of
            a comparison); ``None``: ``config.steps`` steps.
        verbose: 0 silent, 1 messages (reuse, resume, saved file).
        progress: show Keras progress bars (default: ``verbose``).
        strategy: a ``tf.distribute`` strategy (default: the current one).

    Returns:
        A :class:`TrainedDiffusionPrior`.
    """
    image_shape = tuple(int(d) for d in image_shape)
    operator.ensure_built(image_shape)
    family = family_of(operator, config.family)
    if family == "oracle" and isinstance(data, dict):
        raise ValueError("train_diffusion_prior: the oracle family trains on clean images; received measurements.")
    if family != "oracle" and not isinstance(data, dict):
        raise ValueError(f"train_diffusion_prior: the {family} family trains on {{'y', 'theta'}} measurements; "
                         f"received an array of images.")
    ds, n = training_dataset(data, config)
    settings = prior_settings(operator, image_shape, config, family, n)
    if budget_seconds is not None:  # part of what identifies the prior
        settings["config"]["budget_seconds"] = budget_seconds
    folder = PriorFolder(out_dir, name)
    if folder.plan(settings, overwrite) == "reuse":
        if verbose:
            print(f"Reusing the finished diffusion prior {folder.path} (same settings; --overwrite retrains it).",
                  flush=True)
        return TrainedDiffusionPrior(keras.saving.load_model(folder.path), folder.path, folder.info(), reused=True)
    run_dir = folder.begin(settings, overwrite)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = build_diffusion_trainer(operator, image_shape, config, n)
    if verbose:
        limit = f" or {budget_seconds:.0f} s of training" if budget_seconds else ""
        print(f"Training {name} ({type(model).__name__}, {type(operator).__name__}): {config.steps} steps{limit} of "
              f"batch {config.batch_size} on {n} examples; checkpoints in {run_dir / 'backup'}.", flush=True)
    clock = ScoreCurve(lambda m: {}, every_seconds=budget_seconds or 1e12, budget_seconds=budget_seconds)
    try:
        history = train(model, ds, steps=config.steps, out_dir=run_dir, checkpoint_every=config.checkpoint_every,
                        seed=config.seed, verbose=int(bool(verbose if progress is None else progress)),
                        callbacks=[clock])
    except TrainingDiverged as err:
        raise TrainingDiverged(f"{name}: {err} Lower the learning rate or change the seed.") from None
    info = dict(settings, family=family, trainer=type(model).__name__, steps=model.steps_done,
                train_seconds=history.seconds, resumed_from_step=history.initial_step or None,
                final_logs={k: float(v[-1]) for k, v in history.history.items()})
    folder.finish(model, info)
    if verbose:
        print(f"Saved {folder.path} ({model.steps_done} steps, {history.seconds:.0f} s of training).", flush=True)
    return TrainedDiffusionPrior(model, folder.path, info)
