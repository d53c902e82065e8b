"""What each part of the main job costs on this machine, at two image sizes: the numbers behind its time estimate.

``python -m benchmarks.main_job_costs`` (≈ 10 min on a 2-core CPU) times, with the main job's own
settings, at 28×28 (the embedded digits) and at 64×64 (grey crops of the Hubble Deep Field image
that scikit-image ships, a real astronomical image), under the main job's operator (blur σ = 1 +
Gaussian noise 0.5):

* a GAN prior's training (``train_prior``, batch 32, width 0.25, 25 steps per call, a checkpoint and
  sample grid every 250 steps), whole calls of 250 and 500 steps: seconds per step and the seconds a
  prior costs whatever its steps (tracing, saving);
* CSGM (3 restarts) on two step counts, each traced first: seconds per latent update (image × restart ×
  step), and the tracing a reconstruction call starts with;
* Lasso in the DCT and Haar bases together (α by the discrepancy principle) and the classical
  inverse, on two image counts: seconds per image and per call;
* the diffusion prior of ``--prior diffusion`` (``DiffusionEM``, U-Net (16, 32)) on two step counts,
  and posterior sampling (K = 8, 12 noise levels) on two image counts.

Each unit cost is the slope between the two lengths; the rest is the cost of a call. It prints the
table ``ambient_dcs.experiments.costs.MEASURED`` holds, with this machine's speed measured in the same
run the way the estimate measures it (``costs.matmul_gflops``), and writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

SIZES = (28, 64)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.main_job_costs", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", default="results/benchmarks/main_job_costs.json", help="where to write the numbers")
    p.add_argument("--no-diffusion", action="store_true", help="skip the diffusion prior's costs")
    return p.parse_args(argv)


def hubble_crops(count, size, seed=0):
    """``count`` grey ``size × size`` crops of ``skimage.data.hubble_deep_field()`` in [0, 1], ``(N, H, W, 1)``."""
    import numpy as np
    import skimage.data

    sky = skimage.data.hubble_deep_field().mean(axis=-1) / 255.0
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, sky.shape[0] - size, count)
    cols = rng.integers(0, sky.shape[1] - size, count)
    return np.stack([sky[r:r + size, c:c + size] for r, c in zip(rows, cols)])[..., None].astype("float32")


def _images(size):
    from ambient_dcs.data.datasets import load_dataset

    return load_dataset("mnist-embedded", "train")[:512] if size == 28 else hubble_crops(512, size)


def _wall(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _slope(short, long, t_short, t_long):
    """``(seconds per unit, seconds per call)`` of a call costing ``t`` at ``short`` and ``long`` units."""
    per_unit = max(t_long - t_short, 0.0) / (long - short)
    return per_unit, max(t_short - short * per_unit, 0.0)


def costs_at(size, diffusion=True):
    """The unit costs at ``size × size`` (see the module docstring)."""
    import measurements as M
    from ambient_dcs.data.measured import measure_dataset
    from ambient_dcs.experiments.main_job import DEFAULT_OPERATOR, DEFAULT_OPERATOR_ARGS, classical_methods
    from ambient_dcs.priors.diffusion import DiffusionConfig, train_diffusion_prior
    from ambient_dcs.priors.gan import PriorConfig, train_prior
    from ambient_dcs.reconstruction.csgm import CSGM
    from ambient_dcs.reconstruction.posterior import PosteriorSampling

    x = _images(size)
    shape = tuple(x.shape[1:])
    op = M.get(DEFAULT_OPERATOR, **json.loads(DEFAULT_OPERATOR_ARGS))
    op.ensure_built(shape)
    y, theta = measure_dataset(op, x, seed=0)
    out = {"image_shape": list(shape), "pixels": int(x[0].size)}
    with tempfile.TemporaryDirectory() as root:
        def gan(steps):  # the main job's prior: checkpoints (and sample grids) every 250 steps
            config = PriorConfig(steps=steps, batch_size=32, checkpoint_every=250, steps_per_execution=25, seed=0)
            return train_prior({"y": y}, op, shape, config, f"{root}/gan{steps}", verbose=0)

        t = {steps: _wall(lambda steps=steps: gan(steps)) for steps in (250, 500)}
        out["gan_step"], out["gan_start"] = _slope(250, 500, t[250], t[500])
        generator = gan(500).generator  # reused: the finished prior of the longer run
        t, first = {}, {}
        for steps in (50, 150):  # traced by a first call; its extra time is what a call starts with
            csgm = CSGM(generator, op, steps=steps, restarts=3, batch_size=100, seed=0)
            first[steps] = _wall(lambda: csgm.reconstruct(y[:100]))  # the main job's batch: 100 images
            t[steps] = _wall(lambda: csgm.reconstruct(y[:100]))
        out["csgm_update"] = _slope(50, 150, t[50], t[150])[0] / (100 * 3)
        out["csgm_start"] = max(first[150] - t[150], 0.0)
        methods = classical_methods(op, shape, 100)
        t = {n: _wall(lambda n=n: [m.reconstruct(y[:n]) for k, m in methods.items() if k.startswith("Lasso")])
             for n in (8, 32)}
        out["lasso_image"], out["lasso_start"] = _slope(8, 32, t[8], t[32])
        inverse = [m for k, m in methods.items() if not k.startswith("Lasso")]
        out["inverse_image"] = _wall(lambda: [m.reconstruct(y[:100]) for m in inverse]) / 100
        if diffusion:
            def prior(steps):
                config = DiffusionConfig(steps=steps, checkpoint_every=250, seed=0)
                return train_diffusion_prior({"y": y}, op, shape, config, f"{root}/dm{steps}", verbose=0)

            t = {steps: _wall(lambda steps=steps: prior(steps)) for steps in (16, 48)}
            out["diffusion_step"], out["diffusion_start"] = _slope(16, 48, t[16], t[48])
            sampler = PosteriorSampling(prior(48).model, op, samples=8, steps=12, batch_size=8, seed=0)
            t = {n: _wall(lambda n=n: sampler.reconstruct(y[:n])) for n in (2, 6)}
            out["posterior_image"], out["posterior_start"] = _slope(2, 6, t[2], t[6])
    return out


UNITS = {"gan_step": "GAN prior: s / training step (batch 32)", "gan_start": "GAN prior: s / prior, besides its steps",
         "csgm_update": "CSGM: s / latent update (image × restart × step)", "csgm_start": "CSGM: s / call",
         "lasso_image": "Lasso DCT + Haar: s / image", "lasso_start": "Lasso DCT + Haar: s / run",
         "inverse_image": "classical inverse: s / image", "diffusion_step": "diffusion prior: s / training step",
         "diffusion_start": "diffusion prior: s / prior, besides its steps",
         "posterior_image": "posterior sampling (K = 8): s / image", "posterior_start": "posterior sampling: s / call"}


def doc_costs_table(results):
    """The table of ``docs/results/benchmarks.md``'s main-job section from a run's JSON."""
    small, large = results["costs"]["28"], results["costs"]["64"]
    rows = [f"| {label} | {small[k]:.4g} | {large[k]:.4g} | {large[k] / small[k]:.1f} |" if small[k] > 0 else
            f"| {label} | {small[k]:.4g} | {large[k]:.4g} | – |" for k, label in UNITS.items()]
    return "\n".join([
        f"{results['machine']['cpu']} ({results['machine']['cores']} cores), its speed measured in the same run: "
        f"{results['matmul_gflops']:.0f} GFLOP/s (1024² float32 matmul).", "",
        "| part of the main job | 28×28 | 64×64 | ratio (pixels: 5.2) |", "|---|---|---|---|", *rows])


def main(argv=None):
    args = parse_args(argv)
    from recipes.startup import start_tensorflow

    start_tensorflow()
    from ambient_dcs.experiments.costs import matmul_gflops

    from .hardware import describe_machine

    machine = describe_machine()
    peak = matmul_gflops()
    print(f"main job costs on {machine['cpu']} ({machine['cores']} cores), 1024² matmul {peak:.0f} GFLOP/s",
          flush=True)
    costs = {}
    for size in SIZES:
        costs[size] = costs_at(size, diffusion=not args.no_diffusion)
        print(f"{size}×{size}: " + ", ".join(f"{k} {v:.4g}" for k, v in costs[size].items() if k != "image_shape"),
              flush=True)
    results = {"machine": machine, "matmul_gflops": peak, "costs": {str(k): v for k, v in costs.items()}}
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
