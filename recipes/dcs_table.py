"""Deep Compressed Sensing, Table 2 (Wu et al., ICML 2019) on the embedded MNIST split.

Trains one DCS model per row and number of measurements m — LINEAR (a fixed Gaussian projection),
NN (a fixed, randomly initialised MLP), LINEAR(L) (a learned linear map) and NN(L) (a learned MLP) —
on the 4,000 embedded training digits, then reconstructs the 1,000 test digits with 3 latent
gradient steps (the DCS fast path) and reports the per-image squared error Σ(x̂ − x)² (pixels in
[0, 1]) as mean ± std over test images, with the reconstruction time per image. The CSGM baseline
(the VAE prior, 10 restarts × 1000 Adam steps, λ = 0.1) runs on the same LINEAR measurements of a
subset of the test images (``--csgm-images``), where the DCS LINEAR model is also timed, for the
speed-up of the fast path. Measurements are noise-free, as in the paper.

Writes to ``--out`` (default ``results/dcs_table``): ``table.csv``, ``table.md`` (with the paper's
numbers side by side), ``results.json`` (settings, machine, training histories, times),
``reconstructions_m{m}.png`` and, with ``--save-models``, the trained generators under ``models/``.

The default budget (2,000 training steps per model, 8 models, CSGM on 200 test images) takes about
35 minutes on a 2-core CPU. The paper trains far longer (``--steps 100000`` or more; the original
``main_cs.py`` runs up to 10M steps at Adam 1e-4: ``--learning-rate 1e-4 --clipnorm 0``) and runs
CSGM on every test image (``--csgm-images 1000``).
"""

from __future__ import annotations

import argparse
import sys
import time

import keras
import numpy as np

import measurements as M
from ambient_dcs.data import as_tf_dataset, load_dataset
from ambient_dcs.dcs import DeepCompressedSensing, calibrate_measurement, fit_for_steps
from ambient_dcs.distribute import add_strategy_argument, make_strategy, set_precision
from ambient_dcs.figures import save_comparison_grid
from ambient_dcs.metrics import per_image_squared_error, summarize
from ambient_dcs.networks import mlp_generator
from ambient_dcs.priors import mnist_vae_prior
from ambient_dcs.reconstruct import CSGM
from ambient_dcs.reporting import machine_description, markdown_table, prepare_output_dir, write_csv, write_json

ROWS = ("LINEAR", "NN", "LINEAR(L)", "NN(L)")
#: Table 2 of the paper (full MNIST): (mean, std) of Σ(x̂ − x)² per test image; the baseline has no std.
PAPER = {
    "CSGM (baseline)": {10: (54.8, None), 25: (17.2, None)},
    "LINEAR": {10: (10.8, 3.8), 25: (6.9, 2.7)},
    "NN": {10: (12.5, 2.2), 25: (10.2, 1.7)},
    "LINEAR(L)": {10: (6.5, 2.1), 25: (4.0, 1.4)},
    "NN(L)": {10: (5.3, 1.9), 25: (3.4, 1.2)},
}
# Measured on the 2-core CPU of the project (seconds per training step of batch 64, per CSGM image);
# only used for the up-front time estimate.
_SECONDS_PER_STEP = {"LINEAR": 0.075, "NN": 0.15, "LINEAR(L)": 0.075, "NN(L)": 0.15}
_CSGM_SECONDS_PER_IMAGE = 0.4


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.dcs_table", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--measurements", type=int, nargs="+", default=[10, 25], help="numbers of measurements m (paper: 10 25)")
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, help="DCS rows of Table 2 to train")
    p.add_argument("--steps", type=int, default=2000, help="training steps per model (batch --batch-size)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size (original: 64)")
    p.add_argument("--learning-rate", type=float, default=3e-3,
                   help="Adam learning rate of G, s and F (original: 1e-4; 3e-3 with --clipnorm converges faster in "
                        "a short budget)")
    p.add_argument("--clipnorm", type=float, default=1.0,
                   help="clip the global gradient norm of each update to this (0: no clipping, as the original)")
    p.add_argument("--latent-steps", type=int, default=3, help="latent gradient steps T (paper: 3)")
    p.add_argument("--latent-dim", type=int, default=100, help="size of z (original: 100)")
    p.add_argument("--step-size", type=float, default=0.01, help="initial latent step size s (learned; original 0.01)")
    p.add_argument("--rip-weight", type=float, default=1.0, help="weight of the RIP loss (original: 1)")
    p.add_argument("--update", choices=("joint", "alternating"), default="joint",
                   help="how learned measurements are trained (Algorithm 2's options)")
    p.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                   help="rescale the initial MLP measurements (NN, NN(L)) to preserve distances between training "
                        "digits on average, as the N(0, 1/m) Gaussian matrix does (ambient_dcs.dcs.calibrate_measurement)")
    p.add_argument("--first-order", action="store_true", help="stop the second-order term (cheaper, not the paper)")
    p.add_argument("--train-images", type=int, default=4000, help="training digits used (embedded split: 4000)")
    p.add_argument("--test-images", type=int, default=1000, help="test digits reconstructed by DCS (embedded split: 1000)")
    p.add_argument("--csgm-images", type=int, default=200,
                   help="test digits reconstructed by the CSGM baseline (the first ones; 0 skips it; paper: all)")
    p.add_argument("--csgm-steps", type=int, default=1000, help="CSGM Adam steps per restart (paper: 1000)")
    p.add_argument("--csgm-restarts", type=int, default=10, help="CSGM random restarts (paper: 10)")
    p.add_argument("--csgm-batch-size", type=int, default=50, help="CSGM images optimised together (× restarts)")
    p.add_argument("--vae-epochs", type=int, default=None,
                   help="epochs of the cached VAE prior (None: the library's, 100 epochs)")
    p.add_argument("--log-every", type=int, default=500, help="training steps per progress line")
    p.add_argument("--examples", type=int, default=10, help="test digits shown in the reconstruction figures")
    p.add_argument("--save-models", action=argparse.BooleanOptionalAction, default=True,
                   help="save each trained generator (and model) as .keras under OUT/models/")
    p.add_argument("--seed", type=int, default=0, help="seed of the networks, measurements, data order and latents")
    add_strategy_argument(p)
    p.add_argument("--out", default="results/dcs_table", help="output folder")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "latent_dim", "train_images", "test_images", "csgm_steps", "csgm_restarts",
                 "csgm_batch_size", "log_every", "examples"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer; received {getattr(args, name)}")
    if args.latent_steps < 0 or args.csgm_images < 0 or args.clipnorm < 0 or args.learning_rate <= 0:
        p.error("--latent-steps, --csgm-images and --clipnorm must be >= 0 and --learning-rate > 0")
    if any(m < 1 for m in args.measurements):
        p.error(f"--measurements must be positive integers; received {args.measurements}")
    return args


