"""Diffusion priors learned from measurements only against AmbientGAN, at the same training wall time.

For each measurement setting of the embedded MNIST digits (each training digit measured once):

* **AmbientGAN** (the prior of ``recipes.prior_training``'s best-measured candidate by default,
  ``grid, lr ×3``) and the **diffusion prior learned from the same measurements** —
  :class:`~ambient_dcs.models.AmbientDiffusion` for masks, :class:`~ambient_dcs.models.DiffusionEM`
  for blur + noise — each trained for ``budget_seconds`` of wall time (tracing included);
* sample quality: classifier IS / FID of ``samples`` generated digits against the clean training digits;
* reconstruction of ``test_images`` held-out measurements: posterior sampling (MMPS, ``K`` samples,
  posterior mean) on the diffusion prior against CSGM (``restarts`` restarts) on the AmbientGAN
  prior, per-image squared error Σ(x̂ − x)²;
* calibration: the fraction of pixels with ``|x − mean| ≤ 2·std`` over the K posterior samples
  (:func:`~ambient_dcs.metrics.posterior_coverage`, with the value a calibrated posterior gives
  with K samples) — and the same for CSGM's restarts, which are not a posterior;

plus the **oracle**: a diffusion prior trained on the clean digits for the same wall time.

Example:
    >>> result = ambient_diffusion(AmbientDiffusionConfig(settings=["pixeldrop-0.8"], budget_seconds=60))
    >>> print(write_ambient_diffusion_report(result))
"""

from __future__ import annotations

import dataclasses
import json
import time

import keras
import numpy as np
import tensorflow as tf

import measurements as M

from ..data.datasets import load_dataset
from ..data.measured import measure_dataset
from ..metrics import classifier_scores, mnist_classifier, per_image_squared_error, posterior_coverage
from ..priors.diffusion import DiffusionConfig, family_of, train_diffusion_prior
from ..priors.store import PriorFolder
from ..reconstruction.csgm import CSGM
from ..reconstruction.posterior import PosteriorSampling
from ..reporting.figures import save_comparison_grid
from ..reporting.tables import machine_description, markdown_table, prepare_output_dir, write_json
from .ambient_grid import IMAGE_SHAPE, SETTINGS, make_operator
from .prior_training import CANDIDATES, generated, train_for_budget

__all__ = ["DEFAULT_SETTINGS", "AmbientDiffusionConfig", "AmbientDiffusionResult", "ambient_diffusion",
           "write_ambient_diffusion_report", "results_table", "doc_ambient_diffusion_table",
           "doc_ambient_diffusion_targets"]

#: The issue's five settings: three pixel-drop rates, a 14×14 block, blur σ = 1 + noise 0.5.
DEFAULT_SETTINGS = ["pixeldrop-0.5", "pixeldrop-0.8", "pixeldrop-0.95", "blockdrop-14", "blur-noise-0.5"]


@dataclasses.dataclass
class AmbientDiffusionConfig:
    """Settings (the flags of ``recipes.ambient_diffusion``, same names).

    Attributes:
        settings: names of :data:`~ambient_dcs.experiments.ambient_grid.SETTINGS`.
        budget_seconds: training wall time of every prior (AmbientGAN, diffusion, oracle).
        gan: the AmbientGAN's candidate (:data:`~ambient_dcs.experiments.prior_training.CANDIDATES`).
        channels, batch_size, learning_rate: the diffusion priors' U-Net and training.
        gaussian_laps, e_every, em_posterior_steps, cg_iterations, pool: :class:`DiffusionEM`'s.
        samples, sample_steps: generated digits per score and Heun steps of the diffusion sampler.
        test_images: held-out measurements reconstructed.
        posterior_samples, posterior_steps: K and the sampler's noise levels of posterior sampling.
        csgm_steps, restarts: CSGM's budget on the AmbientGAN prior.
        no_oracle: skip the oracle diffusion prior.
        seed, classifier_epochs, strategy, precision: as the other recipes.
        out: output folder; finished rows (``runs/<setting>.json``) and priors are reused.
    """

    settings: list = dataclasses.field(default_factory=lambda: list(DEFAULT_SETTINGS))
    budget_seconds: float = 120.0
    gan: str = "grid, lr ×3"
    channels: tuple = (16, 32)
    batch_size: int = 64
    learning_rate: float = 1e-3
    gaussian_laps: int = 2
    e_every: int = 8
    em_posterior_steps: int = 6
    cg_iterations: int = 1
    pool: int = 0
    samples: int = 1000
    sample_steps: int = 18
    test_images: int = 100
    posterior_samples: int = 8
    posterior_steps: int = 12
    csgm_steps: int = 200
    restarts: int = 3
    no_oracle: bool = False
    seed: int = 0
    classifier_epochs: int = 20
    strategy: str = "default"
    precision: str = "float32"
    out: str = "results/ambient_diffusion"

    def __post_init__(self):
        unknown = [s for s in self.settings if s not in SETTINGS]
        if unknown:
            raise ValueError(f"ambient_diffusion: unknown setting(s) {unknown}; expected names in {list(SETTINGS)}.")
        if self.gan not in CANDIDATES:
            raise ValueError(f"ambient_diffusion: unknown gan candidate {self.gan!r}; expected one of "
                             f"{list(CANDIDATES)}.")
        for s in self.settings:
            op = make_operator(s)
            if not op.is_linear:
                raise ValueError(f"ambient_diffusion: setting {s!r} is not a linear measurement (diffusion priors "
                                 f"here need a linear operator with Gaussian noise).")
            M.noise_std_of(op)  # raises for a non-Gaussian noise model
        self.channels = tuple(int(c) for c in self.channels)

    def diffusion_config(self):
        return DiffusionConfig(steps=10**6, batch_size=self.batch_size, channels=self.channels,
                               learning_rate=self.learning_rate, pool=self.pool, gaussian_laps=self.gaussian_laps,
                               e_every=self.e_every, posterior_steps=self.em_posterior_steps,
                               cg_iterations=self.cg_iterations, checkpoint_every=250, seed=self.seed)


