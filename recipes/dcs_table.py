"""Deep Compressed Sensing, Table 2 (Wu et al., ICML 2019) on the embedded MNIST split.

Trains one DCS model per row and number of measurements m — LINEAR (a fixed Gaussian projection),
NN (a fixed, randomly initialised MLP), LINEAR(L) (a learned linear map) and NN(L) (a learned MLP) —
on the 4,000 embedded training digits, then reconstructs the 1,000 test digits with 3 latent
gradient steps (the DCS fast path) and reports the per-image error as mean ± std over test images
in two units — Σ(x̂ − x)² with pixels in [0, 1] (CSGM's unit) and ‖x̂ − x‖₂ with pixels in [−1, 1]
(the original DCS code's unit) — beside PCA-m and the mean digit as references, with the
reconstruction time per image. The CSGM baseline
(the VAE prior, 10 restarts × 1000 Adam steps, λ = 0.1) runs on the same LINEAR measurements of a
subset of the test images (``--csgm-images``), where the DCS LINEAR model is also timed, for the
speed-up of the fast path. Measurements are noise-free, as in the paper.

Writes to ``--out`` (default ``results/dcs_table``): ``table.csv``, ``table.md`` (with the paper's
numbers side by side), ``results.json`` (settings, machine, training histories, times),
``reconstructions_m{m}.png`` and, with ``--save-models``, the trained generators under ``models/``.

The default budget (2,000 training steps per model, 8 models, CSGM on 200 test images) took 25 min
on a 2-core CPU. The paper does not state its number of training steps; the original ``main_cs.py``
allows up to 10M steps at Adam 1e-4 (``--learning-rate 1e-4 --clipnorm 0``). Scale up with
``--steps`` and run CSGM on every test image with ``--csgm-images 1000``.

Each model trains in ``OUT/dcs_<row>_m<m>_training`` (checkpoints): started again with the same
``--out``, an interrupted training resumes and a finished one is reused. The experiment itself is
the library function ambient_dcs.experiments.dcs_table.dcs_table.
"""

from __future__ import annotations

import argparse

from recipes import common, names


def parse_args(argv=None):
    p = common.parser("recipes.dcs_table", __doc__, epilog=False)
    p.add_argument("--measurements", type=int, nargs="+", default=[10, 25], help="numbers of measurements m (paper: 10 25)")
    p.add_argument("--rows", nargs="+", default=list(names.DCS_ROWS), choices=names.DCS_ROWS,
                   help="DCS rows of Table 2 to train")
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
                        "digits on average, as the N(0, 1/m) Gaussian matrix does (ambient_dcs.models.dcs.calibrate_measurement)")
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
    common.add_common_flags(p, "dcs_table", seed_help="seed of the networks, measurements, data order and latents")
    args = p.parse_args(argv)
    common.require_positive(p, args, ("steps", "batch_size", "latent_dim", "train_images", "test_images", "csgm_steps",
                                      "csgm_restarts", "csgm_batch_size", "log_every", "examples"),
                            "must be a positive integer; received")
    if args.latent_steps < 0 or args.csgm_images < 0 or args.clipnorm < 0 or args.learning_rate <= 0:
        p.error("--latent-steps, --csgm-images and --clipnorm must be >= 0 and --learning-rate > 0")
    if any(m < 1 for m in args.measurements):
        p.error(f"--measurements must be positive integers; received {args.measurements}")
    return args


def main(argv=None):
    args = parse_args(argv)
    _, strategy = common.setup(args)
    from ambient_dcs.experiments.dcs_table import DcsTableConfig, dcs_table, write_dcs_table_report

    return common.run(args, strategy, dcs_table, DcsTableConfig, write_dcs_table_report)


if __name__ == "__main__":
    raise SystemExit(main())
