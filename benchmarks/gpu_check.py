"""The GPU check: ``python -m benchmarks.gpu_check`` on a machine with one GPU (≤ 8 minutes, one process).

Prints the devices TensorFlow sees and **fails (exit 2) if no GPU is used** — it refuses to time a
CPU as if it were the GPU. Then, each speed also as a fraction of the GPU's dense matmul peak
measured in the same run (float32, and float16 for the mixed-precision rows):

* CSGM's inner latent loop (``tf.function`` + ``GradientTape``; the VAE prior, Gaussian
  measurements, Adam): graph vs XLA, and a scan of the number of latents optimised together
  (images × 10 restarts) up to 4,096;
* AmbientGAN training at the paper's width (batch 64): float32 vs mixed precision (float16 compute,
  float32 variables, loss scaling), graph and XLA;
* the DCS fast path (3 learned latent steps, LINEAR m = 25): images/s;
* the diffusion prior: denoiser training steps and Heun sampling, graph and XLA (``benchmarks/diffusion.py``).

Writes ``--json`` (default ``results/gpu_check.json``). ``--allow-cpu --quick`` runs every section
with tiny loops on whatever device there is (for testing the script itself; its numbers mean
nothing).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

# TensorFlow and the library are imported where they are used, after the arguments are parsed:
# --help and an argument error answer at once.

#: Latents optimised together in the batch scan (images × restarts).
LATENT_SCAN = (64, 256, 1024, 4096)


class NoGPUError(RuntimeError):
    """TensorFlow sees no GPU, or ops do not run on it."""


def gpu_devices():
    """``(physical GPUs, the device a matmul ran on)``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    with tf.device("/GPU:0" if gpus else "/CPU:0"):
        placed = tf.matmul(tf.ones((8, 8)), tf.ones((8, 8))).device
    return gpus, placed


def require_gpu():
    """Raises :class:`NoGPUError` with what TensorFlow sees unless a GPU runs the ops."""
    import tensorflow as tf

    gpus, placed = gpu_devices()
    if not gpus or "GPU" not in placed.upper():
        seen = ", ".join(d.name for d in tf.config.list_physical_devices()) or "nothing"
        raise NoGPUError(
            f"benchmarks.gpu_check needs a GPU and TensorFlow sees none (devices: {seen}; a test matmul ran on "
            f"{placed or 'an unknown device'}). Run it on a GPU machine with a CUDA build of TensorFlow "
            f"(pip install 'tensorflow[and-cuda]'), or use python -m benchmarks.run for CPU numbers. "
            f"(--allow-cpu --quick only tests this script.)")
    return gpus, placed


