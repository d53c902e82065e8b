"""Prior quality per CPU-minute: classifier FID against training wall time, for training candidates.

Trains one prior per measurement setting and candidate for the same wall-time budget and scores it
every ~25 s of training: classifier FID and IS of 2,000 generated digits against the 4,000 clean
training digits (the scoring time is not counted). Settings: ``clean`` (a GAN on the clean digits,
the reference of the grid and the main job's oracle) and the AmbientGAN grid's measurement settings
(each training digit measured once). Candidates change one thing of the main job's prior (batch 32,
WGAN-GP, width 0.25, lr 1e-4 / 4e-4, 1 critic step): batch, loss (hinge, LSGAN, DCGAN), learning
rates, width, critic steps, upsampling; ``grid`` is the grid's prior (batch 16).

Writes --out (default results/prior_training): curves.png (one panel per setting), table.md,
results.json and runs/<setting>__<candidate>.json (a finished run is reused when the recipe is run
again with the same budget, sampling and seed).

The experiment itself is the library function ambient_dcs.experiments.prior_training.prior_training.
"""

from __future__ import annotations

from recipes import common, names


def parse_args(argv=None):
    p = common.parser("recipes.prior_training", __doc__)
    p.add_argument("--settings", nargs="+", default=["clean", "pixeldrop-0.8", "blur-noise-0.5"],
                   choices=["clean", *names.GRID_SETTINGS], metavar="SETTING",
                   help="clean digits and/or measurement settings of the grid: "
                        + ", ".join(["clean", *names.GRID_SETTINGS]))
    p.add_argument("--candidates", nargs="+", default=["default", "grid"], choices=list(names.PRIOR_CANDIDATES),
                   metavar="NAME", help="training candidates (quote names with spaces): "
                   + "; ".join(f"{name} = {over}" for name, over in names.PRIOR_CANDIDATES.items()))
    p.add_argument("--budget-seconds", type=float, default=100.0,
                   help="training wall time per run (the main job's prior trains about 100 s)")
    p.add_argument("--every-seconds", type=float, default=25.0, help="training seconds between scores")
    p.add_argument("--samples", type=int, default=2000, help="generated digits per score")
    p.add_argument("--classifier-epochs", type=int, default=20, help="epochs of the cached scoring classifier")
    common.add_common_flags(p, "prior_training", seed_help="seed of the networks, data order and measurements")
    args = p.parse_args(argv)
    common.require_positive(p, args, ("samples", "classifier_epochs"))
    if not (args.budget_seconds > 0 and args.every_seconds > 0):
        p.error(f"--budget-seconds and --every-seconds must be > 0; received {args.budget_seconds} and "
                f"{args.every_seconds}")
    if args.samples < 2:
        p.error("--samples must be >= 2")
    return args


def main(argv=None):
    args = parse_args(argv)
    _, strategy = common.setup(args)
    from ambient_dcs.experiments.prior_training import PriorTrainingConfig, prior_training, write_prior_training_report

    return common.run(args, strategy, prior_training, PriorTrainingConfig, write_prior_training_report)


if __name__ == "__main__":
    raise SystemExit(main())
