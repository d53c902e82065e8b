"""The main job as a library function: learn a prior from lossy measurements alone, then reconstruct with it.

:func:`ambient_then_reconstruct` runs the whole job from a :class:`MainJobConfig` and returns a
:class:`MainJobResult`; :func:`write_report` writes ``report.md``, ``metrics.json`` and the figures
from that result. ``python -m recipes.ambient_then_reconstruct`` is argparse and these two calls.

Demonstration mode (no ``measurements`` file): the clean training images of ``dataset`` are
measured once and the priors without clean data see only the measurements; held-out test images
are measured the same way and reconstructed by CSGM on the AmbientGAN prior and, with the same
budget, by the classical inverses (:func:`classical_methods`), CSGM on the unmeasure-baseline
prior and CSGM on an oracle prior trained on the clean images. With ``prior="diffusion"`` (or
``"both"``) a diffusion prior is learned from the same measurements (:mod:`ambient_dcs.priors.diffusion`:
Ambient Diffusion for masks, EM with posterior sampling otherwise) and the measurements are
reconstructed by posterior sampling, whose K samples give a per-pixel std (``uncertainty.png``:
the std beside the error |x̂ − x|). With ``measurements`` (a file of
:func:`ambient_dcs.data.files.save_measurements`) the prior is trained on the file and every
measurement in it is reconstructed; there is no ground truth.

Example:
    >>> result = ambient_then_reconstruct(MainJobConfig(steps=2000, out="results/run"))
    >>> table = write_report(result)            # report.md, metrics.json, reconstructions.png, samples.png
    >>> result.methods["CSGM, AmbientGAN prior (ours)"]["squared_error_mean"]
    >>> result.verdict                          # plain sentences: who beats whom

:func:`measure_to_file` writes such a measurement file from a dataset (``recipes.make_measurements``).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import numpy as np

import measurements as M

from ..data.datasets import DATASETS, load_dataset
from ..data.files import MeasurementFileError, load_measurements, operator_from_spec, save_measurements
from ..data.measured import measure_dataset, unmeasure_dataset
from ..metrics import posterior_coverage, reconstruction_summary
from ..priors.diffusion import DiffusionConfig, TrainedDiffusionPrior, family_of, train_diffusion_prior
from ..priors.gan import PriorConfig, load_prior, train_prior
from ..priors.store import PriorExistsError, check_prior_target, prior_settings
from ..reconstruction.baselines import ClassicalInverse, Lasso
from ..reconstruction.csgm import CSGM
from ..reconstruction.learned import LearnedLatentReconstructor
from ..reconstruction.posterior import PosteriorSampling
from ..reporting.figures import save_comparison_grid
from ..reporting.tables import machine_description, markdown_table, prepare_output_dir, write_json
from .costs import machine_speed, main_job_seconds

__all__ = ["MainJobConfig", "MainJobResult", "JobError", "ambient_then_reconstruct", "write_report",
           "resolve_operator", "classical_methods", "verdict", "table_rows", "doc_main_job_table", "measure_to_file",
           "DEFAULT_OPERATOR", "DEFAULT_OPERATOR_ARGS", "LASSO_MAX_RANDOM_IMAGES", "PRIOR_FAMILIES"]

DEFAULT_OPERATOR = "GaussianBlur"
DEFAULT_OPERATOR_ARGS = '{"sigma": 1.0, "size": 5, "noise": {"GaussianNoise": {"std": 0.5}}}'

#: ``MainJobConfig.prior``: which prior families to learn from the measurements.
PRIOR_FAMILIES = ("gan", "diffusion", "both")

#: Lasso with a random operator solves one problem per image; above this many images it is skipped.
LASSO_MAX_RANDOM_IMAGES = 500

OURS = "AmbientGAN prior (ours)"
UNMEASURE = "unmeasure-baseline prior"
ORACLE = "oracle prior (clean data)"
#: File name of each prior in the output folder → its label in the tables.
DIFFUSION = "diffusion prior from measurements (ours)"
PRIOR_LABELS = {"prior": OURS, "prior_unmeasure": UNMEASURE, "prior_oracle": ORACLE, "diffusion_prior": DIFFUSION}


class JobError(Exception):
    """A bad input or setting, found before the work it would spoil; the message says what to change."""


@dataclasses.dataclass
class MainJobConfig:
    """Settings of the main job (the flags of ``recipes.ambient_then_reconstruct``, same names).

    Attributes:
        dataset: clean images to measure in demonstration mode (a dataset name or a .npy/.npz file).
        operator, operator_args: the measurement operator (a name or a config .json, and a JSON object
            of its arguments); default :data:`DEFAULT_OPERATOR` with :data:`DEFAULT_OPERATOR_ARGS`, or
            the operator stored in ``measurements``.
        measurements: a measurement file (.npz): train on it and reconstruct all of it.
        image_shape: ``(H, W, C)`` of the signals when ``measurements`` does not store it.
        test_images: held-out images measured and reconstructed (demonstration mode).
        prior: the prior family learned from the measurements: ``"gan"`` (AmbientGAN, reconstructed by
            CSGM), ``"diffusion"`` (reconstructed by posterior sampling) or ``"both"``.
        prior_file: a trained generator (.keras) to use instead of training the AmbientGAN prior.
        steps, batch_size, latent_dim, width: the GAN priors' training (see :class:`PriorConfig`).
        diffusion_steps, diffusion_channels: the diffusion prior's training steps (batch 64) and U-Net.
        posterior_samples, posterior_steps: K samples per measurement and the sampler's noise levels.
        no_baselines: skip the unmeasure-baseline and oracle priors.
        fast: also train the learned latent optimisation (``latent_steps`` steps) and report the
            fast reconstructor.
        xla: compile the training steps with XLA.
        csgm_steps, restarts, z_prior_weight: the CSGM budget, the same for every prior.
        no_lasso: skip the Lasso baselines.
        strategy, precision: recorded with the settings (the strategy object is an argument of
            :func:`ambient_then_reconstruct`; the precision policy is set by the caller).
        out: the output folder.
        overwrite: retrain priors even if finished ones are in ``out``.
        checkpoint_every: training steps between checkpoints (resume after an interruption).
        seed: seed of the measurements, the training and the restarts.
        quiet: no progress bars.
    """

    dataset: str = "mnist-embedded"
    operator: str | None = None
    operator_args: str | None = None
    measurements: str | None = None
    image_shape: tuple | None = None
    test_images: int = 100
    prior: str = "gan"
    prior_file: str | None = None
    steps: int = 2000
    batch_size: int = 32
    latent_dim: int = 32
    width: float = 0.25
    no_baselines: bool = False
    fast: bool = False
    latent_steps: int = 3
    xla: bool = False
    csgm_steps: int = 300
    restarts: int = 3
    z_prior_weight: float = 0.1
    no_lasso: bool = False
    strategy: str = "default"
    precision: str = "float32"
    out: str = "results/ambient_then_reconstruct"
    overwrite: bool = False
    checkpoint_every: int = 250
    seed: int = 0
    quiet: bool = False
    diffusion_steps: int = 600
    diffusion_channels: tuple = (16, 32)
    posterior_samples: int = 8
    posterior_steps: int = 12

    @property
    def gan(self):
        return self.prior in ("gan", "both")

    @property
    def diffusion(self):
        return self.prior in ("diffusion", "both")

    def diffusion_config(self):
        """The :class:`~ambient_dcs.priors.diffusion.DiffusionConfig` of the diffusion prior."""
        return DiffusionConfig(steps=self.diffusion_steps, channels=tuple(self.diffusion_channels),
                               checkpoint_every=self.checkpoint_every, seed=self.seed)

    def prior_config(self):
        """The :class:`PriorConfig` of the AmbientGAN prior."""
        return PriorConfig(steps=self.steps, batch_size=self.batch_size, latent_dim=self.latent_dim, width=self.width,
                           latent_steps=self.latent_steps if self.fast else 0, checkpoint_every=self.checkpoint_every,
                           jit_compile=self.xla, steps_per_execution=25, seed=self.seed)


@dataclasses.dataclass
class MainJobResult:
    """What the main job found; :func:`write_report` writes it.

    Attributes:
        config: the settings.
        out: the output folder.
        operator, image_shape: the measurement operator and the signals' shape.
        methods: method name → summary of its reconstructions (``reconstruction_summary``; Lasso adds
            its ``alpha``), in the table's order.
        reconstructions: method name → its :class:`~ambient_dcs.reconstruction.base.Reconstruction`.
        priors: label → :class:`~ambient_dcs.priors.TrainedPrior` of every prior trained or reused.
        generator: the prior of "CSGM, AmbientGAN prior (ours)" (trained, or ``config.prior_file``;
            ``None`` without a GAN prior).
        y, theta: the reconstructed measurements; truth: their clean images (``None`` for a file).
        notes: sentences for the report besides the verdict.
        started: ``time.perf_counter()`` at the start of the run; wall_time_s: set by :func:`write_report`.
    """

    config: MainJobConfig
    out: pathlib.Path
    operator: object
    image_shape: tuple
    methods: dict
    reconstructions: dict
    priors: dict
    generator: object
    y: np.ndarray
    theta: dict
    truth: np.ndarray | None
    notes: list
    started: float
    wall_time_s: float | None = None

    @property
    def with_truth(self):
        return self.truth is not None

    @property
    def verdict(self):
        return verdict(self.methods, dataset=None if self.config.measurements else self.config.dataset)


# ---------------------------------------------------------------------------------------------- set-up
def resolve_operator(config):
    """The operator of ``config.operator`` / ``config.operator_args`` (the default blur + noise if neither is given)."""
    spec = config.operator or DEFAULT_OPERATOR
    if config.operator_args is not None:
        op_args = config.operator_args
    else:
        op_args = DEFAULT_OPERATOR_ARGS if spec == DEFAULT_OPERATOR else None
    return operator_from_spec(spec, None if spec.endswith(".json") else op_args)


def _csgm(generator, op, config):
    return CSGM(generator, op, steps=config.csgm_steps, restarts=config.restarts, z_prior_weight=config.z_prior_weight,
                batch_size=min(256, config.test_images), seed=config.seed, keep_samples=config.restarts > 1)


def _posterior(model, op, config):
    return PosteriorSampling(model, op, samples=config.posterior_samples, steps=config.posterior_steps,
                             batch_size=max(1, 64 // config.posterior_samples), seed=config.seed)


def lasso_runs(op, images):
    """Whether the Lasso baselines reconstruct ``images`` measurements of ``op``: a linear operator, and for
    a random one (a matrix per image) at most :data:`LASSO_MAX_RANDOM_IMAGES` images."""
    return op.is_linear and (not op.is_random or images <= LASSO_MAX_RANDOM_IMAGES)


def classical_methods(op, image_shape, images, lasso=True):
    """Inverses that need no training: the unmeasure inverse(s) and, for linear operators and
    ``lasso``, Lasso in DCT and Haar-wavelet bases (α by the discrepancy principle under Gaussian
    noise, else 0.1); for random operators, whose matrix differs per image, only up to
    :data:`LASSO_MAX_RANDOM_IMAGES` images. Returns name → reconstructor."""
    methods = {}
    names = [m for m in M.available_methods(op) if m != "pinv"] or M.available_methods(op)
    labels = {"wiener": "Wiener deconvolution", "blur": "blur fill", "inpaint": "biharmonic inpainting",
              "pinv": "pseudo-inverse"}
    for name in names:
        methods[labels[name]] = ClassicalInverse(op, name, image_shape=image_shape)
    gaussian = isinstance(op.noise, M.GaussianNoise) and op.noise.std > 0
    if lasso and lasso_runs(op, images):
        for basis in ("dct", "wavelet"):
            alpha = "discrepancy" if gaussian else 0.1
            methods[f"Lasso ({basis.upper() if basis == 'dct' else 'Haar wavelet'})"] = Lasso(
                op, basis=basis, alpha=alpha, image_shape=image_shape)
    return methods


def _run_method(name, method, y, theta, x=None):
    print(f"  reconstructing with {name} …", flush=True)
    rec = method.reconstruct(y, theta or None)
    summary = reconstruction_summary(rec.x, x, rec.measurement_error, rec.wall_time)
    if x is not None and rec.samples is not None and rec.samples.shape[1] > 1:
        summary.update({f"coverage_{k}": v for k, v in posterior_coverage(x, rec.samples).items()},
                       samples=int(rec.samples.shape[1]))
    if isinstance(method, Lasso):
        summary["alpha"] = method.alpha_
    return rec, summary


# ---------------------------------------------------------------------------------------------- the run
def _load_inputs(config):
    """``(op, measurement file or None, image shape or None, generator or None)``; :class:`JobError` on bad input."""
    try:
        data, image_shape = None, None
        if config.measurements:
            data = load_measurements(config.measurements, operator=config.operator and resolve_operator(config),
                                     image_shape=config.image_shape)
            op, image_shape = data.operator, data.image_shape
        else:
            op = resolve_operator(config)
        generator = load_prior(config.prior_file)[0] if config.prior_file else None
        if config.prior not in PRIOR_FAMILIES:
            raise ValueError(f"expected prior in {list(PRIOR_FAMILIES)}; received {config.prior!r} (a trained "
                             f"generator file goes to prior_file / --prior-file).")
        if config.diffusion:
            if not op.is_linear:
                raise ValueError(f"a diffusion prior needs a linear operator; {type(op).__name__} is not (use "
                                 f"--prior gan).")
            M.noise_std_of(op)  # a Gaussian noise model, or none
    except (MeasurementFileError, FileNotFoundError, ValueError) as err:
        raise JobError(str(err)) from err
    return op, data, image_shape, generator


def _plan(config, op, n_train, demonstration, train_ours):
    """The priors to train: file name → (data size, operator, mode, :class:`PriorConfig` or
    :class:`DiffusionConfig`)."""
    prior_config = config.prior_config()
    plan = {"prior": (n_train, op, "ambient", prior_config)} if train_ours and config.gan else {}
    if config.diffusion:
        plan["diffusion_prior"] = (n_train, op, family_of(op), config.diffusion_config())
    if demonstration and not config.no_baselines and config.gan:
        plain = PriorConfig(**(prior_config.as_dict() | {"latent_steps": 0}))  # baselines: ordinary GANs, same budget
        if M.available_methods(op):
            plan["prior_unmeasure"] = (n_train, op, "unmeasure", plain)
        plan["prior_oracle"] = (n_train, M.Identity(), "ambient", plain)
    return plan


def ambient_then_reconstruct(config, strategy=None, started=None):
    """Runs the main job: measure (or read) the data, train the priors, reconstruct and compare.

    Every input is checked before any work; a finished prior in ``config.out`` with the same settings
    is reused, an interrupted training resumes from its last checkpoint, and a finished prior with
    other settings stops the run (unless ``config.overwrite``). Prints the plan with the expected
    time first, then the progress.

    Args:
        config: a :class:`MainJobConfig`.
        strategy: the ``tf.distribute`` strategy of the trainings (default: the current one).
        started: ``time.perf_counter()`` at the start of the run (default: now), for the wall time.

    Returns:
        A :class:`MainJobResult` (nothing written but the priors: see :func:`write_report`).

    Raises:
        JobError: a bad measurement file, operator, prior or setting, or a finished prior with other
            settings in the way; the output folder is not created when the inputs are bad.
    """
    started = time.perf_counter() if started is None else started
    out = pathlib.Path(config.out)
    op, data, image_shape, generator = _load_inputs(config)
    x_train = x_test = None
    if data is None:
        x_train, x_test = _split(config)
        image_shape = tuple(int(d) for d in x_train.shape[1:])
        try:
            op.ensure_built(image_shape)
        except ValueError as err:
            raise JobError(str(err)) from err
    if generator is not None and tuple(generator.output_shape[1:]) != tuple(image_shape):
        raise JobError(f"{config.prior_file} generates images of shape {tuple(generator.output_shape[1:])}; the "
                       f"measurements are of images of shape {tuple(image_shape)}.")
    n_images = len(data) if data is not None else len(x_test)
    plan = _plan(config, op, len(data) if data is not None else len(x_train), data is None, generator is None)
    _announce(config, op, out, image_shape, plan, n_images, lasso=not config.no_lasso and lasso_runs(op, n_images))
    try:
        if data is None:
            # The instrument: every training image measured once. The priors without clean data see only y, θ.
            y_train, theta_train = measure_dataset(op, x_train, seed=config.seed)
            y_test, theta_test = measure_dataset(op, x_test, seed=config.seed + 1)
            truth = x_test
        else:
            y_train, theta_train, y_test, theta_test, truth = data.y, data.theta, data.y, data.theta, None
        skipped = []  # the classical inverses are tried first: one that cannot run must not stop the job later
        classical = _usable(classical_methods(op, image_shape, n_images, lasso=not config.no_lasso), y_test[:2],
                            {k: v[:2] for k, v in theta_test.items()}, skipped)
        training_data = {"prior": lambda: {"y": y_train, "theta": theta_train},
                         "prior_unmeasure": lambda: unmeasure_dataset(op, y_train, theta_train),
                         "prior_oracle": lambda: x_train}
        priors = {}
        for name, (_, prior_op, mode, cfg) in plan.items():
            if isinstance(cfg, DiffusionConfig):
                priors[PRIOR_LABELS[name]] = train_diffusion_prior(
                    training_data["prior"](), prior_op, image_shape, cfg, out, name=name, overwrite=config.overwrite,
                    progress=not config.quiet, strategy=strategy)
            else:
                priors[PRIOR_LABELS[name]] = train_prior(
                    training_data[name](), prior_op, image_shape, cfg, out, name=name, mode=mode,
                    overwrite=config.overwrite, progress=not config.quiet, sample_operator=op, strategy=strategy)
    except (PriorExistsError, ValueError) as err:
        raise JobError(str(err)) from err
    if generator is None and OURS in priors:
        generator = priors[OURS].generator
    print("Reconstructing …", flush=True)
    recs, results = {}, {}
    for name, method in _methods(config, classical, op, generator, priors).items():
        recs[name], results[name] = _run_method(name, method, y_test, theta_test, truth)
    return MainJobResult(config, out, op, tuple(image_shape), results, recs, priors, generator, y_test, theta_test,
                         truth, skipped + _notes(op, image_shape, results), started)


def _announce(config, op, out, image_shape, plan, n_images, lasso):
    """Creates ``out`` and prints the plan and its expected time (:mod:`~ambient_dcs.experiments.costs`);
    fails first (:class:`JobError`) if a finished prior, or a checkpoint, with other settings is in the way."""
    prepare_output_dir(out)
    try:
        todo = [check_prior_target(out, name, prior_settings(prior_op, image_shape, cfg, mode, size), config.overwrite)
                for name, (size, prior_op, mode, cfg) in plan.items()]
    except PriorExistsError as err:
        raise JobError(str(err)) from err
    to_train = [cfg for (_, _, _, cfg), what in zip(plan.values(), todo) if what == "train"]
    reused = f", {todo.count('reuse')} finished one(s) reused" if "reuse" in todo else ""
    gans = sum(not isinstance(cfg, DiffusionConfig) for (_, _, _, cfg) in plan.values())
    gans = max(gans, int(config.gan))  # --prior-file: CSGM on a given generator
    steps = ", ".join(dict.fromkeys(
        f"{cfg.steps} steps {'for the diffusion prior' if isinstance(cfg, DiffusionConfig) else 'per GAN'}"
        for cfg in to_train))
    parts = main_job_seconds(config, to_train, gans, n_images, image_shape, lasso, speed=machine_speed())
    shape = "×".join(map(str, image_shape))
    print(f"ambient_then_reconstruct: {type(op).__name__} measurements of {shape} images of "
          f"{config.measurements or config.dataset}; {todo.count('train')} prior(s) to train"
          f"{f' ({steps})' if steps else ''}{reused}, {n_images} images to reconstruct. Expected time: about "
          f"{parts['total'] / 60:.0f} minutes on this machine (training {parts['training'] / 60:.0f}, "
          f"reconstruction {parts['reconstruction'] / 60:.0f}). Output: {out}/", flush=True)


def _split(config):
    """``(training images, test images)`` of ``config.dataset``: its two splits, or for a user's file (one
    set) all but its last ``test_images`` images and those, so that the test images are held out."""
    x = load_dataset(config.dataset, "train")
    if config.dataset in DATASETS:
        return x, load_dataset(config.dataset, "test")[: config.test_images]
    if len(x) <= config.test_images:
        raise JobError(f"{config.dataset} holds {len(x)} images; expected more than --test-images = "
                       f"{config.test_images} (its last {config.test_images} images are held out for testing).")
    return x[: -config.test_images], x[-config.test_images:]


def _usable(methods, y, theta, notes):
    """The ``methods`` that reconstruct the first measurements ``y`` (θ): each is tried before any training,
    and one that cannot run here (e.g. a Wiener filter under Poisson noise) is left out with a note."""
    kept = {}
    for name, method in methods.items():
        try:
            method.reconstruct(y, theta or None)
        except (ValueError, TypeError, NotImplementedError) as err:
            notes.append(f"{name} was not run: {err}")
            print(f"  {name} cannot run on these measurements and is left out: {err}", flush=True)
        else:
            kept[name] = method
    return kept


def _methods(config, classical, op, generator, priors):
    """``{label: reconstructor}``: the ``classical`` inverses, CSGM on our prior (and the fast path with
    ``--fast``), CSGM on the baseline priors."""
    methods = dict(classical)
    if generator is not None:
        methods[f"CSGM, {OURS}"] = _csgm(generator, op, config)
    if DIFFUSION in priors:
        methods[f"posterior mean, {DIFFUSION}"] = _posterior(priors[DIFFUSION].model, op, config)
    if config.fast and priors.get(OURS) is not None:
        fast = LearnedLatentReconstructor(priors[OURS].generator, op, **priors[OURS].fast_path(),
                                          restarts=config.restarts, batch_size=256, seed=config.seed)
        methods[f"fast path: {fast.steps} learned steps, {OURS}"] = fast
    for label in (UNMEASURE, ORACLE):
        if label in priors:
            methods[f"CSGM, {label}"] = _csgm(priors[label].generator, op, config)
    return methods


def _notes(op, image_shape, results):
    notes = []
    if isinstance(op.noise, M.GaussianNoise) and op.noise.std > 0:
        m = int(np.prod(op.measurement_shape(image_shape)))
        notes.append(f"The true signals themselves leave a measurement error of about m·σ² = {m} × {op.noise.std:g}² = "
                     f"{m * op.noise.std ** 2:.3g} (the noise): lower values mean fitting the noise.")
    for name, s in results.items():
        if "alpha" in s:
            notes.append(f"{name}: α = {s['alpha']:g}, chosen by the discrepancy principle (no ground truth used).")
    return notes


# ---------------------------------------------------------------------------------------------- report
COLUMNS = [("method", "method"), ("squared_error", "per-image squared error Σ(x̂−x)²"), ("psnr", "PSNR (dB)"),
           ("ssim", "SSIM"), ("measurement_error", "measurement error ‖y−A(x̂)‖²"), ("seconds_per_image", "s / image")]
COVERAGE = ("coverage", "\\|x − x̂\\| ≤ 2·std (calibrated value for K)")  # escaped: a table cell


def table_rows(results, with_truth):
    """``(rows, keys, headers)`` of the report's table: mean ± std of each method's numbers, and the
    calibration of the methods with K reconstructions per image (posterior samples, CSGM restarts)."""
    rows = []
    for name, s in results.items():
        row = {"method": name}
        for key in ("squared_error", "psnr", "ssim", "measurement_error"):
            if f"{key}_mean" in s:
                row[key] = f"{s[f'{key}_mean']:.3g} ± {s[f'{key}_std']:.2g}"
        row["seconds_per_image"] = f"{s['seconds_per_image']:.2g}"
        if "coverage_coverage" in s:
            row["coverage"] = f"{s['coverage_coverage']:.3f} ({s['coverage_calibrated']:.3f})"
        rows.append(row)
    keys = [k for k, _ in COLUMNS if with_truth or k not in ("squared_error", "psnr", "ssim")]
    if any("coverage" in r for r in rows):
        keys.append("coverage")
    return rows, keys, [dict(COLUMNS + [COVERAGE])[k] for k in keys]


def doc_main_job_table(metrics):
    """The methods table of ``docs/results/main_job.md`` from a run's ``metrics.json``."""
    rows, keys, headers = table_rows(metrics["methods"], with_truth="squared_error_mean" in next(
        iter(metrics["methods"].values())))
    return markdown_table(rows, keys, headers)


