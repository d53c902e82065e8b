"""The main job: learn a prior from lossy measurements alone, then reconstruct the signals with it.

The default run (no arguments, no network, about 13 minutes on a 2-core CPU):

1. measures the 4,000 embedded MNIST training digits with a Gaussian blur (σ = 1, 5×5) plus
   Gaussian noise of std 0.5; from there on, training sees only the measurements y;
2. trains an AmbientGAN prior from those measurements (progress bar, checkpoints, sample grids);
3. measures held-out test digits the same way and reconstructs them with CSGM on the learned prior;
4. compares, on the same test measurements and with the same CSGM budget: classical inverses that
   need no training (Wiener deconvolution; Lasso in DCT and wavelet bases with the noise-level
   rule for α), CSGM on a prior trained by the "unmeasure" baseline (invert, then train an ordinary
   GAN) and CSGM on an oracle prior trained on the clean digits (what a real user never has);
5. writes metrics.json, report.md, reconstructions.png, samples.png and the prior (prior.keras with
   prior.operator.json) to --out, and prints the table.

With your own measurements (no clean signal anywhere):

    python -m recipes.make_measurements --out my.npz          # or your instrument's file
    python -m recipes.ambient_then_reconstruct --measurements my.npz

trains the prior from the file's measurements, reconstructs every one of them and saves
reconstructions.npz in the input's order (measurement errors only: there is no ground truth).
--prior prior.keras reuses a trained prior. Starting again with the same --out resumes an
interrupted training; a finished prior is reused when the settings match and is never
overwritten without --overwrite.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np

import measurements as M
from ambient_dcs.ambientgan import measure_dataset, unmeasure_dataset
from ambient_dcs.baselines import ClassicalInverse, Lasso
from ambient_dcs.data import DATASETS, load_dataset
from ambient_dcs.distribute import add_strategy_argument, make_strategy, set_precision
from ambient_dcs.figures import save_comparison_grid
from ambient_dcs.learned_inversion import LearnedLatentReconstructor
from ambient_dcs.measurement_files import MeasurementFileError, load_measurements, operator_from_spec
from ambient_dcs.metrics import reconstruction_summary
from ambient_dcs.reconstruct import CSGM
from ambient_dcs.reporting import machine_description, markdown_table, prepare_output_dir, write_json
from ambient_dcs.training import (PriorConfig, PriorExistsError, check_prior_target, estimate_training_seconds,
                                  load_prior, prior_settings, train_prior)

DEFAULT_OPERATOR = "GaussianBlur"
DEFAULT_OPERATOR_ARGS = '{"sigma": 1.0, "size": 5, "noise": {"GaussianNoise": {"std": 0.5}}}'

#: CSGM seconds per image, restart and Adam step of the default prior on the 2-core reference CPU
#: (docs/results/main_job.md: 93-100 s for 100 images × 3 restarts × 300 steps).
SECONDS_PER_LATENT_UPDATE = 1.1e-3


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.ambient_then_reconstruct",
                                description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=_Formatter)
    data = p.add_argument_group("data and measurements")
    data.add_argument("--dataset", default="mnist-embedded",
                      help=f"clean images to measure (demonstration mode): one of {list(DATASETS)} or a .npy/.npz "
                           f"file of images (N, H, W, C) in [0, 1]")
    data.add_argument("--operator", default=None,
                      help=f"measurement operator: a name from measurements.__all__ or an operator config .json "
                           f"(default: {DEFAULT_OPERATOR}, or the operator stored in --measurements)")
    data.add_argument("--operator-args", default=None,
                      help=f"JSON object of the operator's arguments (default for {DEFAULT_OPERATOR}: "
                           f"{DEFAULT_OPERATOR_ARGS})")
    data.add_argument("--measurements", default=None, metavar="FILE.npz",
                      help="your own measurements (keys y, theta/<name>, image_shape, operator; see "
                           "recipes.make_measurements): train on them and reconstruct all of them")
    data.add_argument("--image-shape", default=None, metavar="H,W,C",
                      help="shape of the signals, when --measurements does not store it and y is not image-shaped")
    data.add_argument("--test-images", type=int, default=100,
                      help="held-out images to measure and reconstruct (demonstration mode)")
    prior = p.add_argument_group("prior training")
    prior.add_argument("--prior", default=None, metavar="FILE.keras",
                       help="use this trained generator instead of training one")
    prior.add_argument("--steps", type=int, default=2000, help="training steps of each prior")
    prior.add_argument("--batch-size", type=int, default=32, help="training batch size")
    prior.add_argument("--latent-dim", type=int, default=32, help="size of the latent z")
    prior.add_argument("--width", type=float, default=0.25,
                       help="channel multiplier of the conv networks (1.0 = the AmbientGAN paper's, ~16x slower)")
    prior.add_argument("--no-baselines", action="store_true",
                       help="skip the unmeasure-baseline and oracle priors (about a third of the time each)")
    prior.add_argument("--fast", action="store_true",
                       help="also train the DCS learned latent optimisation on the real measurements and "
                            "report the fast reconstructor (--latent-steps gradient steps per image)")
    prior.add_argument("--latent-steps", type=int, default=3, help="steps of the fast reconstructor (with --fast)")
    prior.add_argument("--xla", action="store_true",
                       help="compile the training steps with XLA (on the 2-core CPU it makes them slower: 102 vs 91 ms "
                            "per step of batch 32; try it on a GPU)")
    prior.add_argument("--no-xla", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    rec = p.add_argument_group("reconstruction")
    rec.add_argument("--csgm-steps", type=int, default=300, help="CSGM Adam steps per restart")
    rec.add_argument("--restarts", type=int, default=3, help="CSGM random restarts per image")
    rec.add_argument("--z-prior-weight", type=float, default=0.1, help="CSGM's λ in ‖y − A G(z)‖² + λ‖z‖²")
    rec.add_argument("--no-lasso", action="store_true",
                     help=f"skip the Lasso baselines (always skipped for a random operator on more than "
                          f"{LASSO_MAX_RANDOM_IMAGES} images: one Lasso problem per image)")
    out = p.add_argument_group("output")
    add_strategy_argument(out)
    out.add_argument("--out", default="results/ambient_then_reconstruct", help="output folder")
    out.add_argument("--overwrite", action="store_true", help="retrain priors even if finished ones are in --out")
    out.add_argument("--checkpoint-every", type=int, default=250,
                     help="training steps between checkpoints (an interrupted run resumes from the last one)")
    out.add_argument("--seed", type=int, default=0, help="seed of the measurements, the training and the restarts")
    out.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "latent_dim", "test_images", "restarts", "latent_steps", "checkpoint_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1; received {getattr(args, name)}")
    if args.csgm_steps < 0 or args.z_prior_weight < 0 or not args.width > 0:
        p.error("--csgm-steps and --z-prior-weight must be >= 0 and --width > 0")
    if args.image_shape is not None:
        try:
            args.image_shape = tuple(int(v) for v in args.image_shape.split(","))
            assert len(args.image_shape) == 3 and min(args.image_shape) >= 1
        except (ValueError, AssertionError):
            p.error(f"--image-shape must be H,W,C (three positive integers); received {args.image_shape!r}")
    return args


# ---------------------------------------------------------------------------------------------- set-up
def resolve_operator(args):
    """The operator from --operator/--operator-args (the default blur + noise if neither is given)."""
    spec = args.operator or DEFAULT_OPERATOR
    if args.operator_args is not None:
        op_args = args.operator_args
    else:
        op_args = DEFAULT_OPERATOR_ARGS if spec == DEFAULT_OPERATOR else None
    return operator_from_spec(spec, None if spec.endswith(".json") else op_args)


def prior_config(args):
    return PriorConfig(steps=args.steps, batch_size=args.batch_size, latent_dim=args.latent_dim, width=args.width,
                       latent_steps=args.latent_steps if args.fast else 0, checkpoint_every=args.checkpoint_every,
                       jit_compile=args.xla and not args.no_xla, steps_per_execution=25, seed=args.seed)


def estimate_minutes(args, configs, images, priors):
    """Rough wall time from the per-step costs measured on the reference machine (``configs``: the
    :class:`PriorConfig` of each prior still to train)."""
    train = sum(estimate_training_seconds(cfg) for cfg in configs)
    csgm = max(priors, 1) * images * args.restarts * args.csgm_steps * SECONDS_PER_LATENT_UPDATE
    return (train + csgm + 30) / 60


def csgm(generator, op, args):
    return CSGM(generator, op, steps=args.csgm_steps, restarts=args.restarts, z_prior_weight=args.z_prior_weight,
                batch_size=min(256, args.test_images), seed=args.seed)


#: Lasso with a random operator solves one problem per image; above this many images it is skipped.
LASSO_MAX_RANDOM_IMAGES = 500


def classical_methods(op, image_shape, args, images):
    """Inverses that need no training: the unmeasure inverse(s) and, for linear operators, Lasso
    (for random operators, whose matrix differs per image, only up to LASSO_MAX_RANDOM_IMAGES images)."""
    methods = {}
    names = [m for m in M.available_methods(op) if m != "pinv"] or M.available_methods(op)
    labels = {"wiener": "Wiener deconvolution", "blur": "blur fill", "inpaint": "biharmonic inpainting",
              "pinv": "pseudo-inverse"}
    for name in names:
        methods[labels[name]] = ClassicalInverse(op, name, image_shape=image_shape)
    gaussian = isinstance(op.noise, M.GaussianNoise) and op.noise.std > 0
    if op.is_linear and not args.no_lasso and (not op.is_random or images <= LASSO_MAX_RANDOM_IMAGES):
        for basis in ("dct", "wavelet"):
            alpha = "discrepancy" if gaussian else 0.1
            methods[f"Lasso ({basis.upper() if basis == 'dct' else 'Haar wavelet'})"] = Lasso(
                op, basis=basis, alpha=alpha, image_shape=image_shape)
    return methods


def run_method(name, method, y, theta, x=None):
    print(f"  reconstructing with {name} …", flush=True)
    rec = method.reconstruct(y, theta or None)
    summary = reconstruction_summary(rec.x, x, rec.measurement_error, rec.wall_time)
    if isinstance(method, Lasso):
        summary["alpha"] = method.alpha_
    return rec, summary


# ---------------------------------------------------------------------------------------------- report
COLUMNS = [("method", "method"), ("squared_error", "per-image squared error Σ(x̂−x)²"), ("psnr", "PSNR (dB)"),
           ("ssim", "SSIM"), ("measurement_error", "measurement error ‖y−A(x̂)‖²"), ("seconds_per_image", "s / image")]


def table_rows(results, with_truth):
    rows = []
    for name, s in results.items():
        row = {"method": name}
        for key in ("squared_error", "psnr", "ssim", "measurement_error"):
            if f"{key}_mean" in s:
                row[key] = f"{s[f'{key}_mean']:.3g} ± {s[f'{key}_std']:.2g}"
        row["seconds_per_image"] = f"{s['seconds_per_image']:.2g}"
        rows.append(row)
    keys = [k for k, _ in COLUMNS if with_truth or k not in ("squared_error", "psnr", "ssim")]
    return rows, keys, [dict(COLUMNS)[k] for k in keys]


def verdict(results):
    """Plain sentences: does the AmbientGAN prior beat the classical inverses and the unmeasure prior?"""
    ambient = results.get("CSGM, AmbientGAN prior (ours)")
    if ambient is None or "squared_error_mean" not in ambient:
        return []
    mine = ambient["squared_error_mean"]
    others = {k: v["squared_error_mean"] for k, v in results.items()
              if "oracle" not in k and "AmbientGAN" not in k and "squared_error_mean" in v}
    lines = []
    beaten = [k for k, v in others.items() if mine < v]
    lost = [k for k, v in others.items() if mine >= v]
    if others:
        lines.append(f"The AmbientGAN prior's CSGM reconstructions ({mine:.2f}) beat "
                     + (f"every other method without clean data ({', '.join(f'{k} {others[k]:.2f}' for k in beaten)})."
                        if not lost else f"{len(beaten)} of {len(others)} methods without clean data; they lose to "
                        + ", ".join(f"{k} ({others[k]:.2f})" for k in lost) + "."))
    oracle = results.get("CSGM, oracle prior (clean data)")
    if oracle is not None:
        gap = mine - oracle["squared_error_mean"]
        lines.append(f"Oracle gap: the prior trained on clean digits reaches {oracle['squared_error_mean']:.2f}, "
                     f"{gap:+.2f} from the AmbientGAN prior ({100 * gap / max(oracle['squared_error_mean'], 1e-9):+.0f} %).")
    return lines


def write_report(out, args, op, image_shape, results, priors, seconds, with_truth, notes):
    rows, keys, headers = table_rows(results, with_truth)
    table = markdown_table(rows, keys, headers)
    op_text = json.dumps(M.config_of(op)["config"], default=str)
    lines = [
        "# Learn a prior from measurements, then reconstruct", "",
        f"Operator: `{type(op).__name__}` on images of shape {image_shape}; "
        + ("data: " + (args.measurements if args.measurements else f"{args.dataset}, training split measured once "
                       f"(the priors without clean data see only y), {args.test_images} held-out test images") + "."),
        "", table, "",
        *[f"- {line}" for line in verdict(results) + notes], "",
        "## Settings", "",
        f"- Priors: AmbientGAN WGAN-GP, {args.steps} steps of batch {args.batch_size}, latent size {args.latent_dim}, "
        f"network width {args.width}, seed {args.seed}" + (f"; learned latent optimisation of {args.latent_steps} steps (--fast)"
                                                            if args.fast else "") + ".",
        f"- CSGM: Adam lr 0.01, {args.csgm_steps} steps × {args.restarts} restarts, λ = {args.z_prior_weight}, the restart "
        f"with the lowest measurement error kept; the same budget for every prior.",
        "- Per-image squared error Σ(x̂ − x)² and PSNR/SSIM with pixels in [0, 1]; mean ± standard deviation over images.",
        f"- Operator config: `{op_text}`",
        f"- Wall time of the whole run: {seconds / 60:.1f} min on {machine_description()['cpu']} "
        f"({machine_description()['cores']} cores).", "",
        "## Files", "",
        "- `metrics.json`: every number above, the settings and the machine.",
        "- `reconstructions.png`: rows = truth (if known), measurement, each method." if with_truth else
        "- `reconstructions.npz`: the reconstructions, in the input's order; `reconstructions.png`: the first ones.",
        "- `samples.png`: samples of each prior.",
        *[f"- `{p.path.name}` (+ `{p.path.stem}.operator.json`, `{p.path.stem}.json`): {name}" for name, p in priors.items()
          if p is not None and p.path.parent.resolve() == out.resolve()],
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    return table


def measurement_view(op, y, theta, image_shape):
    """The measurements as images for the figure (image-shaped ones as they are, others by A⁺)."""
    y = np.asarray(y)
    if y.ndim == 4 and tuple(y.shape[1:]) == tuple(image_shape):
        lo, hi = float(y.min()), float(y.max())
        return np.clip(y, 0, 1) if lo >= -0.05 and hi <= 1.05 else (y - lo) / max(hi - lo, 1e-9)
    if op.is_linear:
        return np.clip(np.asarray(op.pseudo_inverse(y, theta or None)), 0, 1)
    return None


# ---------------------------------------------------------------------------------------------- the run
def main(argv=None):
    args = parse_args(argv)
    set_precision(args.precision)
    start = time.perf_counter()
    out = pathlib.Path(args.out)
    strategy = make_strategy(args.strategy)
    try:
        if args.measurements:
            data = load_measurements(args.measurements, operator=args.operator and resolve_operator(args),
                                     image_shape=args.image_shape)
            op, image_shape = data.operator, data.image_shape
        else:
            op = resolve_operator(args)
            data = None
        generator = None
        if args.prior:
            generator, _ = load_prior(args.prior)
    except (MeasurementFileError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if data is None:
        x_train = load_dataset(args.dataset, "train")
        x_test = load_dataset(args.dataset, "test")[: args.test_images]
        image_shape = tuple(int(d) for d in x_train.shape[1:])
        try:
            op.ensure_built(image_shape)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if generator is not None and tuple(generator.output_shape[1:]) != tuple(image_shape):
        print(f"error: {args.prior} generates images of shape {tuple(generator.output_shape[1:])}; the measurements are "
              f"of images of shape {tuple(image_shape)}.", file=sys.stderr)
        return 2
    # The priors to train: name → (data size, operator, mode, config).
    config = prior_config(args)
    n_train = len(data) if data is not None else len(x_train)
    plan = {} if generator is not None else {"prior": (n_train, op, "ambient", config)}
    if data is None and not args.no_baselines:
        plain = PriorConfig(**(config.as_dict() | {"latent_steps": 0}))  # baselines: ordinary GANs, same budget
        if M.available_methods(op):
            plan["prior_unmeasure"] = (n_train, op, "unmeasure", plain)
        plan["prior_oracle"] = (n_train, M.Identity(), "ambient", plain)
    prepare_output_dir(out)
    try:  # fail before any work if a finished prior, or a checkpoint, with other settings is in the way
        todo = [check_prior_target(out, name, prior_settings(prior_op, image_shape, cfg, mode, size), args.overwrite)
                for name, (size, prior_op, mode, cfg) in plan.items()]
    except PriorExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    trainings = todo.count("train")
    to_train = [cfg for (_, _, _, cfg), what in zip(plan.values(), todo) if what == "train"]
    n_images = len(data) if data is not None else len(x_test)
    reused = f", {todo.count('reuse')} finished one(s) reused" if "reuse" in todo else ""
    print(f"ambient_then_reconstruct: {type(op).__name__} measurements of "
          f"{args.measurements or args.dataset}; {trainings} prior(s) to train ({args.steps} steps each){reused}, "
          f"{n_images} images to reconstruct. Expected time: about "
          f"{estimate_minutes(args, to_train, n_images, len(plan)):.0f} minutes on a 2-core CPU. Output: {out}/",
          flush=True)

    seed = args.seed
    priors, results, recs = {}, {}, {}
    try:
        if data is None:
            # The instrument: every training image measured once. The priors without clean data see only y, θ.
            y_train, theta_train = measure_dataset(op, x_train, seed=seed)
            y_test, theta_test = measure_dataset(op, x_test, seed=seed + 1)
            truth = x_test
        else:
            y_train, theta_train, y_test, theta_test, truth = data.y, data.theta, data.y, data.theta, None
        training_data = {"prior": {"y": y_train, "theta": theta_train},
                         "prior_unmeasure": lambda: unmeasure_dataset(op, y_train, theta_train),
                         "prior_oracle": lambda: x_train}
        labels = {"prior": "AmbientGAN prior (ours)", "prior_unmeasure": "unmeasure-baseline prior",
                  "prior_oracle": "oracle prior (clean data)"}
        for name, (_, prior_op, mode, cfg) in plan.items():
            train_data = training_data[name]() if callable(training_data[name]) else training_data[name]
            priors[labels[name]] = train_prior(train_data, prior_op, image_shape, cfg, out, name=name, mode=mode,
                                               overwrite=args.overwrite, progress=not args.quiet, sample_operator=op,
                                               strategy=strategy)
        if generator is None:
            generator = priors["AmbientGAN prior (ours)"].generator
    except (PriorExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    print("Reconstructing …", flush=True)
    methods = dict(classical_methods(op, image_shape, args, n_images))
    methods["CSGM, AmbientGAN prior (ours)"] = csgm(generator, op, args)
    if args.fast and priors.get("AmbientGAN prior (ours)") is not None:
        fast = priors["AmbientGAN prior (ours)"].reconstructor(restarts=args.restarts, seed=seed)
        methods[f"fast path: {fast.steps} learned steps, AmbientGAN prior (ours)"] = fast
    if "unmeasure-baseline prior" in priors:
        methods["CSGM, unmeasure-baseline prior"] = csgm(priors["unmeasure-baseline prior"].generator, op, args)
    if "oracle prior (clean data)" in priors:
        methods["CSGM, oracle prior (clean data)"] = csgm(priors["oracle prior (clean data)"].generator, op, args)
    for name, method in methods.items():
        recs[name], results[name] = run_method(name, method, y_test, theta_test, truth)

    notes = []
    if isinstance(op.noise, M.GaussianNoise) and op.noise.std > 0:
        m = int(np.prod(op.measurement_shape(image_shape)))
        notes.append(f"The true signals themselves leave a measurement error of about m·σ² = {m} × {op.noise.std:g}² = "
                     f"{m * op.noise.std ** 2:.3g} (the noise): lower values mean fitting the noise.")
    for name, s in results.items():
        if "alpha" in s:
            notes.append(f"{name}: α = {s['alpha']:g}, chosen by the discrepancy principle (no ground truth used).")

    # Figures and files.
    shown = slice(0, min(10, n_images))
    view = measurement_view(op, y_test[shown], {k: v[shown] for k, v in theta_test.items()}, image_shape)
    rows, titles = [], []
    if truth is not None:
        rows.append(truth[shown]); titles.append("truth")
    if view is not None:
        rows.append(view); titles.append("measurement")
    for name, rec in recs.items():
        rows.append(rec.x[shown]); titles.append(name.replace("CSGM, ", "").replace(" (clean data)", ""))
    save_comparison_grid(rows, out / "reconstructions.png", titles=titles)
    sample_rows, sample_titles = [], []
    rng = np.random.default_rng(seed)
    for name, prior in ({"AmbientGAN prior (ours)": None} | priors).items():
        g = generator if prior is None else prior.generator
        z = rng.standard_normal((10, int(g.input_shape[-1]))).astype("float32")
        sample_rows.append(np.asarray(g(z, training=False))); sample_titles.append(name)
    if truth is None:
        np.savez(out / "reconstructions.npz", **{"x": recs["CSGM, AmbientGAN prior (ours)"].x,
                                                  "measurement_error": recs["CSGM, AmbientGAN prior (ours)"].measurement_error},
                 **{f"x_{i}": rec.x for i, rec in enumerate(recs.values())})
        (out / "reconstructions_methods.json").write_text(json.dumps({f"x_{i}": n for i, n in enumerate(recs)}, indent=2))
    save_comparison_grid(sample_rows, out / "samples.png", titles=sample_titles)
    seconds = time.perf_counter() - start
    write_json({"settings": vars(args) | {"operator_config": M.config_of(op)}, "image_shape": list(image_shape),
                "methods": results, "priors": {k: v.info | {"path": str(v.path), "reused": v.reused} for k, v in priors.items()},
                "notes": notes, "machine": machine_description(), "wall_time_s": seconds}, out / "metrics.json")
    table = write_report(out, args, op, image_shape, results, priors, seconds, truth is not None, notes)
    print("\n" + table + "\n")
    for line in verdict(results) + notes:
        print("- " + line)
    print(f"\nDone in {seconds / 60:.1f} min. Results in {out}/ (report.md, metrics.json, reconstructions.png, samples.png"
          + (", reconstructions.npz" if truth is None else "") + ").")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
