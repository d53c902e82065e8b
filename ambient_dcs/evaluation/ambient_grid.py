"""AmbientGAN vs its baselines for a grid of measurement settings (Bora et al. 2018, §5), scored by IS / FID.

For each measurement setting the training images are measured once (the trainers see only the
measurements), then, with the same budget and seed, three generators are trained: ``ambient``
(AmbientGAN), ``ignore`` (a GAN trained on the measurements as if they were images; image-shaped
measurements only) and ``unmeasure`` (the measurements inverted first, then an ordinary GAN; where
such an inverse exists), plus one reference GAN on the clean images. Each generator is scored with
the project's MNIST classifier (:func:`~ambient_dcs.evaluation.metrics.classifier_scores`).

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
from ..priors import PriorConfig, estimate_training_seconds, train_prior
from ..reporting.figures import save_image_grid
from ..reporting.tables import machine_description, markdown_table, prepare_output_dir, write_csv, write_json
from .metrics import classifier_scores, mnist_classifier

__all__ = ["SETTINGS", "MODES", "KEY_SETTINGS", "AmbientGridConfig", "AmbientGridResult", "ambient_grid",
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


@dataclasses.dataclass
class AmbientGridConfig:
    """Settings of the grid (the flags of ``recipes.ambient_measurements``, same names).

    Attributes:
        settings: names from :data:`SETTINGS` to run.
        seeds: each run is repeated per seed.
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
    """Attributes: config; out; rows (one per run and seed: setting, mode, seed, inception_score, fid,
    train_seconds); table (:func:`summarise` of the rows); ceiling (the clean test digits' scores);
    classifier_test_accuracy; verdicts (:func:`verdicts`); wall_time_s."""

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


def runs_of(settings, no_reference):
    """(setting, mode) pairs that exist: ignore needs image-shaped measurements, unmeasure an inverse."""
    runs = []
    for name in settings:
        op = make_operator(name)
        for mode in MODES:
            if mode == "ignore" and tuple(op.measurement_shape(IMAGE_SHAPE)) != IMAGE_SHAPE:
                continue
            if mode == "unmeasure" and not unmeasure_methods(op):
                continue
            runs.append((name, mode))
    if not no_reference:
        runs.append(("clean", "reference"))
    return runs


def score(generator, classifier, reference, n, seed):
    """``(samples, classifier_scores)`` of ``n`` samples of ``generator`` (``z`` drawn with ``seed``)."""
    z = np.random.default_rng(seed).standard_normal((n, int(generator.input_shape[-1]))).astype("float32")
    samples = np.concatenate([np.asarray(generator(z[i:i + 500], training=False)) for i in range(0, n, 500)])
    return samples, classifier_scores(samples, classifier, reference)


def summarise(rows):
    """Mean ± std over seeds per (setting, mode)."""
    table = []
    for key in dict.fromkeys((r["setting"], r["mode"]) for r in rows):
        sel = [r for r in rows if (r["setting"], r["mode"]) == key]
        is_, fid = np.array([r["inception_score"] for r in sel]), np.array([r["fid"] for r in sel])
        table.append({"setting": key[0], "mode": key[1], "seeds": len(sel),
                      "IS": f"{is_.mean():.2f} ± {is_.std(ddof=1) if len(sel) > 1 else 0:.2f}",
                      "FID": f"{fid.mean():.1f} ± {fid.std(ddof=1) if len(sel) > 1 else 0:.1f}",
                      "is_mean": float(is_.mean()), "fid_mean": float(fid.mean()),
                      "train_s": float(np.mean([r["train_seconds"] for r in sel]))})
    return table