def verdict(results, dataset=None):
    """Plain sentences: does the AmbientGAN prior beat the classical inverses and the unmeasure prior?
    Does the diffusion prior's posterior mean beat CSGM on it, and is its posterior std calibrated?"""
    lines = []
    diffusion = results.get(f"posterior mean, {DIFFUSION}")
    ambient = results.get(f"CSGM, {OURS}")
    if diffusion is not None and "squared_error_mean" in diffusion:
        if ambient is not None and "squared_error_mean" in ambient:
            d, g = diffusion["squared_error_mean"], ambient["squared_error_mean"]
            lines.append(f"The diffusion prior's posterior mean ({d:.2f}) {'beats' if d < g else 'loses to'} CSGM on "
                         f"the AmbientGAN prior ({g:.2f}), both learned from the same measurements.")
        if "coverage_coverage" in diffusion:
            lines.append(f"Posterior std: {diffusion['coverage_coverage']:.3f} of the pixels lie within 2 std of the "
                         f"posterior mean (a calibrated posterior gives {diffusion['coverage_calibrated']:.3f} with "
                         f"K = {diffusion.get('samples', 'K')} samples; 0.954 with many).")
    if ambient is None or "squared_error_mean" not in ambient:
        return lines
    mine = ambient["squared_error_mean"]
    others = {k: v["squared_error_mean"] for k, v in results.items()
              if "oracle" not in k and "AmbientGAN" not in k and DIFFUSION not in k and "squared_error_mean" in v}
    beaten = [k for k, v in others.items() if mine < v]
    lost = [k for k, v in others.items() if mine >= v]
    if others:
        lines.append(f"The AmbientGAN prior's CSGM reconstructions ({mine:.2f}) beat "
                     + (f"every other method without clean data ({', '.join(f'{k} {others[k]:.2f}' for k in beaten)})."
                        if not lost else f"{len(beaten)} of {len(others)} methods without clean data; they lose to "
                        + ", ".join(f"{k} ({others[k]:.2f})" for k in lost) + "."))
    oracle = results.get(f"CSGM, {ORACLE}")
    if oracle is not None:
        gap = mine - oracle["squared_error_mean"]
        images = f"the clean images of {dataset}" if dataset else "the clean images"
        lines.append(f"Oracle gap: the prior trained on {images} reaches {oracle['squared_error_mean']:.2f}, "
                     f"{gap:+.2f} from the AmbientGAN prior ({100 * gap / max(oracle['squared_error_mean'], 1e-9):+.0f} %).")
    return lines