@dataclasses.dataclass
class AmbientDiffusionResult:
    """Attributes: config; out; rows (one per setting and prior); figures (name → path); wall_time_s."""

    config: AmbientDiffusionConfig
    out: object
    rows: list
    figures: dict
    wall_time_s: float


def _gan(setting, op, data, config, out, strategy):
    """AmbientGAN trained for the budget (the generator saved in ``out``, reused when there)."""
    folder = PriorFolder(out / setting, "ambientgan")
    if folder.path.exists() and folder.record.exists():
        print(f"  reusing {folder.path}", flush=True)
        return keras.saving.load_model(folder.path), folder.info()
    trainer, clock = train_for_budget(op, data, config.gan, config.seed, config.budget_seconds, strategy=strategy)
    info = {"steps": trainer.steps_done, "train_seconds": clock.seconds, "candidate": config.gan}
    folder.out_dir.mkdir(parents=True, exist_ok=True)
    folder.finish(trainer.generator, info)
    return trainer.generator, info


def _scores(images, classifier, reference):
    s = classifier_scores(images, classifier, reference)
    return {"fid": float(s["fid"]), "inception_score": float(s["inception_score"])}


def _reconstruction(rec, truth):
    error = per_image_squared_error(np.clip(rec.x, 0, 1), truth)
    row = {"recon_error": float(error.mean()), "recon_error_sem": float(error.std(ddof=1) / np.sqrt(len(error))),
           "recon_seconds": float(rec.wall_time or 0.0)}
    if rec.samples is not None:
        row.update({f"calibration_{k}": v for k, v in posterior_coverage(truth, rec.samples).items()})
    return row


def _one_setting(setting, x_train, x_test, classifier, config, out, strategy):
    """Rows of AmbientGAN and of the diffusion prior learned from ``setting``'s measurements, and the
    arrays of the figures."""
    op = make_operator(setting, config.seed)
    op.ensure_built(IMAGE_SHAPE)
    y, theta = measure_dataset(op, x_train, seed=config.seed)
    y_test, theta_test = measure_dataset(op, x_test, seed=config.seed + 1)
    data = {"y": y, "theta": theta}
    print(f"[{setting}] AmbientGAN, {config.budget_seconds:.0f} s …", flush=True)
    generator, gan_info = _gan(setting, op, data, config, out, strategy)
    gan_samples = generated(generator, config.samples, config.seed + 1)
    csgm = CSGM(generator, op, steps=config.csgm_steps, restarts=config.restarts, keep_samples=True,
                batch_size=config.test_images, seed=config.seed).reconstruct(y_test, theta_test or None)
    family = family_of(op)
    print(f"[{setting}] diffusion prior ({family}), {config.budget_seconds:.0f} s …", flush=True)
    prior = train_diffusion_prior(data, op, IMAGE_SHAPE, config.diffusion_config(), out / setting, name="diffusion",
                                  budget_seconds=config.budget_seconds, verbose=1, strategy=strategy)
    diffusion_samples = prior.model.sample(config.samples, steps=config.sample_steps, seed=config.seed + 1)
    print(f"[{setting}] posterior sampling of {config.test_images} measurements …", flush=True)
    posterior = PosteriorSampling(prior.model, op, samples=config.posterior_samples, steps=config.posterior_steps,
                                  cg_iterations=max(config.cg_iterations, 1), seed=config.seed
                                  ).reconstruct(y_test, theta_test or None)
    rows = [
        {"setting": setting, "prior": "AmbientGAN", "trainer": f"AmbientGAN ({config.gan})", "steps": gan_info["steps"],
         "train_seconds": gan_info["train_seconds"], **_scores(gan_samples, classifier, x_train),
         "reconstruction": f"CSGM, {config.restarts} restarts", **_reconstruction(csgm, x_test)},
        {"setting": setting, "prior": "diffusion", "trainer": prior.info["trainer"], "steps": prior.info["steps"],
         "train_seconds": prior.info["train_seconds"], **_scores(diffusion_samples, classifier, x_train),
         "reconstruction": f"MMPS, K = {config.posterior_samples}", **_reconstruction(posterior, x_test)},
    ]
    figures = {"gan_samples": gan_samples[:16], "diffusion_samples": diffusion_samples[:16],
               "csgm": csgm.x[:8], "posterior_mean": posterior.x[:8], "posterior_std": posterior.std[:8],
               "csgm_std": csgm.std[:8] if csgm.std is not None else None}
    return rows, figures


