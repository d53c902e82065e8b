"""Diffusion priors learned from measurements only, against AmbientGAN at the same training wall time.

On the embedded MNIST digits, each training digit measured once, for PixelDrop(0.5 / 0.8 / 0.95),
BlockDrop(14) and blur σ=1 + noise 0.5: AmbientGAN and the diffusion prior learned from the same
measurements (AmbientDiffusion for the masks, DiffusionEM for blur + noise) each train for
--budget-seconds of wall time, and an oracle diffusion prior trains on the clean digits for as long.
Scores: classifier FID / IS of the samples; per-image squared error of --test-images held-out
measurements reconstructed by posterior sampling (MMPS, posterior mean of K samples) on the diffusion
prior and by CSGM on the AmbientGAN prior; calibration of the posterior std (fraction of pixels with
|x − mean| ≤ 2·std, with the value a calibrated posterior gives with K samples).

Default: about 45 minutes on a 2-core CPU. On a GPU scale up with --budget-seconds, --channels,
--samples and --posterior-samples. Writes --out (default results/ambient_diffusion): table.md,
results.json, samples.png, uncertainty.png, the priors (<setting>/diffusion.keras,
<setting>/ambientgan.keras) and runs/<setting>.json (a finished setting is reused when the recipe is
run again with the same settings).

The experiment itself is the library function ambient_dcs.experiments.ambient_diffusion.ambient_diffusion.
"""

from __future__ import annotations

from recipes import common, names


def parse_args(argv=None):
    p = common.parser("recipes.ambient_diffusion", __doc__)
    p.add_argument("--settings", nargs="+", default=list(names.DIFFUSION_SETTINGS), choices=list(names.GRID_SETTINGS),
                   metavar="SETTING", help="measurement settings: " + ", ".join(names.GRID_SETTINGS))
    p.add_argument("--budget-seconds", type=float, default=120.0, help="training wall time of every prior")
    p.add_argument("--gan", default="grid, lr ×3", choices=list(names.PRIOR_CANDIDATES), metavar="CANDIDATE",
                   help="AmbientGAN's training candidate (recipes.prior_training): " + "; ".join(names.PRIOR_CANDIDATES))
    p.add_argument("--channels", type=int, nargs="+", default=[16, 32], help="U-Net channels per resolution")
    p.add_argument("--batch-size", type=int, default=64, help="diffusion training batch")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="diffusion training learning rate (Adam)")
    p.add_argument("--gaussian-laps", type=int, default=2, help="DiffusionEM: laps of the initial Gaussian prior")
    p.add_argument("--e-every", type=int, default=8, help="DiffusionEM: one E-step every this many training steps")
    p.add_argument("--em-posterior-steps", type=int, default=6, help="DiffusionEM: noise levels of the E-step sampler")
    p.add_argument("--cg-iterations", type=int, default=1, help="conjugate-gradient iterations of MMPS")
    p.add_argument("--pool", type=int, default=0, help="DiffusionEM: posterior samples kept (0: every measurement)")
    p.add_argument("--samples", type=int, default=1000, help="generated digits per FID / IS")
    p.add_argument("--sample-steps", type=int, default=18, help="Heun steps of the diffusion sampler")
    p.add_argument("--test-images", type=int, default=100, help="held-out measurements reconstructed")
    p.add_argument("--posterior-samples", type=int, default=8, help="K posterior samples per measurement")
    p.add_argument("--posterior-steps", type=int, default=12, help="noise levels of posterior sampling")
    p.add_argument("--csgm-steps", type=int, default=200, help="CSGM steps on the AmbientGAN prior")
    p.add_argument("--restarts", type=int, default=3, help="CSGM restarts")
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle diffusion prior on clean digits")
    p.add_argument("--classifier-epochs", type=int, default=20, help="epochs of the cached scoring classifier")
    common.add_common_flags(p, "ambient_diffusion", seed_help="seed of the networks, data order and measurements")
    args = p.parse_args(argv)
    if min(args.channels) < 1:
        p.error(f"--channels must all be >= 1; received {args.channels}")
    common.require_positive(p, args, ("batch_size", "e_every", "em_posterior_steps", "cg_iterations",
                                      "samples", "sample_steps", "test_images", "posterior_steps", "csgm_steps",
                                      "restarts", "classifier_epochs"))
    common.require_positive(p, args, ("gaussian_laps", "pool"), "must be >= 0; received", minimum=0)
    if args.posterior_samples < 2:
        p.error(f"--posterior-samples must be >= 2 (a std needs two samples); received {args.posterior_samples}")
    if not (args.budget_seconds > 0 and args.learning_rate > 0):
        p.error(f"--budget-seconds and --learning-rate must be > 0; received {args.budget_seconds} and "
                f"{args.learning_rate}")
    args.channels = tuple(args.channels)
    return args


def main(argv=None):
    args = parse_args(argv)
    _, strategy = common.setup(args)
    from ambient_dcs.experiments.ambient_diffusion import (AmbientDiffusionConfig, ambient_diffusion,
                                                          write_ambient_diffusion_report)

    return common.run(args, strategy, ambient_diffusion, AmbientDiffusionConfig, write_ambient_diffusion_report)


if __name__ == "__main__":
    raise SystemExit(main())