def _markdown(result, seconds):
    config, op, out = result.config, result.operator, result.out
    rows, keys, headers = table_rows(result.methods, result.with_truth)
    table = markdown_table(rows, keys, headers)
    op_text = json.dumps(M.config_of(op)["config"], default=str)
    machine = machine_description()
    lines = [
        "# Learn a prior from measurements, then reconstruct", "",
        f"Operator: `{type(op).__name__}` on images of shape {result.image_shape}; "
        + ("data: " + (config.measurements if config.measurements else f"{config.dataset}, training split measured "
                       f"once (the priors without clean data see only y), {config.test_images} held-out test images")
           + "."),
        "", table, "",
        *[f"- {line}" for line in result.verdict + result.notes], "",
        "## Settings", "",
        f"- Priors: AmbientGAN WGAN-GP, {config.steps} steps of batch {config.batch_size}, latent size "
        f"{config.latent_dim}, network width {config.width}, seed {config.seed}"
        + (f"; learned latent optimisation of {config.latent_steps} steps (--fast)" if config.fast else "") + ".",
        *([f"- Diffusion prior: {result.priors[DIFFUSION].info.get('trainer', 'diffusion')} (EDM, U-Net "
            f"{tuple(config.diffusion_channels)}), {config.diffusion_steps} steps of batch 64; posterior sampling: "
            f"MMPS, K = {config.posterior_samples} samples, {config.posterior_steps} noise levels, the posterior mean "
            f"reported, the samples' std in `uncertainty.png`."] if DIFFUSION in result.priors else []),
        f"- CSGM: Adam lr 0.01, {config.csgm_steps} steps × {config.restarts} restarts, λ = {config.z_prior_weight}, "
        f"the restart with the lowest measurement error kept; the same budget for every prior.",
        "- Per-image squared error Σ(x̂ − x)² and PSNR/SSIM with pixels in [0, 1]; mean ± standard deviation over images.",
        f"- Operator config: `{op_text}`",
        f"- Wall time of the whole run: {seconds / 60:.1f} min on {machine['cpu']} ({machine['cores']} cores).", "",
        "## Files", "",
        "- `metrics.json`: every number above, the settings and the machine.",
        "- `reconstructions.png`: rows = truth (if known), measurement, each method." if result.with_truth else
        "- `reconstructions.npz`: the reconstructions, in the input's order; `reconstructions.png`: the first ones.",
        "- `samples.png`: samples of each prior.",
        *(["- `uncertainty.png`: per method with K reconstructions per image, the estimate, |x̂ − x| and the "
           "per-pixel std, on one scale."] if (result.out / "uncertainty.png").exists() else []),
        *[f"- `{p.path.name}` (+ `{p.path.stem}.operator.json`, `{p.path.stem}.json`): {name}"
          for name, p in result.priors.items() if p is not None and p.path.parent.resolve() == out.resolve()],
        "",
    ]
    return table, "\n".join(lines)


