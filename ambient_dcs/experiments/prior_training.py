"""Prior quality per CPU-minute: classifier FID against training wall time, for training candidates.

Every GAN of the project trains at 1–2 % of the paper's budget, so what a user gets is decided by
how fast the quality improves. For each measurement setting (the clean reference, AmbientGAN on
measured data) and each candidate (:data:`CANDIDATES`: overrides of
:class:`~ambient_dcs.priors.PriorConfig`), a prior trains for ``budget_seconds`` of wall time and is
scored every ``every_seconds`` of training (:class:`~ambient_dcs.training.callbacks.ScoreCurve`:
classifier FID / IS of ``samples`` generated digits against the clean training digits, the scoring
time excluded from the clock). Measured settings use the realistic protocol: every training digit
measured once.

Example:
    >>> result = prior_training(PriorTrainingConfig(settings=["clean"], candidates=["default", "hinge"]))
    >>> markdown = write_prior_training_report(result)   # curves.png, table.md, results.json
    >>> result.rows[0]["fid_at_budget"]

``python -m recipes.prior_training`` is argparse and these two calls.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import numpy as np
import tensorflow as tf

import measurements as M

from ..data.datasets import load_dataset
from ..data.measured import measure_dataset
from ..metrics import classifier_scores, mnist_classifier
from ..priors.gan import PriorConfig, build_trainer, compile_trainer
from ..priors.store import training_dataset
from ..reporting.figures import save_curve_panels
from ..reporting.tables import machine_description, markdown_table, prepare_output_dir, write_json
from ..training.callbacks.score_curve import ScoreCurve
from .ambient_grid import IMAGE_SHAPE, SETTINGS, make_operator

__all__ = ["CANDIDATES", "PriorTrainingConfig", "train_for_budget", "generated", "PriorTrainingResult", "prior_training",
           "write_prior_training_report",
           "curve_table", "doc_prior_training_table"]

#: name → PriorConfig overrides. "default" is the main job's prior (batch 32, 25 steps per compiled
#: call); "grid" the ambient_measurements grid's (batch 16, 50 steps per call); the others change one
#: thing of "default" (or of "grid").
_MAIN = {"batch_size": 32, "steps_per_execution": 25}
CANDIDATES = {
    "default": _MAIN,
    "grid": {"batch_size": 16, "steps_per_execution": 50},
    "grid, lr ×2": {"batch_size": 16, "steps_per_execution": 50, "g_learning_rate": 2e-4, "d_learning_rate": 8e-4},
    "grid, lr ×3": {"batch_size": 16, "steps_per_execution": 50, "g_learning_rate": 3e-4, "d_learning_rate": 1.2e-3},
    "batch 64": {**_MAIN, "batch_size": 64},
    "batch 16": {**_MAIN, "batch_size": 16},
    "hinge": {**_MAIN, "loss": "hinge"},
    "lsgan": {**_MAIN, "loss": "lsgan"},
    "dcgan": {**_MAIN, "loss": "dcgan"},
    "lr ×2": {**_MAIN, "g_learning_rate": 2e-4, "d_learning_rate": 8e-4},
    "lr ×3": {**_MAIN, "g_learning_rate": 3e-4, "d_learning_rate": 1.2e-3},
    "width 0.5": {**_MAIN, "width": 0.5},
    "width 0.125": {**_MAIN, "width": 0.125},
    "2 critic steps": {**_MAIN, "d_steps": 2},
    "bilinear": {**_MAIN, "upsampling": "bilinear"},
}


@dataclasses.dataclass
class PriorTrainingConfig:
    """Settings (the flags of ``recipes.prior_training``, same names).

    Attributes:
        settings: ``"clean"`` (a GAN on the clean digits) and names of
            :data:`~ambient_dcs.experiments.ambient_grid.SETTINGS` (AmbientGAN on digits measured once).
        candidates: names of :data:`CANDIDATES`.
        budget_seconds: training wall time of every run.
        every_seconds: training seconds between scores.
        samples: generated digits per score.
        seed: seed of the networks, data order, measurements and scored latents.
        classifier_epochs: epochs of the cached scoring classifier.
        strategy, precision: recorded with the settings (the strategy object is an argument of
            :func:`prior_training`).
        out: output folder (one ``runs/<setting>__<candidate>.json`` per finished run: a re-run
            with the same budget, sampling, seed, strategy and precision skips it).
    """

    settings: list = dataclasses.field(default_factory=lambda: ["clean", "pixeldrop-0.8", "blur-noise-0.5"])
    candidates: list = dataclasses.field(default_factory=lambda: ["default", "grid"])
    budget_seconds: float = 100.0
    every_seconds: float = 25.0
    samples: int = 2000
    seed: int = 0
    classifier_epochs: int = 20
    strategy: str = "default"
    precision: str = "float32"
    out: str = "results/prior_training"


@dataclasses.dataclass
class PriorTrainingResult:
    """Attributes: config; out; rows (one per run: setting, candidate, curve points, FID at the
    budget, steps, seconds per step); wall_time_s."""

    config: PriorTrainingConfig
    out: pathlib.Path
    rows: list
    wall_time_s: float


def _run_file(out, setting, candidate):
    return out / "runs" / f"{setting}__{candidate.replace(' ', '_').replace('/', '-').replace('×', 'x')}.json"


def generated(generator, n, seed, batch_size=500):
    """``n`` images of ``generator`` from fixed standard-normal latents (``seed``), in batches."""
    z = np.random.default_rng(seed).standard_normal((n, generator.input_shape[-1])).astype("float32")
    return np.concatenate([np.asarray(generator(z[i:i + batch_size], training=False))
                           for i in range(0, n, batch_size)])


def train_for_budget(op, data, candidate, seed, budget_seconds, every_seconds=None, score=None, strategy=None):
    """An AmbientGAN of ``candidate`` (:data:`CANDIDATES`) trained on ``data`` until ``budget_seconds`` of
    training wall time, scored by ``score(model) → dict`` every ``every_seconds`` (default: at the end only).

    Returns:
        ``(trainer, curve)``: the trained :class:`~ambient_dcs.models.AmbientGAN` and its
        :class:`~ambient_dcs.training.callbacks.ScoreCurve` (``curve.points``, ``curve.seconds``).
    """
    prior_config = PriorConfig(**{"steps": 10**6, "seed": seed, **CANDIDATES[candidate]})
    with (strategy or tf.distribute.get_strategy()).scope():
        trainer = compile_trainer(build_trainer(op, IMAGE_SHAPE, prior_config, "ambient"), prior_config)
    ds, _ = training_dataset(data, prior_config)
    curve = ScoreCurve(score or (lambda m: {}), every_seconds or budget_seconds, budget_seconds)
    per_call = prior_config.steps_per_execution
    trainer.fit(ds, epochs=1, steps_per_epoch=prior_config.steps // per_call * per_call, callbacks=[curve], verbose=0)
    return trainer, curve


def _one_run(setting, candidate, data, op, classifier, reference, config):
    def score(model):
        s = classifier_scores(generated(model.generator, config.samples, config.seed + 1), classifier, reference)
        return {"fid": float(s["fid"]), "inception_score": float(s["inception_score"])}

    _, curve = train_for_budget(op, data, candidate, config.seed, config.budget_seconds, config.every_seconds, score)
    last = curve.points[-1]
    return {"setting": setting, "candidate": candidate, "overrides": CANDIDATES[candidate], "points": curve.points,
            "fid_at_budget": last["fid"], "is_at_budget": last["inception_score"], "steps": last["step"],
            "train_seconds": last["seconds"], "seconds_per_step": last["seconds"] / max(last["step"], 1),
            "best_fid": min(p["fid"] for p in curve.points)}


def prior_training(config, strategy=None):
    """Trains and scores every (setting, candidate) run; prints the plan, then one line per run.

    Args:
        config: a :class:`PriorTrainingConfig`.
        strategy: a ``tf.distribute`` strategy (default: the current one).

    Returns:
        A :class:`PriorTrainingResult` (the figure and tables by :func:`write_prior_training_report`).
    """
    unknown = [c for c in config.candidates if c not in CANDIDATES] + [
        s for s in config.settings if s != "clean" and s not in SETTINGS]
    if unknown:
        raise ValueError(f"prior_training: unknown setting(s) or candidate(s) {unknown}; expected settings in "
                         f"{['clean', *SETTINGS]} and candidates in {list(CANDIDATES)}.")
    out = prepare_output_dir(config.out)
    total = len(config.settings) * len(config.candidates)
    print(f"prior_training: {total} runs × {config.budget_seconds:.0f} s of training, scored every "
          f"{config.every_seconds:.0f} s on {config.samples} samples; expect about "
          f"{total * (config.budget_seconds + 20) / 60:.0f} min. Output: {out}/", flush=True)
    start = time.perf_counter()
    x_train = load_dataset("mnist-embedded", "train")
    classifier = mnist_classifier(epochs=config.classifier_epochs, verbose=0)
    identity = {k: v for k, v in dataclasses.asdict(config).items()
                if k in ("budget_seconds", "every_seconds", "samples", "seed", "strategy", "precision")}
    rows = []
    for setting in config.settings:
        if setting == "clean":
            op, data = M.Identity(), x_train
        else:
            op = make_operator(setting, config.seed)
            op.ensure_built(IMAGE_SHAPE)
            y, theta = measure_dataset(op, x_train, seed=config.seed)
            data = {"y": y, "theta": theta}
        for candidate in config.candidates:
            path = _run_file(out, setting, candidate)
            if path.exists() and json.loads(path.read_text()).get("identity") == identity:
                rows.append(json.loads(path.read_text())["row"])
                print(f"[{len(rows)}/{total}] {setting}, {candidate}: reused {path}", flush=True)
                continue
            with (strategy or tf.distribute.get_strategy()).scope():
                row = _one_run(setting, candidate, data, op, classifier, x_train, config)
            write_json({"identity": identity, "row": row}, path)
            rows.append(row)
            print(f"[{len(rows)}/{total}] {setting}, {candidate}: FID {row['fid_at_budget']:.1f} after "
                  f"{row['steps']} steps in {row['train_seconds']:.0f} s (best {row['best_fid']:.1f})", flush=True)
    return PriorTrainingResult(config, out, rows, time.perf_counter() - start)


def curve_table(rows):
    """Markdown: per setting and candidate, the FID at each scored time and at the budget."""
    table = [{"setting": r["setting"], "candidate": r["candidate"], "steps": r["steps"],
              "ms_per_step": 1e3 * r["seconds_per_step"],
              "curve": " → ".join(f"{p['fid']:.0f}" for p in r["points"]),
              "fid_at_budget": r["fid_at_budget"], "is_at_budget": r["is_at_budget"]} for r in rows]
    return markdown_table(table, ["setting", "candidate", "steps", "ms_per_step", "curve", "fid_at_budget",
                                  "is_at_budget"],
                          ["setting", "candidate", "steps in budget", "ms / step", "FID every ~25 s",
                           "FID at budget ↓", "IS at budget ↑"], digits=4)


def doc_prior_training_table(results):
    """The table of ``docs/results/prior_training.md`` from a run's ``results.json``."""
    return curve_table(results["rows"])


