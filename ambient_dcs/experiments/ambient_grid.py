"""AmbientGAN vs its baselines for a grid of measurement settings (Bora et al. 2018, §5), scored by IS / FID.

With the same budget and seed, three generators are trained per measurement setting: ``ambient``
(AmbientGAN), ``ignore`` (a GAN trained on the measurements as if they were images; image-shaped
measurements only) and ``unmeasure-<method>`` (the measurements inverted first, then an ordinary
GAN; one run per classical inverse that fits — blur fill and biharmonic inpainting for the masks,
Wiener for the blur — so the stronger baseline is always there), plus one reference GAN on the
clean images. Each generator is scored with the project's MNIST classifier
(:func:`~ambient_dcs.metrics.classifier_scores`).

Two θ protocols (:data:`THETA_PROTOCOLS`) answer different questions:

* ``"once"``: every training image is measured once, and the trainers see only these measurements
  — what an instrument gives a domain scientist;
* ``"per-batch"``: a fresh θ (and fresh noise) is drawn for every batch from the clean training
  images, as the original AmbientGAN code does (over its 27,000 iterations of batch 64 each MNIST
  digit is seen under about 29 masks). The paper's protocol. ``unmeasure`` has no per-batch run
  here (its inverse is computed once for a fixed dataset).

Example:
    >>> result = ambient_grid(AmbientGridConfig(settings=["pixeldrop-0.8"], steps=2000, out="results/grid"))
    >>> markdown = write_ambient_grid_report(result)     # table.md, table.csv, results.json
    >>> result.verdicts                                  # "pixeldrop-0.8: ambient FID … — ambient is best."

``python -m recipes.ambient_measurements`` is argparse and these two calls.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np

import measurements as M

from ..data.datasets import load_dataset
from ..data.measured import measure_dataset, unmeasure_dataset
from ..metrics import classifier_scores, mnist_classifier
from ..priors.gan import PriorConfig, train_prior
from ..reporting.figures import save_image_grid
from ..reporting.tables import machine_description, markdown_table, prepare_output_dir, write_csv, write_json
from .costs import gan_training_seconds, machine_speed

__all__ = ["SETTINGS", "MODES", "KEY_SETTINGS", "THETA_PROTOCOLS", "grid_markdown",
           "doc_grid_table", "AmbientGridConfig", "AmbientGridResult", "ambient_grid",
           "write_ambient_grid_report", "make_operator", "unmeasure_methods", "runs_of", "score", "summarise",
           "verdicts"]

IMAGE_SHAPE = (28, 28, 1)
#: name → (operator name, arguments). The paper's MNIST settings (Bora et al. 2018, §5 / Fig. 5–7).
SETTINGS = {
    "pixeldrop-0.5": ("PixelDrop", {"p": 0.5}),
    "pixeldrop-0.8": ("PixelDrop", {"p": 0.8}),
    "pixeldrop-0.95": ("PixelDrop", {"p": 0.95}),
    "blur-noise-0.1": ("GaussianBlur", {"sigma": 1.0, "size": 5, "noise": {"GaussianNoise": {"std": 0.1}}}),
    "blur-noise-0.5": ("GaussianBlur", {"sigma": 1.0, "size": 5, "noise": {"GaussianNoise": {"std": 0.5}}}),
    "blockdrop-14": ("BlockDrop", {"size": 14}),
    "project-2": ("PadRotateProject", {"num_angles": 2}),
    "project-2-theta": ("PadRotateProject", {"num_angles": 2, "expose_theta": True}),
}
MODES = ("ambient", "ignore", "unmeasure")
#: The settings where the issue asks AmbientGAN to beat both baselines on FID.
KEY_SETTINGS = ("pixeldrop-0.8", "pixeldrop-0.95", "blur-noise-0.5")
#: How θ is drawn for the real measurements (see the module docstring); ``"per-batch"`` is the paper's.
THETA_PROTOCOLS = ("once", "per-batch")
#: Modes that have a per-batch run (the unmeasure baseline inverts a fixed dataset).
PER_BATCH_MODES = ("ambient", "ignore")


@dataclasses.dataclass
class AmbientGridConfig:
    """Settings of the grid (the flags of ``recipes.ambient_measurements``, same names).

    Attributes:
        settings: names from :data:`SETTINGS` to run.
        seeds: each run is repeated per seed.
        theta: θ protocols to run (:data:`THETA_PROTOCOLS`).
        steps, width, batch_size, xla: every generator's training (see :class:`~ambient_dcs.priors.PriorConfig`).
        samples: generated samples scored per run.
        no_reference: skip the GAN on clean digits.
        classifier_epochs: epochs of the scoring MNIST classifier (trained once, cached).
        strategy, precision: recorded with the settings (the strategy object is an argument of :func:`ambient_grid`).
        out: output folder (``runs/`` the generators, ``samples/`` one grid per run).
        quiet: no progress bars.
    """

    settings: list = dataclasses.field(default_factory=lambda: list(SETTINGS))
    seeds: list = dataclasses.field(default_factory=lambda: [0])
    theta: list = dataclasses.field(default_factory=lambda: ["once"])
    steps: int = 2000
    width: float = 0.25
    batch_size: int = 16
    xla: bool = False
    samples: int = 1000
    no_reference: bool = False
    classifier_epochs: int = 20
    strategy: str = "default"
    precision: str = "float32"
    out: str = "results/ambient_measurements"
    quiet: bool = False


@dataclasses.dataclass
class AmbientGridResult:
    """Attributes: config; out; rows (one per run and seed: setting, mode (``unmeasure-<method>`` for
    the baselines), theta, seed, inception_score, fid, train_seconds); table (:func:`summarise` of the
    rows); ceiling (the clean test digits' scores); classifier_test_accuracy; verdicts
    (:func:`verdicts`); wall_time_s."""

    config: AmbientGridConfig
    out: pathlib.Path
    rows: list
    table: list
    ceiling: dict
    classifier_test_accuracy: float
    verdicts: list
    wall_time_s: float


def make_operator(name, seed=0):
    """The operator of setting ``name`` (see :data:`SETTINGS`)."""
    op_name, op_args = SETTINGS[name]
    return M.get(op_name, **op_args, seed=seed)


def unmeasure_methods(op):
    """The classical inverses of the paper's unmeasure baseline (blur fill, Wiener, inpainting). The bare
    pseudo-inverse is not one: as in the original code, the 1-D projections have no unmeasure."""
    return [m for m in M.available_methods(op) if m != "pinv"]


def runs_of(settings, no_reference, theta=("once",)):
    """``(setting, mode, θ protocol, unmeasure method or None)`` of every run that exists: ignore needs
    image-shaped measurements, unmeasure an inverse (one run per inverse, and a fixed dataset: no
    per-batch run); the reference is protocol-free (``"–"``)."""
    runs = []
    for name in settings:
        op = make_operator(name)
        for protocol in theta:
            for mode in MODES if protocol == "once" else PER_BATCH_MODES:
                if mode == "ignore" and tuple(op.measurement_shape(IMAGE_SHAPE)) != IMAGE_SHAPE:
                    continue
                methods = unmeasure_methods(op) if mode == "unmeasure" else [None]
                runs += [(name, mode, protocol, method) for method in methods]
    if not no_reference:
        runs.append(("clean", "reference", "–", None))
    return runs


def score(generator, classifier, reference, n, seed):
    """``(samples, classifier_scores)`` of ``n`` samples of ``generator`` (``z`` drawn with ``seed``)."""
    z = np.random.default_rng(seed).standard_normal((n, int(generator.input_shape[-1]))).astype("float32")
    samples = np.concatenate([np.asarray(generator(z[i:i + 500], training=False)) for i in range(0, n, 500)])
    return samples, classifier_scores(samples, classifier, reference)


def summarise(rows):
    """Mean ± std over seeds per (setting, mode, θ protocol)."""
    table = []
    for key in dict.fromkeys((r["setting"], r["mode"], r.get("theta", "once")) for r in rows):
        sel = [r for r in rows if (r["setting"], r["mode"], r.get("theta", "once")) == key]
        is_, fid = np.array([r["inception_score"] for r in sel]), np.array([r["fid"] for r in sel])
        table.append({"setting": key[0], "mode": key[1], "theta": key[2], "seeds": len(sel),
                      "IS": f"{is_.mean():.2f} ± {is_.std(ddof=1) if len(sel) > 1 else 0:.2f}",
                      "FID": f"{fid.mean():.1f} ± {fid.std(ddof=1) if len(sel) > 1 else 0:.1f}",
                      "is_mean": float(is_.mean()), "fid_mean": float(fid.mean()),
                      "train_s": float(np.mean([r["train_seconds"] for r in sel]))})
    return table


def verdicts(table):
    """One sentence per setting and θ protocol: is AmbientGAN's FID the best of its modes, the better
    unmeasure inverse included (the unmeasure baselines, measured once, stand beside both protocols)?"""
    lines = []
    for setting in dict.fromkeys(r["setting"] for r in table):
        entries = [r for r in table if r["setting"] == setting]
        for protocol in dict.fromkeys(r["theta"] for r in entries):
            fid = {r["mode"]: r["fid_mean"] for r in entries
                   if r["theta"] == protocol or r["mode"].startswith("unmeasure")}
            if "ambient" not in fid or len(fid) < 2:
                continue
            others = {m: v for m, v in fid.items() if m != "ambient"}
            won = all(fid["ambient"] < v for v in others.values())
            label = f"{setting}" + (f" (θ {protocol})" if protocol != "once" else "")
            lines.append(f"{label}: ambient FID {fid['ambient']:.1f} vs "
                         + ", ".join(f"{m} {v:.1f}" for m, v in others.items())
                         + (" — ambient is best." if won else " — ambient is NOT best."))
    return lines


def ambient_grid(config, strategy=None):
    """Trains and scores every run of the grid; prints the plan with the expected time, then the progress.

    Args:
        config: an :class:`AmbientGridConfig`.
        strategy: the ``tf.distribute`` strategy of the trainings (default: the current one).

    Returns:
        An :class:`AmbientGridResult` (the sample grids and the generators are written already; the
        tables by :func:`write_ambient_grid_report`).
    """
    out = prepare_output_dir(config.out)
    runs = runs_of(config.settings, config.no_reference, config.theta)
    total = len(runs) * len(config.seeds)
    speed = machine_speed()
    per_run = gan_training_seconds(PriorConfig(steps=config.steps, batch_size=config.batch_size, width=config.width),
                                   speed=speed)
    print(f"ambient_measurements: {total} trainings of {config.steps} steps ({len(config.settings)} settings × modes × "
          f"θ protocols {config.theta}, {len(config.seeds)} seed(s)); expect about "
          f"{(total * (per_run + 8 * speed) + 60 * speed) / 60:.0f} minutes on this machine. Output: {out}/", flush=True)
    start = time.perf_counter()
    x_train = load_dataset("mnist-embedded", "train")
    x_test = load_dataset("mnist-embedded", "test")
    classifier = mnist_classifier(epochs=config.classifier_epochs, verbose=0 if config.quiet else 1)
    ceiling = classifier_scores(x_test, classifier, x_train)
    print(f"MNIST classifier: test accuracy {classifier.test_accuracy:.4f}. Clean test digits (the ceiling): "
          f"IS {ceiling['inception_score']:.2f}, FID {ceiling['fid']:.2f}.", flush=True)

    rows = []
    for seed in config.seeds:
        prior_config = PriorConfig(steps=config.steps, batch_size=config.batch_size, width=config.width, seed=seed,
                                   checkpoint_every=max(config.steps, 1), jit_compile=config.xla,
                                   steps_per_execution=50)
        measured = {}
        for setting, mode, protocol, method in runs:
            label = f"{mode}-{method}" if method else mode
            tag = f"{setting}_{label}_seed{seed}" + ("_theta-per-batch" if protocol == "per-batch" else "")
            print(f"[{len(rows) + 1}/{total}] {tag}", flush=True)
            if mode == "reference":
                op, data, train_mode = M.Identity(), x_train, "ambient"
            else:
                op = make_operator(setting, seed)
                op.ensure_built(IMAGE_SHAPE)
                train_mode = mode
                if protocol == "per-batch":  # the trainer measures the clean digits with a fresh θ every batch
                    data = x_train
                else:
                    if setting not in measured:  # measured once per setting: what an instrument recorded
                        measured[setting] = measure_dataset(op, x_train, seed=seed)
                    y, theta = measured[setting]
                    data = {"y": y, "theta": theta}
                    if mode == "unmeasure":
                        data = unmeasure_dataset(op, y, theta, method=method)
                        error = np.mean(np.sum((data[:200] - x_train[:200]) ** 2, axis=(1, 2, 3)))
                        print(f"    {method}: Σ(x̂ − x)² of the inverted training digits {error:.1f} (first 200)",
                              flush=True)
            prior = train_prior(data, op, IMAGE_SHAPE, prior_config, out / "runs", name=tag, mode=train_mode,
                                verbose=0, progress=not config.quiet, strategy=strategy)
            samples, scores = score(prior.generator, classifier, x_train, config.samples, seed)
            save_image_grid(samples[:64], out / "samples" / f"{tag}.png",
                            title=f"{setting}, {label}, θ {protocol}, seed {seed}")
            rows.append({"setting": setting, "mode": label, "theta": protocol, "seed": seed,
                         "inception_score": scores["inception_score"], "fid": scores["fid"],
                         "train_seconds": prior.info.get("train_seconds", 0.0)})
            print(f"    IS {scores['inception_score']:.2f}  FID {scores['fid']:.1f}", flush=True)

    table = summarise(rows)
    return AmbientGridResult(config, out, rows, table, ceiling, classifier.test_accuracy, verdicts(table),
                             time.perf_counter() - start)


def grid_markdown(table):
    """The grid's table (mean ± std over seeds) from :func:`summarise` rows."""
    return markdown_table(table, ["setting", "mode", "theta", "seeds", "IS", "FID", "train_s"],
                          ["setting", "mode", "θ", "seeds", "IS ↑", "FID ↓", "train s"])


def doc_grid_table(results):
    """The table of ``docs/results/ambient_measurements.md`` from a run's ``results.json``."""
    return grid_markdown(results["table"]) + "\n\n" + "\n".join(f"- {line}" for line in results["verdicts"])


def write_ambient_grid_report(result):
    """Writes ``table.csv`` (one row per run), ``table.md`` and ``results.json``; returns the Markdown."""
    config, out, seconds = result.config, result.out, result.wall_time_s
    write_csv(result.rows, out / "table.csv")
    md = [
        "# AmbientGAN vs baselines on embedded MNIST", "",
        f"Each run: {config.steps} generator updates of batch {config.batch_size} (WGAN-GP, one critic update per "
        f"generator update, critic lr 4e-4, generator lr 1e-4, networks at width {config.width} of the paper's), "
        f"seeds {config.seeds}, θ protocols {config.theta} (per-batch: a fresh θ every batch from the clean digits, "
        f"the paper's; once: each digit measured once). Scores over {config.samples} samples with the project's "
        f"MNIST classifier (test accuracy {result.classifier_test_accuracy:.4f}); FID against the 4,000 clean "
        f"training digits.", "",
        doc_grid_table({"table": result.table, "verdicts": result.verdicts}), "",
        f"Ceiling (the 1,000 clean test digits): IS {result.ceiling['inception_score']:.2f}, "
        f"FID {result.ceiling['fid']:.2f}.", "",
        f"Wall time: {seconds / 60:.1f} min. Sample grids: samples/.", "",
    ]
    (out / "table.md").write_text("\n".join(md))
    write_json({"settings": dataclasses.asdict(config), "rows": result.rows, "table": result.table,
                "verdicts": result.verdicts, "ceiling": result.ceiling,
                "classifier_test_accuracy": result.classifier_test_accuracy, "machine": machine_description(),
                "wall_time_s": seconds}, out / "results.json")
    return "\n".join(md)