def make_operator(row, m, seed):
    """The measurement of a Table 2 row: fixed random (LINEAR, NN) or learned ((L))."""
    if row == "LINEAR":
        return M.GaussianProjection(m, seed=seed)
    if row == "NN":
        return M.LearnedNetwork(m, seed=seed, trainable=False)
    if row == "LINEAR(L)":
        return M.LearnedLinear(m, seed=seed)
    return M.LearnedNetwork(m, seed=seed)


def train_model(row, m, x_train, args):
    seed = args.seed
    operator = make_operator(row, m, seed)
    scale = None
    if args.calibrate and row.startswith("NN"):
        scale = calibrate_measurement(operator, x_train[:1000], seed=seed)

    def adam():
        return keras.optimizers.Adam(args.learning_rate, **({"global_clipnorm": args.clipnorm} if args.clipnorm else {}))

    with make_strategy(args.strategy).scope():
        dcs = DeepCompressedSensing(
            mlp_generator(latent_dim=args.latent_dim, seed=seed), operator,
            latent_steps=args.latent_steps, rip_weight=args.rip_weight,
            update=args.update if row.endswith("(L)") else "joint", step_size=args.step_size,
            second_order=not args.first_order, seed=seed, name=f"dcs_{row}_{m}".replace("(", "").replace(")", ""))
        dcs.compile(optimizer=adam(), **({"measurement_optimizer": adam()} if dcs.update == "alternating" else {}))
    data = as_tf_dataset(x_train, batch_size=args.batch_size, seed=seed, repeat=True, drop_remainder=True)
    history, seconds = fit_for_steps(dcs, data, args.steps, args.log_every)
    return dcs, history, seconds, scale


def evaluate(dcs, x, seed):
    """Per-image errors of the fast path and its steady-state time per image (graph traced first)."""
    dcs.reconstruct_images(x[:2], seed=seed)  # trace the reconstruction graph outside the timing
    rec = dcs.reconstruct_images(x, seed=seed)
    return rec, per_image_squared_error(rec.x, x), rec.wall_time / len(x)


def row_entry(model, m, errors, seconds_per_image, subset, steps, extra=None):
    s = summarize(errors)
    paper_mean, paper_std = PAPER.get(model, {}).get(m, (None, None))
    entry = {"model": model, "m": m, "error_mean": s["mean"], "error_std": s["std"], "ci95": s["ci95"],
             "images": s["n"], "test_subset": subset, "latent_steps": steps, "seconds_per_image": seconds_per_image,
             "paper_mean": paper_mean, "paper_std": paper_std}
    entry.update(extra or {})
    return entry