def measurement_view(op, y, theta, image_shape):
    """The measurements as images for the figure (image-shaped ones as they are, others by A⁺)."""
    y = np.asarray(y)
    if y.ndim == 4 and tuple(y.shape[1:]) == tuple(image_shape):
        lo, hi = float(y.min()), float(y.max())
        return np.clip(y, 0, 1) if lo >= -0.05 and hi <= 1.05 else (y - lo) / max(hi - lo, 1e-9)
    if op.is_linear:
        return np.clip(np.asarray(op.pseudo_inverse(y, theta or None)), 0, 1)
    return None


def _figures(result):
    """reconstructions.png, samples.png and (no ground truth) reconstructions.npz."""
    out, recs = result.out, result.reconstructions
    shown = slice(0, min(10, len(result.y)))
    view = measurement_view(result.operator, result.y[shown], {k: v[shown] for k, v in result.theta.items()},
                            result.image_shape)
    rows, titles = [], []
    if result.with_truth:
        rows.append(result.truth[shown]); titles.append("truth")
    if view is not None:
        rows.append(view); titles.append("measurement")
    for name, rec in recs.items():
        rows.append(rec.x[shown]); titles.append(name.replace("CSGM, ", "").replace(" (clean data)", ""))
    save_comparison_grid(rows, out / "reconstructions.png", titles=titles)
    sample_rows, sample_titles = [], []
    rng = np.random.default_rng(result.config.seed)
    shown_priors = ({OURS: None} if result.generator is not None else {}) | result.priors
    for name, prior in shown_priors.items():
        if isinstance(prior, TrainedDiffusionPrior):
            sample_rows.append(prior.model.sample(10, seed=result.config.seed)); sample_titles.append(name)
            continue
        g = result.generator if prior is None else prior.generator
        z = rng.standard_normal((10, int(g.input_shape[-1]))).astype("float32")
        sample_rows.append(np.asarray(g(z, training=False))); sample_titles.append(name)
    if result.with_truth:
        _uncertainty_figure(result, shown)
    else:
        ours = recs.get(f"CSGM, {OURS}") or recs[f"posterior mean, {DIFFUSION}"]
        extra = {} if ours.std is None else {"std": ours.std}
        np.savez(out / "reconstructions.npz", **{"x": ours.x, "measurement_error": ours.measurement_error}, **extra,
                 **{f"x_{i}": rec.x for i, rec in enumerate(recs.values())})
        (out / "reconstructions_methods.json").write_text(json.dumps({f"x_{i}": n for i, n in enumerate(recs)}, indent=2))
    save_comparison_grid(sample_rows, out / "samples.png", titles=sample_titles)


