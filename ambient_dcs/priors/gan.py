"""Training a GAN prior into a folder: networks, optimizers, checkpoints, resume, and a finished file.

The recipes train many priors (AmbientGAN from measurements, the ``unmeasure`` and ``ignore``
baselines, an oracle on clean images). :func:`train_prior` does it the same way for all of them:

* builds the networks for the image and measurement shapes (:func:`build_networks`);
* trains with :func:`ambient_dcs.train` (exactly ``config.steps`` steps, a progress bar, a checkpoint
  every ``checkpoint_every`` steps with exact resume after an interruption, PNG sample grids,
  TensorBoard scalars, a divergence guard);
* saves the generator as ``<out>/<name>.keras`` (loads with ``keras.saving.load_model``) with its
  settings and training numbers in ``<out>/<name>.json`` and the operator config in
  ``<out>/<name>.operator.json`` (:class:`~ambient_dcs.priors.store.PriorFolder`).

A finished prior is never overwritten by accident: run again with the same settings and it is
reused; with other settings :class:`~ambient_dcs.priors.store.PriorExistsError` is raised before any
work, unless ``overwrite=True``.

Example:
    >>> config = PriorConfig(steps=2000, seed=0)
    >>> result = train_prior({"y": y, "theta": theta}, op, (28, 28, 1), config, "results/run", name="prior")
    >>> result.generator            # z (N, 32) → images (N, 28, 28, 1) in [0, 1]
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import keras
import numpy as np
import tensorflow as tf

import measurements
from measurements.validation import check_int

from .. import networks
from ..models.ambientgan import LATENT_DISTRIBUTIONS, LOSSES, MODES, AmbientGAN
from ..models.inversion import AmbientGANWithInversion
from ..training.callbacks.divergence import TrainingDiverged
from ..training.fit import train
from .store import PriorFolder, prior_settings, training_dataset

__all__ = ["PriorConfig", "TrainedPrior", "build_networks", "build_trainer", "train_prior", "load_prior",
           "compile_trainer"]

@dataclasses.dataclass
class PriorConfig:
    """Settings of a prior's training. The defaults fit a CPU: minutes, not hours.

    The networks are the AmbientGAN MNIST WGAN-GP pair at a quarter of its channels (``width``;
    1.0 is the paper's, about 16× the FLOPs) for images whose sides are multiples of 4, else the DCS
    MLP pair. One critic update per generator update with a 4× larger critic learning rate (the
    two-time-scale rule of Heusel et al. 2017) instead of the paper's 5 critic updates: the same
    progress for about a third of the compute on this budget.

    Attributes:
        steps: generator updates.
        batch_size: examples per update.
        latent_dim: size of ``z``.
        latent_distribution: ``"normal"`` (CSGM starts from ``N(0, I)`` and its ``λ‖z‖²`` is this
            prior's negative log density) or ``"uniform"`` (the paper's U[−1, 1]).
        width: channel multiplier of the conv networks.
        upsampling: ``"nearest"`` (default: nearest-neighbour resize-convolutions), ``"bilinear"``
            or ``"transpose"`` (the paper's transposed convolutions), see
            :func:`~ambient_dcs.networks.mnist_wgan_generator`: with a blur, the transposed
            convolutions' checkerboard patterns are invisible to the discriminator and can take
            over the samples.
        loss: ``"wgan-gp"``, ``"dcgan"`` or ``"lsgan"``.
        d_steps: critic updates per generator update.
        g_learning_rate, d_learning_rate: Adam learning rates (β₁ 0.5, β₂ 0.9).
        latent_steps: > 0 also trains the learned latent optimisation of
            :class:`~ambient_dcs.models.inversion.AmbientGANWithInversion` with this many steps
            (the fast reconstructor); 0 trains a plain AmbientGAN.
        checkpoint_every: steps between checkpoints.
        jit_compile: compile the training step with XLA. Off by default: on the 2-core reference
            CPU XLA makes these networks' steps slower (``docs/results/benchmarks.md``). Try it on a GPU.
        steps_per_execution: training steps per call of the compiled train function (Keras'
            ``steps_per_execution``): fewer Python round trips; checkpoints and logs then happen at
            multiples of it.
        seed: seed of the weights, the data order and the training stream.
    """

    steps: int = 2000
    batch_size: int = 64
    latent_dim: int = 32
    latent_distribution: str = "normal"
    width: float = 0.25
    upsampling: str = "nearest"
    loss: str = "wgan-gp"
    d_steps: int = 1
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 4e-4
    latent_steps: int = 0
    checkpoint_every: int = 250
    jit_compile: bool = False
    steps_per_execution: int = 1
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "latent_dim", "d_steps", "checkpoint_every", "steps_per_execution"):
            check_int(getattr(self, name), "PriorConfig", name, 1)
        check_int(self.latent_steps, "PriorConfig", "latent_steps", 0)
        if self.loss not in LOSSES:
            raise ValueError(f"PriorConfig: expected loss in {list(LOSSES)}; received {self.loss!r}.")
        if self.upsampling not in networks.UPSAMPLINGS:
            raise ValueError(f"PriorConfig: expected upsampling in {list(networks.UPSAMPLINGS)}; "
                             f"received {self.upsampling!r}.")
        if self.latent_distribution not in LATENT_DISTRIBUTIONS:
            raise ValueError(f"PriorConfig: expected latent_distribution in {list(LATENT_DISTRIBUTIONS)}; "
                             f"received {self.latent_distribution!r}.")
        for name in ("g_learning_rate", "d_learning_rate", "width"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"PriorConfig: expected {name} > 0; received {value!r}.")

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TrainedPrior:
    """A trained (or reused) prior.

    Attributes:
        generator: the Keras generator ``z → x`` in [0, 1].
        path: the ``.keras`` file.
        info: settings and training numbers (what ``<name>.json`` holds).
        trainer: the trainer (``None`` when the prior was loaded from a finished file).
        reused: whether a finished file was loaded instead of training.
    """

    generator: keras.Model
    path: pathlib.Path
    info: dict
    trainer: AmbientGAN | None = None
    reused: bool = False

    def fast_path(self):
        """What the fast reconstructor of a prior trained with ``latent_steps > 0`` needs: the
        ``LearnedLatentReconstructor`` arguments ``steps``, ``step_size``, ``project`` and
        ``latent_distribution`` (from :attr:`info`, so a reused prior has them too).

        Example:
            >>> LearnedLatentReconstructor(prior.generator, op, **prior.fast_path(), restarts=4)
        """
        inv = self.info.get("inversion")
        if not inv:
            raise ValueError(f"{self.path.name} was trained without the learned latent optimisation "
                             f"(latent_steps = 0): it has no fast reconstructor.")
        return {"steps": inv["latent_steps"], "step_size": inv["step_size"], "project": inv["project"],
                "latent_distribution": self.info["config"]["latent_distribution"]}


def build_networks(operator, image_shape, config, mode="ambient"):
    """``(generator, discriminator)`` for ``config`` and what the discriminator sees in ``mode``.

    Images whose sides are multiples of 4: :func:`~ambient_dcs.networks.mnist_wgan_generator` and,
    for image-shaped inputs, :func:`~ambient_dcs.networks.conv_critic` at ``config.width``;
    otherwise the DCS MLP pair. Vector measurements get the MLP
    :func:`~ambient_dcs.networks.vector_discriminator` (with θ when the operator exposes it).
    """
    h, w, _ = image_shape
    seeds = np.random.SeedSequence(config.seed).generate_state(2)
    g_seed, d_seed = (int(s) & 0x7FFFFFFF for s in seeds)
    if h % 4 == 0 and w % 4 == 0:
        generator = networks.mnist_wgan_generator(config.latent_dim, image_shape, seed=g_seed, width=config.width,
                                                  upsampling=config.upsampling)
    else:
        generator = networks.mlp_generator(config.latent_dim, image_shape, seed=g_seed)
    if mode == "ambient":
        discriminator = networks.discriminator_for(operator, image_shape, seed=d_seed, width=config.width)
    elif h >= 8 and w >= 8:
        discriminator = networks.conv_critic(image_shape, seed=d_seed, width=config.width)
    else:
        discriminator = networks.mlp_discriminator(image_shape, seed=d_seed)
    return generator, discriminator


def build_trainer(operator, image_shape, config, mode="ambient"):
    """An (un-compiled) :class:`AmbientGAN`, or :class:`AmbientGANWithInversion` when
    ``config.latent_steps > 0``, with the networks of :func:`build_networks`."""
    if mode not in MODES:
        raise ValueError(f"build_trainer: expected mode in {list(MODES)}; received {mode!r}.")
    generator, discriminator = build_networks(operator, image_shape, config, mode)
    common = dict(mode=mode, loss=config.loss, d_steps=config.d_steps, latent_distribution=config.latent_distribution,
                  seed=config.seed)
    if config.latent_steps > 0:
        return AmbientGANWithInversion(generator, discriminator, operator, latent_steps=config.latent_steps, **common)
    return AmbientGAN(generator, discriminator, operator, **common)


def compile_trainer(trainer, config, steps_per_execution=None):
    """Compiles a trainer of :func:`build_trainer` with ``config``'s optimizers (Adam, β₁ 0.5, β₂ 0.9),
    XLA setting and steps per execution (default ``config.steps_per_execution``); returns it."""
    adam = dict(beta_1=0.5, beta_2=0.9)
    trainer.compile(g_optimizer=keras.optimizers.Adam(config.g_learning_rate, **adam),
                    d_optimizer=keras.optimizers.Adam(config.d_learning_rate, **adam), jit_compile=config.jit_compile,
                    steps_per_execution=steps_per_execution or config.steps_per_execution)
    return trainer


def load_prior(path):
    """A finished prior: ``(generator, info)`` from ``<name>.keras`` and its ``<name>.json`` (if any)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"prior {path} does not exist.")
    try:
        generator = keras.saving.load_model(path)
    except Exception as err:
        raise ValueError(f"{path} is not a loadable Keras model ({type(err).__name__}: {err}).") from None
    meta = path.with_suffix(".json")
    info = json.loads(meta.read_text()) if meta.exists() else {}
    return generator, info


def train_prior(data, operator, image_shape, config, out_dir, name="prior", mode="ambient", overwrite=False,
                verbose=1, sample_operator=None, progress=None, strategy=None):
    """Trains (or resumes, or reuses) a prior and saves it as ``<out_dir>/<name>.keras``.

    Args:
        data: what the discriminator's real side comes from: clean images ``(N, H, W, C)`` (the
            oracle, or simulated measurements), ``{"y": y, "theta": {...}}`` (measurements only), or
            images inverted by ``unmeasure_dataset`` for ``mode="unmeasure"``.
        operator: the measurement operator (``measurements.Identity()`` for a GAN on clean images).
        image_shape: ``(H, W, C)`` of the signals.
        config: a :class:`PriorConfig`.
        out_dir: the run's folder; training files go to ``<out_dir>/<name>_training/``
            (``backup/`` for resume, ``samples/`` grids, ``logs/`` TensorBoard).
        name: file name of the prior.
        mode: ``"ambient"``, ``"ignore"`` or ``"unmeasure"``.
        overwrite: retrain even if a finished prior is there (the old one is replaced at the end).
        verbose: 0 silent, 1 messages (reuse, resume, saved file).
        progress: show Keras progress bars (default: ``verbose``).
        sample_operator: operator for the measured sample grids (default ``operator``).
        strategy: a ``tf.distribute`` strategy (default: the current one, one device); the
            networks and optimizers are built in its scope and ``config.batch_size`` is the global
            batch, split across its replicas (see :mod:`ambient_dcs.training.distribute`).

    Returns:
        A :class:`TrainedPrior`.

    Raises:
        PriorExistsError: a finished prior or a checkpoint with other settings is in ``out_dir``
            (:meth:`~ambient_dcs.priors.store.PriorFolder.plan`).
        ValueError: bad data or settings (before training starts).
    """
    image_shape = tuple(int(d) for d in image_shape)
    operator.ensure_built(image_shape)
    ds, n = training_dataset(data, config)
    settings = prior_settings(operator, image_shape, config, mode, n)
    folder = PriorFolder(out_dir, name)
    if folder.plan(settings, overwrite) == "reuse":
        generator, info = load_prior(folder.path)
        if verbose:
            print(f"Reusing the finished prior {folder.path} (same settings; --overwrite retrains it).", flush=True)
        return TrainedPrior(generator, folder.path, info, reused=True)
    run_dir = folder.begin(settings, overwrite)
    with (strategy or tf.distribute.get_strategy()).scope():
        trainer = compile_trainer(build_trainer(operator, image_shape, config, mode), config, _steps_per_call(config))
    if verbose:
        print(f"Training {name} ({mode}, {type(operator).__name__}): {config.steps} steps of batch "
              f"{config.batch_size} on {n} examples; checkpoints in {run_dir / 'backup'}.", flush=True)
    try:
        history = train(trainer, ds, steps=config.steps, out_dir=run_dir, checkpoint_every=config.checkpoint_every,
                        seed=config.seed, verbose=int(bool(verbose if progress is None else progress)),
                        sample_operator=sample_operator or operator)
    except TrainingDiverged as err:
        raise TrainingDiverged(f"{name}: {err} Lower the learning rates or change the seed.") from None
    info = dict(settings, steps=history.steps, train_seconds=history.seconds,
                final_logs={k: float(v[-1]) for k, v in history.history.items()},
                resumed_from_step=history.initial_step or None)
    if isinstance(trainer, AmbientGANWithInversion):
        info["inversion"] = {"latent_steps": trainer.latent_steps, "step_size": trainer.step_size,
                             "project": trainer.project}
    folder.finish(trainer.generator, info, operator=measurements.config_of(operator))
    if verbose:
        print(f"Saved {folder.path} ({history.seconds:.0f} s of training).", flush=True)
    return TrainedPrior(trainer.generator, folder.path, info, trainer=trainer)


def _steps_per_call(config):
    """Steps per compiled call: at most ``config.steps_per_execution``, dividing the run and the
    checkpoint interval exactly (checkpoints and logs happen between calls)."""
    return next(c for c in range(min(config.steps_per_execution, config.checkpoint_every), 0, -1)
                if config.steps % c == 0 and config.checkpoint_every % c == 0)
