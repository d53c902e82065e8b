"""Speed and memory of the project against what this machine can do: ``python -m benchmarks.run``.

One process, one table. Every speed is also given as a fraction of the dense float32 matmul peak
measured at the start of the same run, so results from a busy machine stay comparable.

* matmul peak (GFLOP/s) — the reference;
* CSGM on the MNIST VAE prior (10 restarts × 1000 steps, batch 64): images/s, achieved GFLOP/s
  (generator forward + backward to z, plus the measurement matrix; see ``benchmarks/flops.py``) and
  its fraction of the peak, eager vs ``tf.function`` vs XLA; wall time per image against the batch;
* the DCS fast path (3 learned steps, LINEAR m = 25, the DCS Table 2 setting): images/s, speed-up
  over CSGM, and both errors on the same test digits;
* AmbientGAN training (the paper's conv WGAN-GP at full width, batch 64): steps/s, fraction of peak,
  graph vs XLA;
* forward throughput of every operator of the library at batch 256;
* peak memory (RSS) of CSGM on a measurement file, streamed vs loaded, at two file sizes (each in
  its own process, ``benchmarks/memory_probe.py``);
* the wait after the last step of short training calls, ``tf.data`` autotuning on vs off and
  :func:`ambient_dcs.train` (``benchmarks/train_overhead.py``).

``--quick`` (≤ 3 min) shortens every loop; timings per image are then extrapolated to the full
step counts (the loops are linear in the steps) and marked so. The full run takes ≤ 20 min.

Writes ``--json`` (default ``results/benchmarks/benchmarks.json``) and a Markdown table next to it.
"""

from __future__ import annotations

import argparse

#: The sections of the benchmark (``--only``).
SECTIONS = ("csgm", "dcs", "ambientgan", "operators", "memory", "train")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short loops (≤ 3 minutes), per-image times extrapolated")
    p.add_argument("--json", default="results/benchmarks/benchmarks.json", help="where to write every number")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections (the matmul peak always runs)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)  # before TensorFlow is imported: --help and argument errors answer at once
    from recipes.startup import start_tensorflow

    start_tensorflow()
    from .suite import run

    return run(set(args.only or SECTIONS), quick=args.quick, json_path=args.json, everything=not args.only)


if __name__ == "__main__":
    raise SystemExit(main())