def _uncertainty_figure(result, shown):
    """uncertainty.png: for each method with K reconstructions per image (posterior samples, CSGM
    restarts), its estimate, the error |x̂ − x| and the per-pixel std (both on the same scale)."""
    rows, titles = [result.truth[shown]], ["truth"]
    for name, rec in result.reconstructions.items():
        if rec.std is None:
            continue
        error, std = np.abs(rec.x[shown] - result.truth[shown]), rec.std[shown]
        scale = max(float(error.max()), float(std.max()), 1e-6)
        short = name.replace("CSGM, ", "CSGM: ").replace("posterior mean, ", "posterior: ").replace(" (ours)", "")
        rows += [rec.x[shown], error / scale, std / scale]
        titles += [short, "|x̂ − x|", "std (K reconstructions)"]
    if len(rows) > 1:
        save_comparison_grid(rows, result.out / "uncertainty.png", titles=titles)


def write_report(result):
    """Writes the main job's files to ``result.out``: ``reconstructions.png``, ``samples.png``,
    ``metrics.json`` (every number, the settings, the machine), ``report.md`` and, without ground
    truth, ``reconstructions.npz`` (+ ``reconstructions_methods.json``). Sets ``result.wall_time_s``.

    Returns:
        The Markdown table of the methods (as in ``report.md``).
    """
    _figures(result)
    result.wall_time_s = seconds = time.perf_counter() - result.started
    op = result.operator
    write_json({"settings": dataclasses.asdict(result.config) | {"operator_config": M.config_of(op)},
                "image_shape": list(result.image_shape), "methods": result.methods,
                "priors": {k: v.info | {"path": str(v.path), "reused": v.reused} for k, v in result.priors.items()},
                "notes": result.notes, "machine": machine_description(), "wall_time_s": seconds},
               result.out / "metrics.json")
    table, text = _markdown(result, seconds)
    (result.out / "report.md").write_text(text)
    return table


# ---------------------------------------------------------------------------------------------- files
def measure_to_file(path, operator, dataset="mnist-embedded", split="train", count=None, seed=0, truth=None):
    """Measures a dataset and writes what an instrument would record as one .npz file (no clean image).

    Args:
        path: the output ``.npz`` (see :func:`ambient_dcs.data.files.save_measurements`).
        operator: the measurement operator.
        dataset, split: the images (a dataset name or a .npy/.npz file of images).
        count: measure only the first ``count`` images (default: all).
        seed: seed of θ and of the noise.
        truth: also write the clean images to this ``.npy`` file.

    Returns:
        ``(path, y, theta, image_shape)``.

    Raises:
        ValueError: the operator does not fit the images.
    """
    x = load_dataset(dataset, split)
    if count is not None:
        x = x[:count]
    image_shape = tuple(int(d) for d in x.shape[1:])
    operator.ensure_built(image_shape)
    y, theta = measure_dataset(operator, x, seed=seed)
    path = save_measurements(path, y, theta, operator, image_shape=image_shape)
    if truth:
        np.save(truth, x)
    return path, y, theta, image_shape
