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
--prior-file prior.keras reuses a trained prior. --prior diffusion (or both) learns a diffusion
prior from the same measurements and reconstructs by posterior sampling, with a per-pixel std
beside the error in uncertainty.png. Starting again with the same --out resumes an
interrupted training; a finished prior is reused when the settings match and is never
overwritten without --overwrite.

The job itself is the library function ambient_dcs.experiments.main_job.ambient_then_reconstruct.
"""

from __future__ import annotations

import argparse
import sys
import time

from recipes import common, names


def parse_args(argv=None):
    p = common.parser("recipes.ambient_then_reconstruct", __doc__)
    data = p.add_argument_group("data and measurements")
    data.add_argument("--dataset", default="mnist-embedded",
                      help=f"clean images to measure (demonstration mode): one of {list(names.DATASETS)} or a .npy/.npz "
                           f"file of images (N, H, W, C) in [0, 1]")
    data.add_argument("--operator", default=None,
                      help=f"measurement operator: a name from measurements.__all__ or an operator config .json "
                           f"(default: {names.MAIN_JOB_OPERATOR}, or the operator stored in --measurements)")
    data.add_argument("--operator-args", default=None,
                      help=f"JSON object of the operator's arguments (default for {names.MAIN_JOB_OPERATOR}: "
                           f"{names.MAIN_JOB_OPERATOR_ARGS})")
    data.add_argument("--measurements", default=None, metavar="FILE.npz",
                      help="your own measurements (keys y, theta/<name>, image_shape, operator; see "
                           "recipes.make_measurements): train on them and reconstruct all of them")
    data.add_argument("--image-shape", default=None, metavar="H,W,C",
                      help="shape of the signals, when --measurements does not store it and y is not image-shaped")
    data.add_argument("--test-images", type=int, default=100,
                      help="held-out images to measure and reconstruct (demonstration mode)")
    prior = p.add_argument_group("prior training")
    prior.add_argument("--prior", default="gan", choices=list(names.PRIOR_FAMILIES),
                       help="prior learned from the measurements: gan (AmbientGAN, reconstructed by CSGM), diffusion "
                            "(Ambient Diffusion for masks, EM with posterior sampling otherwise; reconstructed by "
                            "posterior sampling, with a per-pixel std) or both")
    prior.add_argument("--prior-file", default=None, metavar="FILE.keras",
                       help="use this trained generator instead of training the AmbientGAN prior")
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
    prior.add_argument("--diffusion-steps", type=int, default=600, help="training steps of the diffusion prior")
    prior.add_argument("--diffusion-channels", type=int, nargs="+", default=[16, 32],
                       help="U-Net channels per resolution of the diffusion prior")
    rec = p.add_argument_group("reconstruction")
    rec.add_argument("--csgm-steps", type=int, default=300, help="CSGM Adam steps per restart")
    rec.add_argument("--restarts", type=int, default=3, help="CSGM random restarts per image")
    rec.add_argument("--z-prior-weight", type=float, default=0.1, help="CSGM's λ in ‖y − A G(z)‖² + λ‖z‖²")
    rec.add_argument("--posterior-samples", type=int, default=8,
                     help="posterior samples per measurement (diffusion prior): their mean and per-pixel std")
    rec.add_argument("--posterior-steps", type=int, default=12, help="noise levels of posterior sampling")
    rec.add_argument("--no-lasso", action="store_true",
                     help=f"skip the Lasso baselines (always skipped for a random operator on more than "
                          f"{names.LASSO_MAX_RANDOM_IMAGES} images: one Lasso problem per image)")
    out = p.add_argument_group("output")
    common.add_common_flags(out, "ambient_then_reconstruct",
                            seed_help="seed of the measurements, the training and the restarts")
    out.add_argument("--overwrite", action="store_true", help="retrain priors even if finished ones are in --out")
    out.add_argument("--checkpoint-every", type=int, default=250,
                     help="training steps between checkpoints (an interrupted run resumes from the last one)")
    out.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    common.require_positive(p, args, ("steps", "batch_size", "latent_dim", "test_images", "restarts", "latent_steps",
                                      "checkpoint_every", "diffusion_steps", "posterior_steps"))
    if args.posterior_samples < 2 or min(args.diffusion_channels) < 1:
        p.error(f"--posterior-samples must be >= 2 (a std needs two samples) and --diffusion-channels >= 1; received "
                f"{args.posterior_samples} and {args.diffusion_channels}")
    args.diffusion_channels = tuple(args.diffusion_channels)
    if args.csgm_steps < 0 or args.z_prior_weight < 0 or not args.width > 0:
        p.error("--csgm-steps and --z-prior-weight must be >= 0 and --width > 0")
    if args.image_shape is not None:
        try:
            args.image_shape = tuple(int(v) for v in args.image_shape.split(","))
            assert len(args.image_shape) == 3 and min(args.image_shape) >= 1
        except (ValueError, AssertionError):
            p.error(f"--image-shape must be H,W,C (three positive integers); received {args.image_shape!r}")
    args.xla = args.xla and not args.no_xla
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    out, strategy = common.setup(args, create_out=False)  # the job makes --out once its inputs are checked
    from ambient_dcs.experiments.main_job import JobError, MainJobConfig, ambient_then_reconstruct, write_report

    try:
        result = ambient_then_reconstruct(MainJobConfig(**common.settings(args, drop=("no_xla",))),
                                          strategy=strategy, started=started)
    except JobError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = write_report(result)
    print("\n" + table + "\n")
    for line in result.verdict + result.notes:
        print("- " + line)
    print(f"\nDone in {result.wall_time_s / 60:.1f} min. Results in {out}/ (report.md, metrics.json, "
          f"reconstructions.png, samples.png" + (", reconstructions.npz" if not result.with_truth else "")
          + (", uncertainty.png" if (out / "uncertainty.png").exists() else "") + ").")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
