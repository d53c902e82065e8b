"""CSGM with a VAE prior vs Lasso (Bora et al., ICML 2017, Fig. 1a) and the paper's sources-of-error experiments.

Per-pixel reconstruction error against the number of Gaussian measurements m for "VAE" (λ = 0),
"VAE+Reg" (λ = 0.1) and Lasso in the pixel basis, with noise ``‖η‖ ≈ noise``; then images from the
range of the generator (``x* = G(z*)``), the representation error (``Identity()`` measurements) and
super-resolution and inpainting examples.

Example:
    >>> result = csgm_vs_lasso(CsgmVsLassoConfig(images=300, measurements=[25, 100, 500], out="results/x"))
    >>> summary = write_csgm_vs_lasso_report(result)   # errors.csv, errors.png, …, summary.md, results.json
    >>> lasso_match(result.rows)                       # VAE+Reg's error at m = 50, and the m where Lasso matches it

``python -m recipes.csgm_vs_lasso`` is argparse and these two calls.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np

import measurements as M

from ..data.datasets import load_dataset
from ..metrics import per_pixel_mse, summarize
from ..models.pretrained import mnist_vae_prior
from ..reconstruction.baselines import Lasso
from ..reconstruction.csgm import CSGM
from ..reporting.figures import save_comparison_grid, save_error_plot
from ..reporting.tables import machine_description, markdown_table, prepare_output_dir, write_csv, write_json

__all__ = ["PAPER_MEASUREMENTS", "CsgmVsLassoConfig", "CsgmVsLassoResult", "csgm_vs_lasso",
           "write_csgm_vs_lasso_report", "gaussian_operator", "methods_for", "run_curve", "curves", "lasso_match",
           "inverse_problem_examples"]

PAPER_MEASUREMENTS = (10, 25, 50, 100, 200, 300, 400, 500, 750)
IMAGE_SHAPE = (28, 28, 1)


@dataclasses.dataclass
class CsgmVsLassoConfig:
    """Settings (the flags of ``recipes.csgm_vs_lasso``, same names).

    Attributes:
        images: test images for the Gaussian-measurement curves.
        measurements: numbers of Gaussian measurements m.
        steps, restarts, learning_rate: CSGM's Adam budget (paper: 1000 steps, 10 restarts, 0.01).
        noise: expected norm of the noise vector ‖η‖.
        lasso_alpha: Lasso's ℓ1 weight α in ½‖y−Ax‖²+α‖x‖₁.
        range_images: images for the range-of-generator experiment.
        example_images: images in the super-resolution / inpainting grids.
        batch_size: images optimised together (× restarts).
        vae_epochs: epochs of the cached VAE prior (``None``: the library's).
        xla: ``"auto"``, ``"on"`` or ``"off"``: XLA for the latent optimisation of the curves.
        seed: seed of the measurements and the initial latents.
        strategy, precision: recorded with the settings (the strategy object is an argument of :func:`csgm_vs_lasso`).
        out: output folder.
    """

    images: int = 300
    measurements: list = dataclasses.field(default_factory=lambda: list(PAPER_MEASUREMENTS))
    steps: int = 1000
    restarts: int = 3
    learning_rate: float = 0.01
    noise: float = 0.1
    lasso_alpha: float = 0.1
    range_images: int = 100
    example_images: int = 8
    batch_size: int = 100
    vae_epochs: int | None = None
    xla: str = "auto"
    seed: int = 0
    strategy: str = "default"
    precision: str = "float32"
    out: str = "results/csgm_vs_lasso"


@dataclasses.dataclass
class CsgmVsLassoResult:
    """Attributes: config; out; rows (one per experiment, method and m: error_per_pixel, ci95, std,
    images, seconds_per_image); match (:func:`lasso_match` of the rows); started (``time.perf_counter()``
    at the start); wall_time_s (set by :func:`write_csgm_vs_lasso_report`, the figures included)."""

    config: CsgmVsLassoConfig
    out: pathlib.Path
    rows: list
    match: tuple
    started: float
    wall_time_s: float | None = None


def gaussian_operator(m, noise_norm, seed):
    """``A`` with ``N(0, 1/m)`` entries and per-entry noise ``σ = ‖η‖/√m`` (so ``E‖η‖² = noise_norm²``)."""
    return M.GaussianProjection(m, seed=seed, image_shape=IMAGE_SHAPE, noise=M.GaussianNoise(noise_norm / np.sqrt(m)))


def _error_row(experiment, method, m, x_hat, x, seconds):
    s = summarize(per_pixel_mse(x_hat, x))
    return {"experiment": experiment, "method": method, "m": m, "error_per_pixel": s["mean"],
            "ci95": s["ci95"], "std": s["std"], "images": s["n"], "seconds_per_image": seconds / len(x)}


def methods_for(op, decoder, config, lasso=True):
    """"VAE" (λ = 0), "VAE+Reg" (λ = 0.1) and, with ``lasso``, "Lasso" (pixel basis) for ``op``."""
    csgm = dict(steps=config.steps, restarts=config.restarts, learning_rate=config.learning_rate,
                batch_size=config.batch_size, jit_compile={"on": True, "off": False}.get(config.xla, "auto"),
                seed=config.seed)
    out = {"VAE": CSGM(decoder, op, z_prior_weight=0.0, **csgm), "VAE+Reg": CSGM(decoder, op, z_prior_weight=0.1, **csgm)}
    if lasso:
        out["Lasso"] = Lasso(op, basis="pixel", alpha=config.lasso_alpha)
    return out


def run_curve(experiment, x, decoder, config, lasso=True):
    """Error rows of every method of :func:`methods_for` for each m of ``config.measurements``."""
    rows = []
    for m in config.measurements:
        op = gaussian_operator(m, config.noise, config.seed)
        y = op(x, seed=config.seed)
        for name, method in methods_for(op, decoder, config, lasso).items():
            start = time.perf_counter()
            rec = method.reconstruct(y)
            rows.append(_error_row(experiment, name, m, rec.x, x, time.perf_counter() - start))
            print(f"  {experiment:>10} m={m:<4} {name:<8} error/pixel {rows[-1]['error_per_pixel']:.4f} "
                  f"± {rows[-1]['ci95']:.4f}  ({rows[-1]['seconds_per_image']:.2f} s/image)", flush=True)
    return rows


def curves(rows, experiment):
    """method → (m values, errors, 95 % half-widths) of ``experiment``, for :func:`save_error_plot`."""
    out = {}
    for name in dict.fromkeys(r["method"] for r in rows if r["experiment"] == experiment):
        sel = [r for r in rows if r["experiment"] == experiment and r["method"] == name]
        out[name] = ([r["m"] for r in sel], [r["error_per_pixel"] for r in sel], [r["ci95"] for r in sel])
    return out


def lasso_match(rows, reference_m=50):
    """The smallest m at which Lasso's error is at most VAE+Reg's error at ``reference_m``."""
    target = [r["error_per_pixel"] for r in rows
              if r["experiment"] == "gaussian" and r["method"] == "VAE+Reg" and r["m"] == reference_m]
    if not target:
        return None, None
    lasso = sorted((r["m"], r["error_per_pixel"]) for r in rows if r["experiment"] == "gaussian" and r["method"] == "Lasso")
    return target[0], next((m for m, e in lasso if e <= target[0]), None)


def inverse_problem_examples(x, decoder, config, out):
    """Super-resolution (×2, 28 → 14) and inpainting (centred 10×10 square): error rows and
    ``<out>/superres.png``, ``<out>/inpainting.png`` (truth, measured, Lasso, CSGM)."""
    csgm = dict(steps=config.steps, restarts=config.restarts, learning_rate=config.learning_rate, z_prior_weight=0.1,
                batch_size=config.batch_size, seed=config.seed)
    tasks = {
        "superres": M.SuperResolution(2, image_shape=IMAGE_SHAPE, noise=M.GaussianNoise(0.01)),
        "inpainting": M.Inpainting.centered_square(IMAGE_SHAPE, 10),
    }
    rows = []
    for task, op in tasks.items():
        y = op(x, seed=config.seed)
        shown = op.pseudo_inverse(y, {}).numpy()  # the measurement, seen as an image
        lasso = Lasso(op, alpha=config.lasso_alpha).reconstruct(y)
        csgm_rec = CSGM(decoder, op, **csgm).reconstruct(y)
        for name, rec in (("Lasso", lasso), ("CSGM (VAE+Reg)", csgm_rec)):
            rows.append(_error_row(task, name, int(np.prod(op.measurement_shape(IMAGE_SHAPE))), rec.x, x, rec.wall_time))
        save_comparison_grid([x, shown, lasso.x, csgm_rec.x], out / f"{task}.png",
                             titles=["truth", "measured", "Lasso", "CSGM"])
    return rows


def csgm_vs_lasso(config, strategy=None):
    """Runs every experiment; prints the plan with the expected time, then one line per result.

    Args:
        config: a :class:`CsgmVsLassoConfig`.
        strategy: the ``tf.distribute`` strategy of the VAE prior's training, if it is not cached.

    Returns:
        A :class:`CsgmVsLassoResult` (the example grids are written already; the rest by
        :func:`write_csgm_vs_lasso_report`).
    """
    out = prepare_output_dir(config.out)
    start = time.perf_counter()
    runs = (2 * len(config.measurements) * (config.images + config.range_images) + 2 * config.example_images
            + config.images)
    print(f"CSGM vs Lasso: {len(config.measurements)} values of m, {config.images} test images, {config.steps} steps × "
          f"{config.restarts} restarts per image ({runs} CSGM reconstructions; about "
          f"{runs * config.steps * config.restarts / 1.0e6:.0f} M latent updates; expect ~30 min on 2 CPU cores "
          f"with the defaults). Writing to {out}/", flush=True)
    x = load_dataset("mnist-embedded", "test")[: config.images]
    decoder = mnist_vae_prior(strategy=strategy, **({} if config.vae_epochs is None else {"epochs": config.vae_epochs}))

    rows = run_curve("gaussian", x, decoder, config)

    # Sources of error: (1) x* in the range of G, (2) the representation error (y = x, no noise).
    z_star = np.random.default_rng(config.seed).standard_normal((config.range_images, decoder.input_shape[-1]))
    x_range = decoder(z_star.astype("float32"), training=False).numpy()
    rows += run_curve("range", x_range, decoder, config, lasso=False)
    identity = M.Identity(image_shape=IMAGE_SHAPE)
    for name, method in methods_for(identity, decoder, config, lasso=False).items():
        rec = method.reconstruct(x)
        rows.append(_error_row("representation", name, 784, rec.x, x, rec.wall_time))
        print(f"  representation error ({name}): {rows[-1]['error_per_pixel']:.4f} per pixel", flush=True)

    rows += inverse_problem_examples(x[: config.example_images], decoder, config, out)
    return CsgmVsLassoResult(config, out, rows, lasso_match(rows), start)


def _summary_markdown(result):
    config, rows, seconds = result.config, result.rows, result.wall_time_s
    key = [r for r in rows if r["experiment"] == "gaussian" and r["m"] in (25, 100, 500)]
    target, m_match = result.match
    lines = [
        "# CSGM vs Lasso on embedded MNIST (Bora et al. 2017, Fig. 1a)", "",
        f"Settings: {config.images} test images of the embedded split, Gaussian A with N(0, 1/m) entries, "
        f"‖η‖ ≈ {config.noise}; CSGM: Adam lr {config.learning_rate}, {config.steps} steps × {config.restarts} "
        f"restarts, best restart by measurement error; Lasso: pixel basis, α = {config.lasso_alpha}. "
        f"Wall time {seconds / 60:.1f} min.", "",
        "## Per-pixel error at m = 25, 100, 500", "",
        markdown_table(key, ["method", "m", "error_per_pixel", "ci95", "seconds_per_image"]), "",
    ]
    if target is not None:
        lines += [f"Lasso first matches VAE+Reg's error at m = 50 ({target:.4f}) at "
                  f"m = {m_match if m_match is not None else 'none of the m tried'}.", ""]
    for experiment in ("range", "representation", "superres", "inpainting"):
        sel = [r for r in rows if r["experiment"] == experiment]
        if sel:
            lines += [f"## {experiment}", "", markdown_table(sel, ["method", "m", "error_per_pixel", "ci95"]), ""]
    lines += ["Figures: errors.png, sources_of_error.png, superres.png, inpainting.png; all rows in errors.csv.", ""]
    return "\n".join(lines)


def write_csgm_vs_lasso_report(result):
    """Writes ``errors.csv``, ``errors.png`` (log-x), ``sources_of_error.png``, ``summary.md`` and
    ``results.json``; sets ``result.wall_time_s`` and returns the summary's Markdown."""
    out, rows = result.out, result.rows
    write_csv(rows, out / "errors.csv")
    save_error_plot(curves(rows, "gaussian"), out / "errors.png", "Number of measurements m",
                    "Reconstruction error (per pixel)", title="Embedded MNIST: CSGM (VAE prior) vs Lasso")
    sources = {f"{k} (x* = G(z*))": v for k, v in curves(rows, "range").items()}
    sources.update({f"{k} (test images)": v for k, v in curves(rows, "gaussian").items() if k != "Lasso"})
    save_error_plot(sources, out / "sources_of_error.png", "Number of measurements m",
                    "Reconstruction error (per pixel)", title="Sources of error")
    result.wall_time_s = time.perf_counter() - result.started
    summary = _summary_markdown(result)
    (out / "summary.md").write_text(summary)
    write_json({"settings": dataclasses.asdict(result.config), "machine": machine_description(),
                "wall_time_s": result.wall_time_s, "rows": rows}, out / "results.json")
    return summary