def write_prior_training_report(result):
    """Writes ``curves.png`` (FID against training seconds, one panel per setting), ``table.md`` and
    ``results.json``; returns the Markdown."""
    config, out = result.config, result.out
    panels = {}
    for r in result.rows:
        panels.setdefault(r["setting"], {})[r["candidate"]] = ([p["seconds"] for p in r["points"]],
                                                               [p["fid"] for p in r["points"]])
    save_curve_panels(panels, out / "curves.png", xlabel="training wall time (s)", ylabel="classifier FID ↓")
    md = "\n".join([
        "# Prior quality per CPU-minute", "",
        f"Each run: {config.budget_seconds:.0f} s of training wall time, classifier FID / IS of {config.samples} "
        f"samples every {config.every_seconds:.0f} s of training (scoring excluded), against the 4,000 clean "
        f"training digits; seed {config.seed}. Wall time {result.wall_time_s / 60:.1f} min.", "",
        curve_table(result.rows), "", "![FID against training time](curves.png)", ""])
    (out / "table.md").write_text(md)
    write_json({"settings": dataclasses.asdict(config), "candidates": {c: CANDIDATES[c] for c in config.candidates},
                "rows": result.rows, "machine": machine_description(), "wall_time_s": result.wall_time_s},
               out / "results.json")
    return md
