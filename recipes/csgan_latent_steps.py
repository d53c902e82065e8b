"""CS-GAN with T = 0, 3, 5 latent steps on embedded MNIST (Wu et al., ICML 2019, §4.2 and Fig. 3).

Trains a small MNIST GAN — an MLP generator (z = 100) and the DCS MLP measurement net with 2 logits
as the discriminator — with 0 (a vanilla GAN), 3 and 5 latent optimisation steps,
under one budget and several seeds, then scores samples (with the same latent optimisation) by
the project's MNIST-classifier Inception Score and FID (``ambient_dcs.metrics.classifier_scores``,
against the 1,000 embedded test digits) and reports mean ± std over seeds.

Writes to ``--out`` (default ``results/csgan_latent_steps``): ``scores.csv`` (one row per run),
``table.md``, ``results.json``, ``samples_T{T}.png`` (first seed) and ``samples_T0_3_5.png`` (the
paper's Fig. 3 layout).

The generator is :func:`ambient_dcs.csgan.mlp_bn_generator` (an MLP with batch normalisation) by
default: the paper's MLP generator without normalisation (``--generator mlp``) collapsed to a single
image for every T we tried in a CPU budget (see that function's docstring).

The default budget (3 seeds × 3 values of T × 800 steps of batch 64) takes about 30 minutes on a
2-core CPU. The original trains 200,000 steps (``--steps 200000``) and scores 10,000 samples
(``--eval-samples 10000``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ambient_dcs.csgan import CSGAN, mlp_bn_generator
from ambient_dcs.data import as_tf_dataset, load_dataset
from ambient_dcs.dcs import fit_for_steps
from ambient_dcs.distribute import add_strategy_argument, make_strategy, set_precision
from ambient_dcs.figures import save_comparison_grid, save_image_grid
from ambient_dcs.metrics import classifier_scores, mnist_classifier, summarize
from ambient_dcs.networks import conv_critic, mlp_discriminator, mlp_generator
from ambient_dcs.reporting import machine_description, markdown_table, prepare_output_dir, write_csv, write_json

IMAGE_SHAPE = (28, 28, 1)
# Seconds per training step (one D and one G update, batch 64) on the project's 2-core CPU; only
# used for the up-front time estimate.
_SECONDS_PER_STEP = {0: 0.07, 3: 0.25, 5: 0.35}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m recipes.csgan_latent_steps", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--latent-steps", type=int, nargs="+", default=[0, 3, 5], help="values of T (paper Fig. 3: 0 3 5)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (one model per seed and T)")
    p.add_argument("--steps", type=int, default=800, help="training steps (1 D + 1 G update each) per model")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size (original: 64)")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Adam lr of D and G (original: 2e-4, β1 0.5)")
    p.add_argument("--latent-dim", type=int, default=100, help="size of z")
    p.add_argument("--optimisation-cost-weight", type=float, default=3.0, help="β of β·‖ẑ − z0‖² (original: 3)")
    p.add_argument("--step-size", type=float, default=0.01, help="initial latent step size (learned; original 0.01)")
    p.add_argument("--generator", choices=("mlp-bn", "mlp"), default="mlp-bn",
                   help="G: an MLP with batch norm (256-512-1024), or the paper's DCS MLP (500-500, no norm; it "
                        "collapsed in our budget)")
    p.add_argument("--discriminator", choices=("mlp", "conv", "conv-sn"), default="mlp",
                   help="D: the paper's MNIST MLP (2 logits), the conv critic, or the conv critic with spectral norm")
    p.add_argument("--eval-samples", type=int, default=1000, help="samples scored per model (>= 1000 for a usable FID)")
    p.add_argument("--classifier-epochs", type=int, default=20, help="epochs of the cached MNIST classifier used for IS/FID")
    p.add_argument("--train-images", type=int, default=4000, help="training digits used (embedded split: 4000)")
    p.add_argument("--log-every", type=int, default=300, help="training steps per progress line")
    add_strategy_argument(p)
    p.add_argument("--out", default="results/csgan_latent_steps", help="output folder")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "latent_dim", "eval_samples", "classifier_epochs", "train_images",
                 "log_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer; received {getattr(args, name)}")
    if any(t < 0 for t in args.latent_steps) or any(s < 0 for s in args.seeds):
        p.error("--latent-steps and --seeds must be non-negative integers")
    return args


def make_discriminator(kind, seed):
    if kind == "mlp":
        return mlp_discriminator(IMAGE_SHAPE, outputs=2, seed=seed)
    return conv_critic(IMAGE_SHAPE, seed=seed, spectral_norm=kind == "conv-sn", outputs=2)


def make_generator(kind, latent_dim, seed):
    if kind == "mlp":
        return mlp_generator(latent_dim=latent_dim, seed=seed)
    return mlp_bn_generator(latent_dim=latent_dim, seed=seed)


def train(t, seed, x_train, args):
    import keras

    with make_strategy(args.strategy).scope():
        gan = CSGAN(make_generator(args.generator, args.latent_dim, 2 * seed),
                    make_discriminator(args.discriminator, 2 * seed + 1), latent_steps=t,
                    optimisation_cost_weight=args.optimisation_cost_weight, step_size=args.step_size, seed=seed,
                    name=f"csgan_T{t}_s{seed}")
        gan.compile(g_optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=0.5, beta_2=0.999),
                    d_optimizer=keras.optimizers.Adam(args.learning_rate, beta_1=0.5, beta_2=0.999))
    data = as_tf_dataset(x_train, batch_size=args.batch_size, seed=seed, repeat=True, drop_remainder=True)
    history, seconds = fit_for_steps(gan, data, args.steps, args.log_every)
    return gan, history, seconds


def aggregate(runs, latent_steps):
    table = []
    for t in latent_steps:
        sel = [r for r in runs if r["latent_steps"] == t]
        if not sel:
            continue
        inception, fid = summarize([r["inception_score"] for r in sel]), summarize([r["fid"] for r in sel])
        table.append({"latent_steps": t, "seeds": len(sel), "inception_score": inception["mean"],
                      "inception_score_std": inception["std"], "fid": fid["mean"], "fid_std": fid["std"],
                      "learned_step_size": float(np.mean([r["learned_step_size"] for r in sel])),
                      "train_seconds": float(np.mean([r["train_seconds"] for r in sel]))})
    return table


def summary_markdown(table, runs, real, args, seconds):
    lines = [
        "# CS-GAN: latent optimisation steps T = 0 / 3 / 5 on embedded MNIST", "",
        f"{args.generator.upper()} generator (z = {args.latent_dim}) and {args.discriminator.upper()} discriminator "
        f"(2 logits), Adam "
        f"({args.learning_rate}, β1 0.5, β2 0.999), batch {args.batch_size}, {args.steps} steps (1 D + 1 G update "
        f"each; {args.steps * args.batch_size / args.train_images:.0f} epochs of {args.train_images} digits), "
        f"optimisation-cost weight {args.optimisation_cost_weight}, initial step size {args.step_size}; "
        f"{len(args.seeds)} seeds. Scores: the project's MNIST classifier (IS from its probabilities, FID from "
        f"its 256-d features against the 1,000 embedded test digits), {args.eval_samples} samples per model "
        f"drawn with the same latent optimisation. T = 0 is a vanilla GAN. Wall time {seconds / 60:.1f} min.", "",
        "| T | seeds | IS (↑) | FID (↓) | learned step size | train s / model |",
        "|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(f"| {r['latent_steps']} | {r['seeds']} | {r['inception_score']:.2f} ± {r['inception_score_std']:.2f}"
                     f" | {r['fid']:.1f} ± {r['fid_std']:.1f} | {r['learned_step_size']:.4f} | {r['train_seconds']:.0f} |")
    lines += ["", f"Reference, real digits (the {real['n']} first training digits against the test digits): "
              f"IS {real['inception_score']:.2f}, FID {real['fid']:.1f}.", "",
              "## Every run", "",
              markdown_table(runs, ["latent_steps", "seed", "inception_score", "fid", "learned_step_size", "d_loss",
                                    "g_error", "train_seconds"]), "",
              "The paper reports Fig. 3 (samples) for MNIST and IS/FID on CIFAR-10 only (Fig. 4, Table 4: "
              "CS-GAN better than the T = 0 GAN in both, with less variance across hyper-parameters).", ""]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    set_precision(args.precision)
    out = prepare_output_dir(args.out)
    estimate = sum(_SECONDS_PER_STEP.get(t, 0.1 + 0.036 * t) for t in args.latent_steps) * len(args.seeds) * args.steps
    print(f"CS-GAN T = {args.latent_steps}, seeds {args.seeds}, {args.steps} steps each; IS/FID of "
          f"{args.eval_samples} samples per model. Expect about {estimate / 60 + 1:.0f} min on a 2-core CPU "
          f"(more if it is shared). Writing to {out}/", flush=True)
    start = time.perf_counter()
    x_train = load_dataset("mnist-embedded", "train")[: args.train_images]
    x_test = load_dataset("mnist-embedded", "test")
    classifier = mnist_classifier(epochs=args.classifier_epochs)
    real = classifier_scores(x_train[: min(len(x_train), args.eval_samples)], classifier, x_test)
    runs, grids = [], {}
    for t in args.latent_steps:
        for seed in args.seeds:
            print(f"\n== T = {t}, seed {seed}: training {args.steps} steps", flush=True)
            gan, history, train_seconds = train(t, seed, x_train, args)
            samples = gan.sample(args.eval_samples, seed=1000 + seed)
            scores = classifier_scores(samples, classifier, x_test)
            runs.append({"latent_steps": t, "seed": seed, "inception_score": scores["inception_score"],
                         "fid": scores["fid"], "learned_step_size": gan.step_size(),
                         "d_loss": float(history["d_loss"][-1]), "g_error": float(history["g_error"][-1]),
                         "train_seconds": train_seconds, "history": history})
            print(f"   T = {t}, seed {seed}: IS {scores['inception_score']:.2f}, FID {scores['fid']:.1f}, "
                  f"trained in {train_seconds:.0f} s", flush=True)
            if seed == args.seeds[0]:
                grids[t] = samples[:100]
                save_image_grid(samples[:100], out / f"samples_T{t}.png", ncols=10, title=f"CS-GAN, T = {t}")
    if len(grids) > 1:
        save_comparison_grid([g[:20] for g in grids.values()], out / "samples_T0_3_5.png",
                             titles=[f"T = {t}" for t in grids])
    table = aggregate(runs, args.latent_steps)
    seconds = time.perf_counter() - start
    write_csv([{k: v for k, v in r.items() if k != "history"} for r in runs], out / "scores.csv")
    summary = summary_markdown(table, runs, real, args, seconds)
    (out / "table.md").write_text(summary)
    write_json({"settings": vars(args), "machine": machine_description(), "wall_time_s": seconds, "table": table,
                "runs": runs, "real_data": real, "classifier_test_accuracy": classifier.test_accuracy},
               out / "results.json")
    print("\n" + summary)
    print(f"Results written to {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
