"""Deep Compressed Sensing, Table 2 (Wu et al., ICML 2019): DCS models vs CSGM, errors and speed.

One DCS model per row and number of measurements m — ``LINEAR`` (a fixed Gaussian projection),
``NN`` (a fixed, randomly initialised MLP), ``LINEAR(L)`` (a learned linear map) and ``NN(L)`` (a
learned MLP) — reconstructs the test images with its few latent gradient steps (the fast path); the
per-image error is reported as mean ± std over the test images in two units — the squared error
Σ(x̂ − x)² with pixels in [0, 1] (CSGM's unit: Bora et al.'s per-pixel MSE × 784) and the norm
‖x̂ − x‖₂ with pixels in [−1, 1] (the unit of the original DCS code's ``recons_loss``, the batch mean
of ``‖G(ẑ) − x‖₂`` in ``deepmind-research/cs_gan/cs.py``) — with the time per image. Two reference
rows need no training: PCA-m (the best linear reconstruction from m numbers: the projection on the
training digits' first m principal components) and the mean training digit. The CSGM baseline (the
VAE prior) runs on the same LINEAR measurements of the first test images, where the DCS LINEAR model
is timed too, for the speed-up of the fast path.

Example:
    >>> result = dcs_table(DcsTableConfig(measurements=[10, 25], steps=2000, out="results/dcs_table"))
    >>> markdown = write_dcs_table_report(result)    # table.csv, table.md (with the paper's numbers), results.json
    >>> print(table_markdown(result.rows, [10, 25]))  # the table of docs/results/dcs_table.md
    >>> result.speed[0]["speedup"]

``python -m recipes.dcs_table`` is argparse and these two calls.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from sklearn.decomposition import PCA

import measurements as M

from ..data.datasets import as_tf_dataset, load_dataset
from ..metrics import per_image_l2_error, per_image_squared_error, summarize
from ..models.dcs import DeepCompressedSensing, calibrate_measurement
from ..models.pretrained import mnist_vae_prior
from ..networks import mlp_generator
from ..priors.store import train_run
from ..reconstruction.csgm import CSGM
from ..reconstruction.learned import LearnedLatentReconstructor
from ..reporting.figures import save_comparison_grid
from ..reporting.tables import machine_description, markdown_table, prepare_output_dir, write_csv, write_json

__all__ = ["ROWS", "PAPER", "PAPER_UNITS", "DcsTableConfig", "DcsTableResult", "dcs_table", "write_dcs_table_report",
           "table_markdown", "speed_markdown", "doc_table", "doc_speed_table", "reference_rows", "make_operator", "train_dcs_model", "evaluate_fast_path",
           "estimate_seconds"]

ROWS = ("LINEAR", "NN", "LINEAR(L)", "NN(L)")
#: Table 2 of the paper (full MNIST): (mean, std) per test image; the baseline has no std. Units: see
#: :data:`PAPER_UNITS`.
PAPER = {
    "CSGM (baseline)": {10: (54.8, None), 25: (17.2, None)},
    "LINEAR": {10: (10.8, 3.8), 25: (6.9, 2.7)},
    "NN": {10: (12.5, 2.2), 25: (10.2, 1.7)},
    "LINEAR(L)": {10: (6.5, 2.1), 25: (4.0, 1.4)},
    "NN(L)": {10: (5.3, 1.9), 25: (3.4, 1.2)},
}
#: The unit each paper row is most likely in. The paper does not say. Its DCS rows: ``"l2"``, the norm
#: ‖x̂ − x‖₂ with pixels in [−1, 1] — the only reconstruction metric of the original code
#: (``recons_loss``), and read as Σ(x̂ − x)² in [0, 1] the LINEAR row (a random matrix, 10.8) would be
#: 2.5× better than PCA-10, the best any linear map to 10 numbers can do (27.1 as Σsq, 10.3 as
#: ‖·‖₂ in [−1, 1] on the embedded split). Its CSGM baseline: ``"sq"``, Bora et al.'s per-pixel MSE
#: × 784 (54.8 at m = 10 is their Figure 1's number), a squared error in [0, 1].
PAPER_UNITS = {"CSGM (baseline)": "sq", "LINEAR": "l2", "NN": "l2", "LINEAR(L)": "l2", "NN(L)": "l2"}
UNIT_NAMES = {"sq": "Σ(x̂ − x)², [0, 1]", "l2": "‖x̂ − x‖₂, [−1, 1]"}
# Measured on the 2-core CPU of the project (seconds per training step of batch 64, per CSGM image);
# only used for the up-front time estimate.
_SECONDS_PER_STEP = {"LINEAR": 0.075, "NN": 0.15, "LINEAR(L)": 0.075, "NN(L)": 0.15}
_CSGM_SECONDS_PER_IMAGE = 0.4
#: Settings that do not change a DCS model's training (a finished one is reused when only they differ).
_NOT_TRAINING = ("measurements", "rows", "test_images", "csgm_images", "csgm_steps", "csgm_restarts",
                 "csgm_batch_size", "vae_epochs", "log_every", "examples", "save_models", "out")


@dataclasses.dataclass
class DcsTableConfig:
    """Settings (the flags of ``recipes.dcs_table``, same names).

    Attributes:
        measurements: numbers of measurements m.
        rows: DCS rows of Table 2 to train (see :data:`ROWS`).
        steps, batch_size: training steps and batch of each model.
        learning_rate, clipnorm: Adam's learning rate (G, s and F) and global gradient-norm clipping (0: none).
        latent_steps, latent_dim, step_size: the latent optimisation (T, size of z, initial step size s).
        rip_weight: weight of the RIP loss.
        update: ``"joint"`` or ``"alternating"``: how learned measurements are trained.
        calibrate: rescale the initial MLP measurements to preserve distances (:func:`calibrate_measurement`).
        first_order: stop the second-order term.
        train_images, test_images: digits trained on and reconstructed by DCS.
        csgm_images, csgm_steps, csgm_restarts, csgm_batch_size: the CSGM baseline (0 images: skipped).
        vae_epochs: epochs of the cached VAE prior (``None``: the library's).
        log_every: training steps per progress line (and checkpoint).
        examples: test digits shown in the reconstruction figures.
        save_models: save each trained generator and model under ``<out>/models/``.
        seed: seed of the networks, measurements, data order and latents.
        strategy, precision: recorded with the settings (the strategy object is an argument of :func:`dcs_table`).
        out: output folder; model ``<row>_m<m>`` trains in ``<out>/dcs_<row>_m<m>_training``.
    """

    measurements: list = dataclasses.field(default_factory=lambda: [10, 25])
    rows: list = dataclasses.field(default_factory=lambda: list(ROWS))
    steps: int = 2000
    batch_size: int = 64
    learning_rate: float = 3e-3
    clipnorm: float = 1.0
    latent_steps: int = 3
    latent_dim: int = 100
    step_size: float = 0.01
    rip_weight: float = 1.0
    update: str = "joint"
    calibrate: bool = True
    first_order: bool = False
    train_images: int = 4000
    test_images: int = 1000
    csgm_images: int = 200
    csgm_steps: int = 1000
    csgm_restarts: int = 10
    csgm_batch_size: int = 50
    vae_epochs: int | None = None
    log_every: int = 500
    examples: int = 10
    save_models: bool = True
    seed: int = 0
    strategy: str = "default"
    precision: str = "float32"
    out: str = "results/dcs_table"


@dataclasses.dataclass
class DcsTableResult:
    """Attributes: config; out; rows (one per model, m and test subset: error_mean, error_std, ci95,
    seconds_per_image, the paper's numbers, …); speed (per m: DCS LINEAR vs CSGM on the same images);
    histories (``"<row> m=<m>"`` → training history); wall_time_s."""

    config: DcsTableConfig
    out: pathlib.Path
    rows: list
    speed: list
    histories: dict
    wall_time_s: float


def estimate_seconds(config):
    """Rough wall time of :func:`dcs_table` on the 2-core reference CPU."""
    return (sum(_SECONDS_PER_STEP[r] for r in config.rows) * len(config.measurements) * config.steps
            + _CSGM_SECONDS_PER_IMAGE * config.csgm_images * len(config.measurements)
            * config.csgm_steps * config.csgm_restarts / 10000)


def make_operator(row, m, seed):
    """The measurement of a Table 2 row: fixed random (LINEAR, NN) or learned ((L))."""
    if row == "LINEAR":
        return M.GaussianProjection(m, seed=seed)
    if row == "NN":
        return M.LearnedNetwork(m, seed=seed, trainable=False)
    if row == "LINEAR(L)":
        return M.LearnedLinear(m, seed=seed)
    return M.LearnedNetwork(m, seed=seed)


def _tag(row, m):
    return f"{row}_m{m}".replace("(", "").replace(")", "")


def train_dcs_model(row, m, x_train, config, strategy=None):
    """Builds, compiles and trains (or resumes, or reuses) the DCS model of ``row`` with ``m`` measurements.

    Returns:
        ``(model, history, train_seconds, calibration factor or None)``.
    """
    seed = config.seed
    operator = make_operator(row, m, seed)
    scale = None
    if config.calibrate and row.startswith("NN"):
        scale = calibrate_measurement(operator, x_train[:1000], seed=seed)

    def adam():
        return keras.optimizers.Adam(config.learning_rate,
                                     **({"global_clipnorm": config.clipnorm} if config.clipnorm else {}))

    with (strategy or tf.distribute.get_strategy()).scope():
        dcs = DeepCompressedSensing(
            mlp_generator(latent_dim=config.latent_dim, seed=seed), operator,
            latent_steps=config.latent_steps, rip_weight=config.rip_weight,
            update=config.update if row.endswith("(L)") else "joint", step_size=config.step_size,
            second_order=not config.first_order, seed=seed, name=f"dcs_{row}_{m}".replace("(", "").replace(")", ""))
        dcs.compile(optimizer=adam(), **({"measurement_optimizer": adam()} if dcs.update == "alternating" else {}))
    data = as_tf_dataset(x_train, batch_size=config.batch_size, seed=seed, repeat=True, drop_remainder=True)
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_TRAINING} | {"row": row, "m": m}
    run_dir = pathlib.Path(config.out) / f"dcs_{_tag(row, m)}_training"
    history, seconds = train_run(dcs, data, steps=config.steps, run_dir=run_dir, settings=settings,
                                 log_every=config.log_every, seed=seed)
    return dcs, history, seconds, scale


def evaluate_fast_path(dcs, x, seed):
    """The fast path's reconstruction of ``x`` and its steady-state time per image (graph traced first):
    ``(reconstruction, seconds per image)``."""
    fast = LearnedLatentReconstructor.from_trainer(dcs, seed=seed, batch_size=500)
    theta = dcs.operator.sample_theta(len(x), seed=seed, image_shape=dcs.image_shape) if dcs.operator.is_random else {}
    y = dcs.measure(x, theta)
    fast.reconstruct(y[:2], {k: v[:2] for k, v in theta.items()} or None)  # trace the graph outside the timing
    rec = fast.reconstruct(y, theta or None)
    return rec, rec.wall_time / len(x)


def _row_entry(model, m, x_hat, x, seconds_per_image, subset, steps, extra=None):
    """One table row: the errors of ``x_hat`` against ``x`` in both units (``error_*``: Σsq in [0, 1];
    ``l2_*``: ‖·‖₂ in [−1, 1]) and the paper's number with its unit."""
    sq, l2 = summarize(per_image_squared_error(x_hat, x)), summarize(per_image_l2_error(x_hat, x))
    paper_mean, paper_std = PAPER.get(model, {}).get(m, (None, None))
    entry = {"model": model, "m": m, "error_mean": sq["mean"], "error_std": sq["std"], "ci95": sq["ci95"],
             "l2_mean": l2["mean"], "l2_std": l2["std"], "images": sq["n"], "test_subset": subset,
             "latent_steps": steps, "seconds_per_image": seconds_per_image, "paper_mean": paper_mean,
             "paper_std": paper_std, "paper_unit": PAPER_UNITS.get(model)}
    entry.update(extra or {})
    return entry


def reference_rows(x_train, x_test, measurements):
    """Rows that need no training, per m: ``PCA-m`` — the projection of each test digit on the first m
    principal components of the training digits (plus their mean), the best reconstruction any linear
    map to m numbers gives in squared error — and ``mean digit`` (x̂ = the mean training digit).

    Args:
        x_train, x_test: images ``(N, H, W, C)`` in [0, 1].
        measurements: the numbers m.

    Returns:
        Row dicts as the DCS rows (``latent_steps`` 0, time per image of the projection).
    """
    flat_train, flat_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    rows = []
    for m in measurements:
        start = time.perf_counter()
        pca = PCA(n_components=m, svd_solver="full").fit(flat_train)
        x_hat = pca.inverse_transform(pca.transform(flat_test)).reshape(x_test.shape)
        rows.append(_row_entry(f"PCA-{m} (reference)", m, x_hat, x_test, (time.perf_counter() - start) / len(x_test),
                               "all", 0))
        mean = np.broadcast_to(x_train.mean(axis=0), x_test.shape)
        rows.append(_row_entry("mean digit (reference)", m, mean, x_test, 0.0, "all", 0))
    return rows


def fmt(mean, std):
    """``"mean ± std"`` with one decimal, ``"mean"`` without a std, ``"–"`` without a mean."""
    if mean is None:
        return "–"
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def dcs_table(config, strategy=None):
    """Trains every DCS model, reconstructs with each and with CSGM; prints the plan with the expected
    time, then one line per model.

    Args:
        config: a :class:`DcsTableConfig`.
        strategy: the ``tf.distribute`` strategy of the trainings (default: the current one).

    Returns:
        A :class:`DcsTableResult` (the reconstruction figures and the models are written already; the
        tables by :func:`write_dcs_table_report`).
    """
    out = prepare_output_dir(config.out)
    n_models = len(config.rows) * len(config.measurements)
    print(f"DCS Table 2: {n_models} DCS models × {config.steps} steps, DCS evaluation on {config.test_images} test "
          f"digits, CSGM ({config.csgm_restarts} × {config.csgm_steps} steps) on {config.csgm_images} digits per m. "
          f"Expect about {estimate_seconds(config) / 60:.0f} min on a 2-core CPU (more if it is shared). "
          f"Writing to {out}/", flush=True)
    start = time.perf_counter()
    x_train = load_dataset("mnist-embedded", "train")[: config.train_images]
    x_test = load_dataset("mnist-embedded", "test")[: config.test_images]
    x_csgm = x_test[: config.csgm_images]
    examples = x_test[: config.examples]
    decoder = None
    if config.csgm_images:
        decoder = mnist_vae_prior(strategy=strategy, **({} if config.vae_epochs is None else {"epochs": config.vae_epochs}))
    rows, speed, histories = reference_rows(x_train, x_test, config.measurements), [], {}
    for m in config.measurements:
        shown, titles = [examples], ["truth"]
        linear_model = None
        for row in config.rows:
            print(f"\n== {row}, m = {m}: training {config.steps} steps", flush=True)
            dcs, history, train_seconds, scale = train_dcs_model(row, m, x_train, config, strategy)
            histories[f"{row} m={m}"] = {**history, "train_seconds": [train_seconds]}
            rec, per_image = evaluate_fast_path(dcs, x_test, config.seed)
            rows.append(_row_entry(row, m, rec.x, x_test, per_image, "all", config.latent_steps,
                                   {"train_seconds": train_seconds, "learned_step_size": dcs.step_size(),
                                    "calibration_factor": scale}))
            print(f"   {row} m={m}: Σsq {rows[-1]['error_mean']:.2f} ± {rows[-1]['error_std']:.2f}, ‖·‖₂ in [−1, 1] "
                  f"{rows[-1]['l2_mean']:.2f} ± {rows[-1]['l2_std']:.2f} "
                  f"(paper {fmt(*PAPER[row][m]) if m in PAPER[row] else '–'}), {per_image * 1e3:.3f} ms/image, "
                  f"trained in {train_seconds:.0f} s", flush=True)
            shown.append(rec.x[: config.examples])
            titles.append(row)
            if row == "LINEAR":
                linear_model = dcs
            if config.save_models:
                prepare_output_dir(out / "models")
                dcs.generator.save(out / "models" / f"generator_{_tag(row, m)}.keras")
                dcs.save(out / "models" / f"dcs_{_tag(row, m)}.keras")
        if decoder is not None:
            op = linear_model.operator if linear_model is not None else make_operator("LINEAR", m, config.seed)
            op.ensure_built(x_test.shape[1:])
            y = op.forward(x_csgm, {})
            print(f"\n== CSGM baseline, m = {m}: {len(x_csgm)} digits × {config.csgm_restarts} restarts × "
                  f"{config.csgm_steps} steps", flush=True)
            csgm = CSGM(decoder, op, steps=config.csgm_steps, restarts=config.csgm_restarts, learning_rate=0.01,
                        z_prior_weight=0.1, batch_size=config.csgm_batch_size, seed=config.seed)
            rec = csgm.reconstruct(y, verbose=1 if sys.stdout.isatty() else 0)
            csgm_per_image = rec.wall_time / len(x_csgm)
            rows.append(_row_entry("CSGM (baseline)", m, rec.x, x_csgm, csgm_per_image, f"first {len(x_csgm)}",
                                   config.csgm_restarts * config.csgm_steps))
            print(f"   CSGM m={m}: error {rows[-1]['error_mean']:.2f} ± {rows[-1]['error_std']:.2f} "
                  f"(paper {fmt(*PAPER['CSGM (baseline)'].get(m, (None, None)))}), {csgm_per_image:.3f} s/image",
                  flush=True)
            shown.append(rec.x[: config.examples])
            titles.append("CSGM")
            if linear_model is not None:
                dcs_rec, dcs_per_image = evaluate_fast_path(linear_model, x_csgm, config.seed)
                rows.append(_row_entry("LINEAR", m, dcs_rec.x, x_csgm, dcs_per_image, f"first {len(x_csgm)}",
                                       config.latent_steps))
                speed.append({"m": m, "images": len(x_csgm), "dcs_error": rows[-1]["error_mean"],
                              "csgm_error": rows[-2]["error_mean"], "dcs_seconds_per_image": dcs_per_image,
                              "csgm_seconds_per_image": csgm_per_image, "speedup": csgm_per_image / dcs_per_image})
                print(f"   speed-up of the DCS fast path over CSGM: {speed[-1]['speedup']:.0f}×", flush=True)
        save_comparison_grid(shown, out / f"reconstructions_m{m}.png", titles=titles)
    return DcsTableResult(config, out, rows, speed, histories, time.perf_counter() - start)


def _cell(row, prefix):
    return fmt(row[f"{prefix}_mean"], row[f"{prefix}_std"])


def table_markdown(rows, measurements):
    """Table 2 as Markdown from the rows of :func:`dcs_table` (or ``results.json``'s ``"rows"``): per m,
    ours in both units and the paper's number with its unit; reference rows last.

    Args:
        rows: row dicts (``model``, ``m``, ``error_*``, ``l2_*``, ``test_subset``, ``latent_steps``,
            ``seconds_per_image``).
        measurements: the columns' m, in order.
    """
    models = list(dict.fromkeys(r["model"] for r in rows))
    order = (["CSGM (baseline)"] + [m for m in ROWS if m in models]
             + [m for m in models if m.startswith("PCA-")] + [m for m in models if m.startswith("mean digit")])
    header = ["model"]
    for m in measurements:
        header += [f"m = {m}: {UNIT_NAMES['sq']}", f"m = {m}: {UNIT_NAMES['l2']}", f"m = {m}: paper"]
    header += ["latent steps", "images", "s / image"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for model in order:
        # DCS rows on every test digit (their timing on the CSGM subset is in the speed table).
        ours = {r["m"]: r for r in rows if r["model"] == model and (r["test_subset"] == "all" or model.startswith("CSGM"))}
        if not ours:
            continue
        cells = [model]
        for m in measurements:
            paper = PAPER.get(model, {}).get(m)
            paper = f"{fmt(*paper)} ({'Σsq' if PAPER_UNITS[model] == 'sq' else '‖·‖₂'})" if paper else "–"
            cells += ([_cell(ours[m], "error"), _cell(ours[m], "l2")] if m in ours else ["–", "–"]) + [paper]
        first = ours.get(measurements[0], next(iter(ours.values())))
        cells += [str(first["latent_steps"]), str(first["images"]), f"{first['seconds_per_image']:.2g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_markdown(speed):
    """The fast-path-vs-CSGM speed table from :func:`dcs_table`'s ``speed`` entries."""
    lines = ["| m | images | DCS LINEAR Σsq | CSGM Σsq | DCS time / image | CSGM time / image | speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in speed:
        lines.append(f"| {r['m']} | {r['images']} | {r['dcs_error']:.1f} | {r['csgm_error']:.1f} | "
                     f"{r['dcs_seconds_per_image'] * 1e3:.2f} ms | {r['csgm_seconds_per_image'] * 1e3:.0f} ms | "
                     f"**{r['speedup']:,.0f}×** |")
    return "\n".join(lines)


def doc_table(results):
    """The main table of ``docs/results/dcs_table.md`` from a run's ``results.json``."""
    return table_markdown(results["rows"], results["settings"]["measurements"])


def doc_speed_table(results):
    """The speed table of ``docs/results/dcs_table.md`` from a run's ``results.json``."""
    return speed_markdown(results["speed"])


def _summary_markdown(result):
    config, speed, histories, seconds = result.config, result.speed, result.histories, result.wall_time_s
    lines = [
        "# Deep Compressed Sensing, Table 2, on embedded MNIST", "",
        f"Per-image error, mean ± std over test images, in two units: Σ(x̂ − x)² with pixels in [0, 1] and "
        f"‖x̂ − x‖₂ with pixels in [−1, 1] (the original DCS code's `recons_loss`). DCS: {config.test_images} "
        f"embedded test digits, {config.latent_steps} latent steps, no restarts. CSGM baseline: VAE prior (z = 20), "
        f"{config.csgm_restarts} restarts × {config.csgm_steps} Adam steps (lr 0.01, λ = 0.1), on the first "
        f"{config.csgm_images} test digits only (`--csgm-images`), same LINEAR measurements. Noise-free "
        f"measurements. Paper: full MNIST (60,000 training digits); its DCS rows are most likely ‖·‖₂ in [−1, 1], "
        f"its CSGM row Σsq in [0, 1] (`PAPER_UNITS`).", "",
        table_markdown(result.rows, config.measurements),
    ]
    clipping = f" with global gradient-norm clipping at {config.clipnorm}" if config.clipnorm else ""
    calibration = "calibrated to preserve distances at initialisation" if config.calibrate else "not calibrated"
    lines += ["", f"Training budget per DCS model: {config.steps} steps of batch {config.batch_size} "
              f"({config.steps * config.batch_size / config.train_images:.0f} epochs of {config.train_images} digits), "
              f"Adam lr {config.learning_rate}{clipping}, initial step size {config.step_size}, RIP weight "
              f"{config.rip_weight}, {'first' if config.first_order else 'second'}-order, learned measurements "
              f"updated {config.update}ly, MLP measurements {calibration}. Wall time of the whole run: "
              f"{seconds / 60:.1f} min.", ""]
    if speed:
        lines += ["## Speed: DCS fast path vs CSGM (same images, same LINEAR measurements)", "",
                  speed_markdown(speed), ""]
    lines += ["## Training (last logged values)", "",
              markdown_table([{"model": k, **{n: v[-1] for n, v in h.items()}} for k, h in histories.items()],
                             ["model", "loss", "measurement_error", "rip_loss", "reconstruction_error", "step_size",
                              "train_seconds"]), "",
              "`reconstruction_error` is the training batches' Σ(x̂ − x)² (a monitor; it is not trained on).", ""]
    return "\n".join(lines)


def write_dcs_table_report(result):
    """Writes ``table.csv``, ``table.md`` (the paper's numbers side by side) and ``results.json``
    (settings, machine, training histories, times); returns the Markdown."""
    out = result.out
    write_csv(result.rows, out / "table.csv")
    summary = _summary_markdown(result)
    (out / "table.md").write_text(summary)
    write_json({"settings": dataclasses.asdict(result.config), "machine": machine_description(),
                "wall_time_s": result.wall_time_s, "rows": result.rows, "speed": result.speed,
                "histories": result.histories,
                "paper": {k: {str(m): v for m, v in d.items()} for k, d in PAPER.items()}}, out / "results.json")
    return summary
