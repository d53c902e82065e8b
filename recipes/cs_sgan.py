"""CS-SGAN on embedded MNIST: class-conditional samples and a t-SNE of optimised latents (Wu et al. Fig. 5).

Trains a semi-supervised CS-GAN: an MLP generator with batch norm (z = 100; see
``ambient_dcs.networks.mlp_bn_generator`` for why not the DCS MLP) and an MLP classifier with 11
outputs (10 digits + "generated") as the measurement. A class-balanced fraction of the 4,000
embedded training digits keeps its label (``--labelled-fraction``); the rest are unlabelled and only
train the real/fake distinction. Generating digit k means optimising z toward class k (3 latent
steps). Reports the classifier's accuracy on the 1,000 embedded test digits, how often the
project's independent MNIST classifier recognises a sample for class k as k, and the IS / FID of
the samples; draws a class-conditional sample grid and a t-SNE (scikit-learn) of the initial and
the optimised latents of ``--tsne-samples`` samples coloured by their class.

Writes to ``--out`` (default ``results/cs_sgan``): ``samples_by_class.png`` (row k: samples for
digit k), ``tsne.png``, ``summary.md``, ``results.json``, ``latents.npz`` (z0, ẑ, classes); the
training's checkpoints in ``cs_sgan_training/`` (an interrupted run resumes there).

The default budget (3,000 steps of batch 64) takes about 15-20 minutes on a 2-core CPU; the paper
keeps its GAN settings (200,000 steps: ``--steps 200000``). The experiment itself is the library
function ambient_dcs.experiments.csgan_experiments.cs_sgan.
"""

from __future__ import annotations

from recipes import common, names


def parse_args(argv=None):
    p = common.parser("recipes.cs_sgan", __doc__, epilog=False)
    p.add_argument("--steps", type=int, default=3000, help="training steps (1 classifier + 1 generator update each)")
    p.add_argument("--labelled-fraction", type=float, default=0.1,
                   help="fraction of each digit's training images that keep their label (the rest: unlabelled)")
    p.add_argument("--latent-steps", type=int, default=3, help="latent gradient steps T (paper: 3)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="Adam lr of C and G (β1 0.5, as CS-GAN)")
    p.add_argument("--latent-dim", type=int, default=100, help="size of z")
    p.add_argument("--generator", choices=("mlp-bn", "mlp"), default="mlp-bn",
                   help="G: an MLP with batch norm (256-512-1024), or the paper's DCS MLP (500-500, no norm)")
    p.add_argument("--optimisation-cost-weight", type=float, default=3.0, help="β of β·‖ẑ − z0‖² (CS-GAN: 3)")
    p.add_argument("--step-size", type=float, default=0.01, help="initial latent step size (learned)")
    p.add_argument("--latent-objective", choices=names.LATENT_OBJECTIVES, default="per-example",
                   help="what the latent steps descend: per-example or batch-mean (the original CS-GAN's, 1/64 of the step)")
    p.add_argument("--penalty-anchor", choices=names.PENALTY_ANCHORS, default="projected",
                   help="z0 of the penalty β‖ẑ − z0‖²: initial (unprojected, as the original) or projected (proj(z0))")
    p.add_argument("--tsne-samples", type=int, default=2000, help="samples in the t-SNE plot (paper: 2000)")
    p.add_argument("--samples-per-class", type=int, default=10, help="columns of the class-conditional grid")
    p.add_argument("--eval-samples", type=int, default=2000, help="samples for the conditional accuracy and IS/FID")
    p.add_argument("--classifier-epochs", type=int, default=20, help="epochs of the cached independent MNIST classifier")
    p.add_argument("--train-images", type=int, default=4000, help="training digits used (embedded split: 4000)")
    p.add_argument("--log-every", type=int, default=500, help="training steps per progress line")
    common.add_common_flags(p, "cs_sgan", seed_help="seed of the networks, labels kept, data order and latents")
    args = p.parse_args(argv)
    common.require_positive(p, args, ("steps", "batch_size", "latent_dim", "tsne_samples", "samples_per_class",
                                      "eval_samples", "classifier_epochs", "train_images", "log_every"),
                            "must be a positive integer; received")
    if not 0 <= args.labelled_fraction <= 1:
        p.error(f"--labelled-fraction must be in [0, 1]; received {args.labelled_fraction}")
    if args.latent_steps < 0:
        p.error("--latent-steps must be >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    _, strategy = common.setup(args)
    from ambient_dcs.experiments.csgan_experiments import CsSganConfig, cs_sgan, write_cs_sgan_report

    return common.run(args, strategy, cs_sgan, CsSganConfig, write_cs_sgan_report)


if __name__ == "__main__":
    raise SystemExit(main())
