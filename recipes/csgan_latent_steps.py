"""CS-GAN with T = 0, 3, 5 latent steps on embedded MNIST (Wu et al., ICML 2019, §4.2 and Fig. 3).

Trains a small MNIST GAN — an MLP generator (z = 100) and the DCS MLP measurement net with 2 logits
as the discriminator — with 0 (a vanilla GAN), 3 and 5 latent optimisation steps,
under one budget and several seeds, then scores samples (with the same latent optimisation) by
the project's MNIST-classifier Inception Score and FID (``ambient_dcs.metrics.classifier_scores``,
against the 1,000 embedded test digits) and reports mean ± std over seeds.

Writes to ``--out`` (default ``results/csgan_latent_steps``): ``scores.csv`` (one row per run),
``table.md``, ``results.json``, ``samples_T{T}.png`` (first seed) and ``samples_T0_3_5.png`` (the
paper's Fig. 3 layout); each model's checkpoints in ``csgan_T{T}_s{seed}_training/`` (an
interrupted run resumes there).

The generator is :func:`ambient_dcs.networks.mlp_bn_generator` (an MLP with batch normalisation) by
default: the paper's MLP generator without normalisation (``--generator mlp``) collapsed to a single
image for every T we tried in a CPU budget (see that function's docstring).

The default budget (3 seeds × 3 values of T × 800 steps of batch 64) takes about 30 minutes on a
2-core CPU. The original trains 200,000 steps (``--steps 200000``) and scores 10,000 samples
(``--eval-samples 10000``). The experiment itself is the library function
ambient_dcs.experiments.csgan_experiments.csgan_latent_steps.
"""

from __future__ import annotations

from recipes import common, names


def parse_args(argv=None):
    p = common.parser("recipes.csgan_latent_steps", __doc__, epilog=False)
    p.add_argument("--latent-steps", type=int, nargs="+", default=[0, 3, 5], help="values of T (paper Fig. 3: 0 3 5)")
    p.add_argument("--steps", type=int, default=800, help="training steps (1 D + 1 G update each) per model")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size (original: 64)")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Adam lr of D and G (original: 2e-4, β1 0.5)")
    p.add_argument("--latent-dim", type=int, default=100, help="size of z")
    p.add_argument("--optimisation-cost-weight", type=float, default=3.0, help="β of β·‖ẑ − z0‖² (original: 3)")
    p.add_argument("--step-size", type=float, default=0.01, help="initial latent step size (learned; original 0.01)")
    p.add_argument("--variants", nargs="+", choices=names.CSGAN_VARIANTS, default=["per-example:projected"],
                   help="CS-GAN variants run for each T > 0, as <latent objective>:<penalty anchor>. Objective: "
                        "per-example (each latent descends its own error) or batch-mean (the original's mean over a "
                        "batch of 64: 1/64 of the step). Anchor of β‖ẑ − z0‖²: initial (the unprojected z0, as the "
                        "original) or projected (proj(z0), where the steps start)")
    p.add_argument("--generator", choices=("mlp-bn", "mlp"), default="mlp-bn",
                   help="G: an MLP with batch norm (256-512-1024), or the paper's DCS MLP (500-500, no norm; it "
                        "collapsed in our budget)")
    p.add_argument("--discriminator", choices=("mlp", "conv", "conv-sn"), default="mlp",
                   help="D: the paper's MNIST MLP (2 logits), the conv critic, or the conv critic with spectral norm")
    p.add_argument("--eval-samples", type=int, default=1000, help="samples scored per model (>= 1000 for a usable FID)")
    p.add_argument("--classifier-epochs", type=int, default=20, help="epochs of the cached MNIST classifier used for IS/FID")
    p.add_argument("--train-images", type=int, default=4000, help="training digits used (embedded split: 4000)")
    p.add_argument("--log-every", type=int, default=300, help="training steps per progress line")
    common.add_common_flags(p, "csgan_latent_steps", seeds=[0, 1, 2],
                            seeds_help="training seeds (one model per seed and T)")
    args = p.parse_args(argv)
    common.require_positive(p, args, ("steps", "batch_size", "latent_dim", "eval_samples", "classifier_epochs",
                                      "train_images", "log_every"), "must be a positive integer; received")
    if any(t < 0 for t in args.latent_steps) or any(s < 0 for s in args.seeds):
        p.error("--latent-steps and --seeds must be non-negative integers")
    return args


def main(argv=None):
    args = parse_args(argv)
    _, strategy = common.setup(args)
    from ambient_dcs.experiments.csgan_experiments import (CsganLatentStepsConfig, csgan_latent_steps,
                                                          write_csgan_latent_steps_report)

    return common.run(args, strategy, csgan_latent_steps, CsganLatentStepsConfig, write_csgan_latent_steps_report)


if __name__ == "__main__":
    raise SystemExit(main())