def verdicts(table):
    """One sentence per setting: is AmbientGAN's FID the best of its modes?"""
    lines = []
    for setting in dict.fromkeys(r["setting"] for r in table):
        fid = {r["mode"]: r["fid_mean"] for r in table if r["setting"] == setting}
        if "ambient" not in fid or len(fid) < 2:
            continue
        others = {m: v for m, v in fid.items() if m != "ambient"}
        won = all(fid["ambient"] < v for v in others.values())
        lines.append(f"{setting}: ambient FID {fid['ambient']:.1f} vs "
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
    runs = runs_of(config.settings, config.no_reference)
    total = len(runs) * len(config.seeds)
    per_run = estimate_training_seconds(PriorConfig(steps=config.steps, batch_size=config.batch_size,
                                                    width=config.width))
    print(f"ambient_measurements: {total} trainings of {config.steps} steps ({len(config.settings)} settings × modes, "
          f"{len(config.seeds)} seed(s)); expect about {(total * (per_run + 8) + 60) / 60:.0f} minutes on a 2-core "
          f"CPU. Output: {out}/", flush=True)
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
        for setting, mode in runs:
            tag = f"{setting}_{mode}_seed{seed}"
            print(f"[{len(rows) + 1}/{total}] {tag}", flush=True)
            if mode == "reference":
                op, data, train_mode = M.Identity(), x_train, "ambient"
            else:
                op = make_operator(setting, seed)
                op.ensure_built(IMAGE_SHAPE)
                if setting not in measured:  # measured once per setting: what an instrument recorded
                    measured[setting] = measure_dataset(op, x_train, seed=seed)
                y, theta = measured[setting]
                data = (unmeasure_dataset(op, y, theta, method=unmeasure_methods(op)[0]) if mode == "unmeasure"
                        else {"y": y, "theta": theta})
                train_mode = mode
            prior = train_prior(data, op, IMAGE_SHAPE, prior_config, out / "runs", name=tag, mode=train_mode,
                                verbose=0, progress=not config.quiet, strategy=strategy)
            samples, scores = score(prior.generator, classifier, x_train, config.samples, seed)
            save_image_grid(samples[:64], out / "samples" / f"{tag}.png", title=f"{setting}, {mode}, seed {seed}")
            rows.append({"setting": setting, "mode": mode, "seed": seed, "inception_score": scores["inception_score"],
                         "fid": scores["fid"], "train_seconds": prior.info.get("train_seconds", 0.0)})
            print(f"    IS {scores['inception_score']:.2f}  FID {scores['fid']:.1f}", flush=True)

    table = summarise(rows)
    return AmbientGridResult(config, out, rows, table, ceiling, classifier.test_accuracy, verdicts(table),
                             time.perf_counter() - start)


def write_ambient_grid_report(result):
    """Writes ``table.csv`` (one row per run), ``table.md`` and ``results.json``; returns the Markdown."""
    config, out, seconds = result.config, result.out, result.wall_time_s
    write_csv(result.rows, out / "table.csv")
    md = [
        "# AmbientGAN vs baselines on embedded MNIST", "",
        f"Each run: {config.steps} generator updates of batch {config.batch_size} (WGAN-GP, one critic update per "
        f"generator update, critic lr 4e-4, generator lr 1e-4, networks at width {config.width} of the paper's), "
        f"seeds {config.seeds}. Scores over {config.samples} samples with the project's MNIST classifier (test "
        f"accuracy {result.classifier_test_accuracy:.4f}); FID against the 4,000 clean training digits.", "",
        markdown_table(result.table, ["setting", "mode", "seeds", "IS", "FID", "train_s"],
                       ["setting", "mode", "seeds", "IS ↑", "FID ↓", "train s"]), "",
        f"Ceiling (the 1,000 clean test digits): IS {result.ceiling['inception_score']:.2f}, "
        f"FID {result.ceiling['fid']:.2f}.", "",
        *[f"- {line}" for line in result.verdicts], "",
        f"Wall time: {seconds / 60:.1f} min. Sample grids: samples/.", "",
    ]
    (out / "table.md").write_text("\n".join(md))
    write_json({"settings": dataclasses.asdict(config), "rows": result.rows, "table": result.table,
                "ceiling": result.ceiling, "classifier_test_accuracy": result.classifier_test_accuracy,
                "machine": machine_description(), "wall_time_s": seconds}, out / "results.json")
    return "\n".join(md)