def fmt(mean, std):
    if mean is None:
        return "–"
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def summary_markdown(rows, speed, args, seconds, histories):
    ms = args.measurements
    models = ["CSGM (baseline)"] + list(args.rows)
    lines = [
        "# Deep Compressed Sensing, Table 2, on embedded MNIST", "",
        f"Per-image squared error Σ(x̂ − x)² (pixels in [0, 1]), mean ± std over test images. DCS: "
        f"{args.test_images} embedded test digits, {args.latent_steps} latent steps, no restarts. "
        f"CSGM baseline: VAE prior (z = 20), {args.csgm_restarts} restarts × {args.csgm_steps} Adam steps "
        f"(lr 0.01, λ = 0.1), on the first {args.csgm_images} test digits only (`--csgm-images`), same "
        f"LINEAR measurements. Noise-free measurements. Paper: full MNIST (60,000 training digits).", "",
        "| model | " + " | ".join(f"m = {m} (ours)" for m in ms) + " | " + " | ".join(f"m = {m} (paper)" for m in ms)
        + " | steps | s / image (m = " + str(ms[0]) + ") |",
        "|---|" + "---|" * (2 * len(ms) + 2),
    ]
    for model in models:
        ours = {r["m"]: r for r in rows if r["model"] == model and r["test_subset"] == "all"}
        if model == "CSGM (baseline)":
            ours = {r["m"]: r for r in rows if r["model"] == model}
        if not ours:
            continue
        cells = [fmt(ours[m]["error_mean"], ours[m]["error_std"]) if m in ours else "–" for m in ms]
        paper = [fmt(*PAPER.get(model, {}).get(m, (None, None))) for m in ms]
        first = ours.get(ms[0], next(iter(ours.values())))
        steps = f"{args.csgm_restarts} × {args.csgm_steps}" if model.startswith("CSGM") else str(args.latent_steps)
        lines.append(f"| {model} | " + " | ".join(cells) + " | " + " | ".join(paper)
                     + f" | {steps} | {first['seconds_per_image']:.4f} |")
    clipping = f" with global gradient-norm clipping at {args.clipnorm}" if args.clipnorm else ""
    calibration = "calibrated to preserve distances at initialisation" if args.calibrate else "not calibrated"
    lines += ["", f"Training budget per DCS model: {args.steps} steps of batch {args.batch_size} "
              f"({args.steps * args.batch_size / args.train_images:.0f} epochs of {args.train_images} digits), "
              f"Adam lr {args.learning_rate}{clipping}, initial step size {args.step_size}, RIP weight "
              f"{args.rip_weight}, {'first' if args.first_order else 'second'}-order, learned measurements updated "
              f"{args.update}ly, MLP measurements {calibration}. Wall time of the whole run: {seconds / 60:.1f} min.",
              ""]
    if speed:
        lines += ["## Speed: DCS fast path vs CSGM (same images, same LINEAR measurements)", "",
                  markdown_table(speed, ["m", "images", "dcs_error", "csgm_error", "dcs_seconds_per_image",
                                         "csgm_seconds_per_image", "speedup"],
                                 ["m", "images", "DCS LINEAR error", "CSGM error", "DCS s/image", "CSGM s/image",
                                  "speed-up"]), ""]
    lines += ["## Training (last logged values)", "",
              markdown_table([{"model": k, **{n: v[-1] for n, v in h.items()}} for k, h in histories.items()],
                             ["model", "loss", "measurement_error", "rip_loss", "reconstruction_error", "step_size",
                              "train_seconds"]), "",
              "`reconstruction_error` is the training batches' Σ(x̂ − x)² (a monitor; it is not trained on).", ""]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    set_precision(args.precision)
    out = prepare_output_dir(args.out)
    n_models = len(args.rows) * len(args.measurements)
    estimate = (sum(_SECONDS_PER_STEP[r] for r in args.rows) * len(args.measurements) * args.steps
                + _CSGM_SECONDS_PER_IMAGE * args.csgm_images * len(args.measurements)
                * args.csgm_steps * args.csgm_restarts / 10000)
    print(f"DCS Table 2: {n_models} DCS models × {args.steps} steps, DCS evaluation on {args.test_images} test "
          f"digits, CSGM ({args.csgm_restarts} × {args.csgm_steps} steps) on {args.csgm_images} digits per m. "
          f"Expect about {estimate / 60:.0f} min on a 2-core CPU (more if it is shared). Writing to {out}/",
          flush=True)
    start = time.perf_counter()
    x_train = load_dataset("mnist-embedded", "train")[: args.train_images]
    x_test = load_dataset("mnist-embedded", "test")[: args.test_images]
    x_csgm = x_test[: args.csgm_images]
    examples = x_test[: args.examples]
    decoder = None
    if args.csgm_images:
        decoder = mnist_vae_prior(strategy=make_strategy(args.strategy),
                                  **({} if args.vae_epochs is None else {"epochs": args.vae_epochs}))
    rows, speed, histories = [], [], {}
    for m in args.measurements:
        shown, titles = [examples], ["truth"]
        linear_model = None
        for row in args.rows:
            print(f"\n== {row}, m = {m}: training {args.steps} steps", flush=True)
            dcs, history, train_seconds, scale = train_model(row, m, x_train, args)
            histories[f"{row} m={m}"] = {**history, "train_seconds": [train_seconds]}
            rec, errors, per_image = evaluate(dcs, x_test, args.seed)
            rows.append(row_entry(row, m, errors, per_image, "all", args.latent_steps,
                                  {"train_seconds": train_seconds, "learned_step_size": dcs.step_size(),
                                   "calibration_factor": scale}))
            print(f"   {row} m={m}: error {rows[-1]['error_mean']:.2f} ± {rows[-1]['error_std']:.2f} "
                  f"(paper {fmt(*PAPER[row][m]) if m in PAPER[row] else '–'}), {per_image * 1e3:.3f} ms/image, "
                  f"trained in {train_seconds:.0f} s", flush=True)
            shown.append(rec.x[: args.examples])
            titles.append(row)
            if row == "LINEAR":
                linear_model = dcs
            if args.save_models:
                tag = f"{row}_m{m}".replace("(", "").replace(")", "")
                prepare_output_dir(out / "models")
                dcs.generator.save(out / "models" / f"generator_{tag}.keras")
                dcs.save(out / "models" / f"dcs_{tag}.keras")
        if decoder is not None:
            op = linear_model.operator if linear_model is not None else make_operator("LINEAR", m, args.seed)
            op.ensure_built(x_test.shape[1:])
            y = op.forward(x_csgm, {})
            print(f"\n== CSGM baseline, m = {m}: {len(x_csgm)} digits × {args.csgm_restarts} restarts × "
                  f"{args.csgm_steps} steps", flush=True)
            csgm = CSGM(decoder, op, steps=args.csgm_steps, restarts=args.csgm_restarts, learning_rate=0.01,
                        z_prior_weight=0.1, batch_size=args.csgm_batch_size, seed=args.seed)
            rec = csgm.reconstruct(y, verbose=1 if sys.stdout.isatty() else 0)
            errors = per_image_squared_error(rec.x, x_csgm)
            csgm_per_image = rec.wall_time / len(x_csgm)
            rows.append(row_entry("CSGM (baseline)", m, errors, csgm_per_image, f"first {len(x_csgm)}",
                                  args.csgm_restarts * args.csgm_steps))
            print(f"   CSGM m={m}: error {rows[-1]['error_mean']:.2f} ± {rows[-1]['error_std']:.2f} "
                  f"(paper {fmt(*PAPER['CSGM (baseline)'].get(m, (None, None)))}), {csgm_per_image:.3f} s/image",
                  flush=True)
            shown.append(rec.x[: args.examples])
            titles.append("CSGM")
            if linear_model is not None:
                _, dcs_errors, dcs_per_image = evaluate(linear_model, x_csgm, args.seed)
                rows.append(row_entry("LINEAR", m, dcs_errors, dcs_per_image, f"first {len(x_csgm)}",
                                      args.latent_steps))
                speed.append({"m": m, "images": len(x_csgm), "dcs_error": float(np.mean(dcs_errors)),
                              "csgm_error": float(np.mean(errors)), "dcs_seconds_per_image": dcs_per_image,
                              "csgm_seconds_per_image": csgm_per_image, "speedup": csgm_per_image / dcs_per_image})
                print(f"   speed-up of the DCS fast path over CSGM: {speed[-1]['speedup']:.0f}×", flush=True)
        save_comparison_grid(shown, out / f"reconstructions_m{m}.png", titles=titles)

    seconds = time.perf_counter() - start
    write_csv(rows, out / "table.csv")
    summary = summary_markdown(rows, speed, args, seconds, histories)
    (out / "table.md").write_text(summary)
    write_json({"settings": vars(args), "machine": machine_description(), "wall_time_s": seconds, "rows": rows,
                "speed": speed, "histories": histories, "paper": {k: {str(m): v for m, v in d.items()}
                                                                   for k, d in PAPER.items()}},
               out / "results.json")
    print("\n" + summary)
    print(f"Results written to {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
