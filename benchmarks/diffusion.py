"""Diffusion prior speed: denoiser training steps/s and sampling images/s, against the matmul peak.

``python -m benchmarks.diffusion`` (≈ 1–2 min on the 2-core CPU) measures, in one process, with and
without XLA: training steps of :class:`ambient_dcs.models.DiffusionPrior` (the U-Net of
:func:`ambient_dcs.networks.unet`, 28×28 batches) and Heun sampling. FLOPs: a training step is
3 forward passes per example (forward, both backward products), a Heun step 2 forward passes
(1 for the last); see ``benchmarks/flops.py``. Writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

from .hardware import describe_machine, matmul_peak  # TensorFlow-free until a benchmark runs

SHAPE = (28, 28, 1)


def time_diffusion(peak, batch=64, channels=(16, 32), jit=False, steps=10, sample_steps=18, samples=64):
    """``{"train": …, "sample": …}``: seconds, rates, GFLOP/s and fraction of ``peak`` of a denoiser
    training step and of Heun sampling, one configuration."""
    import numpy as np
    import tensorflow as tf

    from ambient_dcs.models.diffusion import DiffusionPrior
    from ambient_dcs.networks import unet

    from .flops import forward_flops

    prior = DiffusionPrior(unet(SHAPE, channels=channels, seed=0), seed=0)
    prior.compile(jit_compile=jit)
    x = np.random.default_rng(0).uniform(size=(batch, *SHAPE)).astype(np.float32)
    data = tf.data.Dataset.from_tensors(x).repeat()
    prior.fit(data, steps_per_epoch=2, epochs=1, verbose=0)       # trace / compile
    start = time.perf_counter()
    prior.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    per_step = (time.perf_counter() - start) / steps
    f = forward_flops(prior.network)
    train_gflops = 3 * batch * f / per_step / 1e9
    prior.sample(samples, steps=sample_steps, seed=0, batch_size=samples)   # trace
    start = time.perf_counter()
    prior.sample(samples, steps=sample_steps, seed=1, batch_size=samples)
    seconds = time.perf_counter() - start
    sample_gflops = samples * (2 * sample_steps - 1) * f / seconds / 1e9
    return {"network_mflop": f / 1e6, "batch": batch, "channels": list(channels), "xla": jit,
            "train": {"seconds_per_step": per_step, "steps_per_s": 1 / per_step, "gflops": train_gflops,
                      "fraction_of_peak": train_gflops / peak},
            "sample": {"heun_steps": sample_steps, "images_per_s": samples / seconds, "gflops": sample_gflops,
                       "fraction_of_peak": sample_gflops / peak}}


def bench_diffusion(peak, quick):
    """Graph and XLA, as :func:`time_diffusion` (fewer steps with ``quick``)."""
    steps = 3 if quick else 10
    return {name: time_diffusion(peak, jit=jit, steps=steps, sample_steps=6 if quick else 18,
                                 samples=16 if quick else 64) for name, jit in (("graph", False), ("xla", True))}


def doc_diffusion_table(results):
    """The table of ``docs/results/benchmarks.md``'s diffusion section from a run's JSON."""
    rows = []
    for name in ("graph", "xla"):
        r = results[name]
        rows.append(f"| {name} | {r['batch']} | {tuple(r['channels'])} | {r['network_mflop']:.1f} | "
                    f"{r['train']['steps_per_s']:.2f} | {r['train']['fraction_of_peak']:.1%} | "
                    f"{r['sample']['images_per_s']:.1f} | {r['sample']['fraction_of_peak']:.1%} |")
    return "\n".join([
        f"Matmul peak measured in the same run: {results['matmul']['gflops']:.0f} GFLOP/s. Sampling: "
        f"{results['graph']['sample']['heun_steps']} Heun steps.", "",
        "| compile | batch | U-Net channels | MFLOP / image | training steps / s | of peak | sampling images / s "
        "| of peak |", "|---|---|---|---|---|---|---|---|", *rows])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.diffusion", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps (seconds)")
    p.add_argument("--json", default="results/benchmarks/diffusion.json", help="where to write the numbers")
    args = p.parse_args(argv)
    from recipes.startup import start_tensorflow

    start_tensorflow()
    peak = matmul_peak(2048, seconds=1.0 if args.quick else 3.0)
    results = {"machine": describe_machine(), "matmul": peak, **bench_diffusion(peak["gflops"], args.quick)}
    for name in ("graph", "xla"):
        r = results[name]
        print(f"{name}: training {r['train']['steps_per_s']:.2f} steps/s of batch {r['batch']} "
              f"({r['train']['fraction_of_peak']:.1%} of the {peak['gflops']:.0f} GFLOP/s peak); sampling "
              f"{r['sample']['images_per_s']:.1f} images/s with {r['sample']['heun_steps']} Heun steps "
              f"({r['sample']['fraction_of_peak']:.1%})", flush=True)
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"Written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