def ambient_diffusion(config, strategy=None):
    """Trains and scores every prior of ``config``; prints the plan, then one line per prior.

    Returns:
        An :class:`AmbientDiffusionResult` (figures and tables by :func:`write_ambient_diffusion_report`).
    """
    strategy = strategy or tf.distribute.get_strategy()
    out = prepare_output_dir(config.out)
    n_priors = 2 * len(config.settings) + (0 if config.no_oracle else 1)
    oracle = "" if config.no_oracle else " + the oracle"
    print(f"ambient_diffusion: {len(config.settings)} setting(s) × (AmbientGAN, diffusion){oracle} = "
          f"{n_priors} priors × {config.budget_seconds:.0f} s of training, then samples, posterior sampling and CSGM; "
          f"expect about {n_priors * config.budget_seconds / 60 + 3.5 * len(config.settings) + 2:.0f} min on a 2-core "
          f"CPU. Output: {out}/", flush=True)
    start = time.perf_counter()
    x_train = load_dataset("mnist-embedded", "train")
    x_test = load_dataset("mnist-embedded", "test")[: config.test_images]
    classifier = mnist_classifier(epochs=config.classifier_epochs, verbose=0)
    identity = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("settings", "no_oracle", "out")}
    identity = json.loads(json.dumps(identity, default=list))
    rows, figures = [], {}
    if not config.no_oracle:
        print(f"[clean] oracle diffusion prior, {config.budget_seconds:.0f} s …", flush=True)
        oracle = train_diffusion_prior(x_train, M.Identity(), IMAGE_SHAPE, config.diffusion_config(), out / "clean",
                                       name="diffusion", budget_seconds=config.budget_seconds, strategy=strategy)
        samples = oracle.model.sample(config.samples, steps=config.sample_steps, seed=config.seed + 1)
        rows.append({"setting": "clean", "prior": "oracle diffusion", "trainer": "DiffusionPrior",
                     "steps": oracle.info["steps"], "train_seconds": oracle.info["train_seconds"],
                     **_scores(samples, classifier, x_train)})
        figures["clean"] = {"diffusion_samples": samples[:16]}
    for setting in config.settings:
        path = out / "runs" / f"{setting}.json"
        if path.exists() and json.loads(path.read_text()).get("identity") == identity:
            saved = json.loads(path.read_text())
            rows += saved["rows"]
            print(f"[{setting}] reused {path}", flush=True)
            continue
        setting_rows, setting_figures = _one_setting(setting, x_train, x_test, classifier, config, out, strategy)
        np.savez_compressed(out / setting / "figures.npz",
                            **{k: v for k, v in setting_figures.items() if v is not None})
        write_json({"identity": identity, "rows": setting_rows}, path)
        rows += setting_rows
        for r in setting_rows:
            print(f"[{setting}] {r['trainer']}: FID {r['fid']:.1f}, IS {r['inception_score']:.2f} after {r['steps']} "
                  f"steps; reconstruction ({r['reconstruction']}) {r['recon_error']:.2f}", flush=True)
    for setting in config.settings:
        saved = out / setting / "figures.npz"
        if saved.exists():
            figures[setting] = dict(np.load(saved))
    return AmbientDiffusionResult(config, out, rows, figures, time.perf_counter() - start)


