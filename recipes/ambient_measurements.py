"""AmbientGAN vs its baselines on embedded MNIST, for a grid of measurement settings (Bora et al. 2018).

For each measurement setting the 4,000 training digits are measured once (the trainers see only
the measurements), then, with the same budget and seed, three generators are trained:

* ``ambient``   — AmbientGAN: the discriminator compares real measurements with simulated
                  measurements of generated digits;
* ``ignore``    — the GAN is trained on the measurements as if they were images (image-shaped
                  measurements only);
* ``unmeasure`` — the measurements are inverted first (blur fill, Wiener, inpainting) and an
                  ordinary GAN is trained on the result (where such an inverse exists: not for the
                  1-D projections, as in the original code);

plus one reference GAN on the clean digits. ``unmeasure`` uses the classical inverse that recovers
the training digits best (the stronger baseline; e.g. biharmonic inpainting, not the blur fill, for
PixelDrop).

--theta chooses how the real measurements are drawn: ``once`` (each digit measured once, the
trainers see only those measurements: what an instrument gives) or ``per-batch`` (a fresh θ and
noise for every batch from the clean digits, as the original AmbientGAN code and paper do; ambient
and ignore only). ``--theta once per-batch`` runs both. Each generator is scored with the project's MNIST
classifier: an Inception-style score (higher is better) and a Fréchet distance of its features
(lower is better) over 1,000 samples, against the 4,000 clean training digits. The same two
numbers for the 1,000 clean test digits are the ceiling.

Writes --out (default results/ambient_measurements): table.md, table.csv, results.json and one
PNG sample grid per run (samples/<setting>_<mode>_seed<k>.png).

The experiment itself is the library function ambient_dcs.experiments.ambient_grid.ambient_grid.
"""

from __future__ import annotations

from recipes import common, names


def parse_args(argv=None):
    p = common.parser("recipes.ambient_measurements", __doc__)
    p.add_argument("--settings", nargs="+", default=list(names.GRID_SETTINGS), choices=list(names.GRID_SETTINGS),
                   help="measurement settings to run")
    p.add_argument("--theta", nargs="+", default=["once"], choices=names.THETA_PROTOCOLS,
                   help="θ protocol(s): once = each training digit measured once (what an instrument gives); "
                        "per-batch = a fresh θ every batch from the clean digits (the paper's protocol)")
    p.add_argument("--steps", type=int, default=2000, help="generator updates per run (the paper: 27,000)")
    p.add_argument("--width", type=float, default=0.25, help="channel multiplier of the conv networks (paper: 1.0)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="batch size (the paper: 64). 16 buys the 2,000 steps the whole grid needs within 45 min on "
                        "2 CPU cores; at 700 steps of 32 AmbientGAN had not yet overtaken the ignore baseline")
    p.add_argument("--xla", action="store_true",
                   help="compile the training steps with XLA (slower for these networks on a CPU: 102 vs 91 ms "
                        "per step of batch 32; try it on a GPU)")
    p.add_argument("--samples", type=int, default=1000, help="generated samples scored per run")
    p.add_argument("--no-reference", action="store_true", help="skip the GAN on clean digits")
    p.add_argument("--classifier-epochs", type=int, default=20,
                   help="epochs of the MNIST classifier that scores the samples (trained once, cached)")
    common.add_common_flags(p, "ambient_measurements", seeds=[0], seeds_help="seeds (each run is repeated per seed)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    common.require_positive(p, args, ("steps", "batch_size", "samples", "classifier_epochs"))
    if args.samples < 2:
        p.error("--samples must be >= 2")
    return args


def main(argv=None):
    args = parse_args(argv)
    _, strategy = common.setup(args)
    from ambient_dcs.experiments.ambient_grid import AmbientGridConfig, ambient_grid, write_ambient_grid_report

    return common.run(args, strategy, ambient_grid, AmbientGridConfig, write_ambient_grid_report)


if __name__ == "__main__":
    raise SystemExit(main())
