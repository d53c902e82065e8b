"""Bora et al. (ICML 2017) Fig. 1(a) on the embedded MNIST test split: CSGM with a VAE prior vs Lasso.

Reconstruction error per pixel against the number of Gaussian measurements m, for
"VAE" (λ = 0), "VAE+Reg" (λ = 0.1) and Lasso in the pixel basis (α = 0.1), with noise
``‖η‖ ≈ 0.1``; then the two "sources of error" experiments — images from the range of the
generator (``x* = G(z*)``) and the representation error (``Identity()`` measurements) — and
super-resolution and inpainting examples.

Writes to ``--out`` (default ``results/csgm_vs_lasso``): ``errors.csv``, ``errors.png`` (log-x),
``sources_of_error.png``, ``superres.png``, ``inpainting.png`` and ``summary.md``.

Run ``python -m recipes.csgm_vs_lasso --help`` for the flags. The default budget (3 restarts ×
1000 Adam steps) finishes in about half an hour on a 2-core CPU; ``--restarts 10`` is the paper's.
The experiment itself is the library function ambient_dcs.experiments.csgm_vs_lasso.csgm_vs_lasso.
"""

from __future__ import annotations

from recipes import common, names


def parse_args(argv=None):
    p = common.parser("recipes.csgm_vs_lasso", __doc__, epilog=False)
    p.add_argument("--images", type=int, default=300, help="test images for the Gaussian-measurement curves")
    p.add_argument("--measurements", type=int, nargs="+", default=list(names.PAPER_MEASUREMENTS),
                   help="numbers of Gaussian measurements m")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps per restart (paper: 1000)")
    p.add_argument("--restarts", type=int, default=3, help="random restarts per image (paper: 10)")
    p.add_argument("--learning-rate", type=float, default=0.01, help="Adam learning rate (paper: 0.01)")
    p.add_argument("--noise", type=float, default=0.1, help="expected norm of the noise vector ‖η‖ (paper: 0.1)")
    p.add_argument("--lasso-alpha", type=float, default=0.1, help="Lasso ℓ1 weight α in ½‖y−Ax‖²+α‖x‖₁ (paper: 0.1)")
    p.add_argument("--range-images", type=int, default=100, help="images for the range-of-generator experiment")
    p.add_argument("--example-images", type=int, default=8, help="images in the super-resolution/inpainting grids")
    p.add_argument("--batch-size", type=int, default=100, help="images optimised together (× restarts)")
    p.add_argument("--vae-epochs", type=int, default=None, help="epochs of the cached VAE prior (default: the library's)")
    p.add_argument("--xla", choices=("auto", "on", "off"), default="auto",
                   help="compile the latent optimisation with XLA; auto: on for the VAE's dense layers, where "
                        "the benchmark measured it 17%% faster (docs/results/benchmarks.md)")
    common.add_common_flags(p, "csgm_vs_lasso", seed_help="seed of the measurements and the initial latents")
    args = p.parse_args(argv)
    common.require_positive(p, args, ("images", "restarts", "range_images", "example_images", "batch_size"),
                            "must be positive; received")
    common.require_positive(p, args, ("steps",), "must be positive; received", minimum=0)
    if any(m < 1 for m in args.measurements):
        p.error(f"--measurements must be positive integers; received {args.measurements}")
    return args


def main(argv=None):
    args = parse_args(argv)
    _, strategy = common.setup(args)
    from ambient_dcs.experiments.csgm_vs_lasso import CsgmVsLassoConfig, csgm_vs_lasso, write_csgm_vs_lasso_report

    return common.run(args, strategy, csgm_vs_lasso, CsgmVsLassoConfig, write_csgm_vs_lasso_report)


if __name__ == "__main__":
    raise SystemExit(main())