def bench_csgm_loop(peak, quick):
    """CSGM's latent loop: graph vs XLA at batch 64 × 10 restarts, then the latent-count scan."""
    from ambient_dcs.models.pretrained import mnist_vae_prior

    from .flops import csgm_flops_per_row_step, dense_operator_flops
    from .suite import CSGM_RESTARTS, M_CSGM, SHAPE, _csgm_problem, _csgm_time

    generator = mnist_vae_prior(verbose=0)
    steps = 20 if quick else 300
    op, _, y = _csgm_problem(max(LATENT_SCAN) // CSGM_RESTARTS + 1)
    row_flops = csgm_flops_per_row_step(generator, dense_operator_flops(M_CSGM, SHAPE))
    out = {"flops_per_row_step": row_flops, "steps": steps, "modes": {}, "scan": []}
    for name, jit in (("graph", False), ("xla", True)):
        seconds, _ = _csgm_time(generator, op, y, steps, 64, jit)
        gflops = 64 * CSGM_RESTARTS * steps * row_flops / seconds / 1e9
        out["modes"][name] = {"ms_per_step": 1e3 * seconds / steps, "gflops": gflops, "fraction_of_peak": gflops / peak}
    jit = out["modes"]["xla"]["ms_per_step"] < out["modes"]["graph"]["ms_per_step"]
    for latents in LATENT_SCAN[:2] if quick else LATENT_SCAN:
        images = latents // CSGM_RESTARTS
        seconds, _ = _csgm_time(generator, op, y, steps, images, jit)
        gflops = images * CSGM_RESTARTS * steps * row_flops / seconds / 1e9
        out["scan"].append({"latents": images * CSGM_RESTARTS, "images": images, "xla": jit,
                            "ms_per_step": 1e3 * seconds / steps, "seconds_per_image_1000_steps": seconds / images
                            * 1000 / steps, "gflops": gflops, "fraction_of_peak": gflops / peak})
    return out


def bench_ambientgan_precisions(peaks, quick):
    """AmbientGAN at the paper's width: float32 vs mixed-float16, graph and XLA."""
    from ambient_dcs.training.distribute import set_precision

    from .suite import time_ambientgan

    out = {}
    for precision, peak in (("float32", peaks["float32"]), ("mixed-float16", peaks["float16"])):
        set_precision(precision)
        try:
            for name, jit in (("graph", False), ("xla", True)):
                out[f"{precision} {name}"] = time_ambientgan(peak, 8 if quick else 64, 0.25 if quick else 1.0, jit,
                                                            2 if quick else 30)
        finally:
            set_precision("float32")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", default="results/gpu_check.json", help="where to write every number")
    p.add_argument("--quick", action="store_true", help="tiny loops (seconds; for testing the script)")
    p.add_argument("--allow-cpu", action="store_true",
                   help="run without a GPU (only to test this script: the numbers are not GPU numbers)")
    args = p.parse_args(argv)
    from recipes.startup import start_tensorflow

    start_tensorflow()
    import keras
    import tensorflow as tf

    from ambient_dcs.models.pretrained import mnist_vae_prior

    from .diffusion import bench_diffusion
    from .hardware import describe_machine, matmul_peak
    from .suite import bench_dcs

    gpus, placed = gpu_devices()
    print(f"TensorFlow {tf.__version__} sees: " + ", ".join(f"{d.device_type} {d.name}"
                                                             for d in tf.config.list_physical_devices()), flush=True)
    if not args.allow_cpu:
        try:
            require_gpu()
        except NoGPUError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    details = [tf.config.experimental.get_device_details(g) for g in gpus]
    results = {"machine": describe_machine(), "gpus": [g.name for g in gpus], "gpu_details": details,
               "test_matmul_device": placed, "quick": args.quick}
    size = 512 if args.quick else 8192
    results["matmul"] = {dtype: matmul_peak(size, seconds=0.5 if args.quick else 3.0, dtype=dtype)
                         for dtype in ("float32", "float16")}
    peaks = {k: v["gflops"] for k, v in results["matmul"].items()}
    print(f"matmul peak: float32 {peaks['float32']:.0f} GFLOP/s, float16 {peaks['float16']:.0f} GFLOP/s", flush=True)
    results["csgm"] = bench_csgm_loop(peaks["float32"], args.quick)
    print("CSGM latent loop: " + ", ".join(f"{k} {v['fraction_of_peak']:.1%} of peak"
                                           for k, v in results["csgm"]["modes"].items()), flush=True)
    results["ambientgan"] = bench_ambientgan_precisions(peaks, args.quick)
    print("AmbientGAN: " + ", ".join(f"{k} {v['steps_per_s']:.1f} steps/s ({v['fraction_of_peak']:.1%})"
                                     for k, v in results["ambientgan"].items()), flush=True)
    results["dcs"] = bench_dcs(mnist_vae_prior(verbose=0), results["csgm"]["scan"][0]["xla"], args.quick)
    print(f"DCS fast path: {results['dcs']['dcs_images_per_s']:,.0f} images/s", flush=True)
    results["diffusion"] = bench_diffusion(peaks["float32"], args.quick)
    print("diffusion denoiser: " + ", ".join(f"{k} {v['train']['steps_per_s']:.1f} steps/s "
                                             f"({v['train']['fraction_of_peak']:.1%})"
                                             for k, v in results["diffusion"].items()), flush=True)
    results["seconds"] = time.perf_counter() - start
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"{results['seconds']:.0f} s. Written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