def results_table(rows):
    """Markdown: per setting and prior, steps in the budget, FID / IS, reconstruction error and calibration."""
    table = []
    for r in rows:
        calibration = (f"{r['calibration_coverage']:.3f} (calibrated: {r['calibration_calibrated']:.3f})"
                       if "calibration_coverage" in r else "–")
        error = f"{r['recon_error']:.2f} ± {r['recon_error_sem']:.2f}" if "recon_error" in r else "–"
        table.append({"setting": r["setting"], "trainer": r["trainer"], "steps": r["steps"],
                      "fid": r["fid"], "is": r["inception_score"], "reconstruction": r.get("reconstruction", "–"),
                      "error": error, "calibration": calibration})
    return markdown_table(table, ["setting", "trainer", "steps", "fid", "is", "reconstruction", "error", "calibration"],
                          ["setting", "prior (trainer)", "steps in budget", "FID ↓", "IS ↑", "reconstruction",
                           "Σ(x̂−x)² ↓ (mean ± s.e.)", "\\|x − mean\\| ≤ 2·std"], digits=4)


def doc_ambient_diffusion_table(results):
    """The table of ``docs/results/ambient_diffusion.md`` from a run's ``results.json``."""
    return results_table(results["rows"])


def doc_ambient_diffusion_targets(results):
    """The targets list of ``docs/results/ambient_diffusion.md`` from a run's ``results.json``."""
    return "\n".join(_targets(results["rows"]))


def _targets(rows):
    """The issue's targets, measured: settings where the diffusion prior's FID is lower; the main job's
    setting's reconstruction; calibration within 0.90–0.98."""
    by = {(r["setting"], r["prior"]): r for r in rows}
    settings = sorted({r["setting"] for r in rows if r["setting"] != "clean"})
    wins = [s for s in settings if by[(s, "diffusion")]["fid"] < by[(s, "AmbientGAN")]["fid"]]
    lines = [f"- Diffusion FID lower than AmbientGAN's in {len(wins)} of {len(settings)} settings "
             f"({', '.join(wins) or 'none'}); target: at least 3 of 5."]
    if "blur-noise-0.5" in settings:
        d, g = by[("blur-noise-0.5", "diffusion")], by[("blur-noise-0.5", "AmbientGAN")]
        lines.append(f"- Blur + noise 0.5 reconstructions: posterior mean {d['recon_error']:.2f} vs CSGM on AmbientGAN "
                     f"{g['recon_error']:.2f} ({'met' if d['recon_error'] < g['recon_error'] else 'missed'}).")
    cal = [f"{s} {by[(s, 'diffusion')]['calibration_coverage']:.3f}" for s in settings]
    lines.append(f"- Posterior-std calibration (target 0.90–0.98): {', '.join(cal)}.")
    return lines


def write_ambient_diffusion_report(result):
    """Writes ``samples.png``, ``uncertainty.png``, ``table.md`` and ``results.json``; returns the Markdown."""
    config, out = result.config, result.out
    rows, titles = [], []
    for setting, f in result.figures.items():
        if "gan_samples" in f:
            rows.append(f["gan_samples"])
            titles.append(f"{setting}: AmbientGAN")
        rows.append(f["diffusion_samples"])
        titles.append(f"{setting}: {'oracle diffusion' if setting == 'clean' else 'diffusion'}")
    if rows:
        save_comparison_grid(rows, out / "samples.png", titles=titles)
    uncertainty = [s for s in ("blockdrop-14", "blur-noise-0.5", *config.settings) if s in result.figures
                   and "posterior_std" in result.figures[s]]
    if uncertainty:
        grid_rows, grid_titles = [], []
        for s in list(dict.fromkeys(uncertainty))[:2]:
            f = result.figures[s]
            mean, std = f["posterior_mean"], f["posterior_std"]
            x_test = load_dataset("mnist-embedded", "test")[:len(mean)]
            error = np.abs(mean - x_test)
            scale = max(float(error.max()), float(std.max()), 1e-6)  # error and std on one scale
            grid_rows += [x_test, mean, error / scale, std / scale]
            grid_titles += [f"{s}: truth", "posterior mean", "|x̂ − x|", "posterior std"]
        save_comparison_grid(grid_rows, out / "uncertainty.png", titles=grid_titles)
    md = "\n".join([
        "# Diffusion priors learned from measurements only, against AmbientGAN", "",
        f"Every prior: {config.budget_seconds:.0f} s of training wall time on this machine; classifier FID / IS of "
        f"{config.samples} samples ({config.sample_steps} Heun steps for diffusion) against the 4,000 clean training "
        f"digits; reconstruction of {config.test_images} held-out measurements; seed {config.seed}. "
        f"Wall time {result.wall_time_s / 60:.1f} min.", "",
        results_table(result.rows), "", "Targets:", *_targets([r for r in result.rows]), "",
        "![samples](samples.png)", "", "![uncertainty](uncertainty.png)", ""])
    (out / "table.md").write_text(md)
    write_json({"settings": dataclasses.asdict(config), "rows": result.rows, "machine": machine_description(),
                "wall_time_s": result.wall_time_s}, out / "results.json")
    return md
