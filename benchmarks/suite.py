"""The benchmarks behind ``python -m benchmarks.run`` (``benchmarks/run.py`` says what they measure)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import measurements as M
from ambient_dcs.data.datasets import as_tf_dataset, load_dataset
from ambient_dcs.metrics import per_image_squared_error
from ambient_dcs.models.dcs import DeepCompressedSensing
from ambient_dcs.models.pretrained import mnist_vae_prior
from ambient_dcs.networks import mlp_generator
from ambient_dcs.priors.gan import PriorConfig, build_trainer
from ambient_dcs.reconstruction.csgm import CSGM
from ambient_dcs.reconstruction.learned import LearnedLatentReconstructor
from ambient_dcs.training import train

from .flops import csgm_flops_per_row_step, dense_operator_flops, forward_flops
from .hardware import describe_machine, matmul_peak, peak_rss_mb, time_call
from .train_overhead import bench_train_overhead

SHAPE = (28, 28, 1)
CSGM_STEPS, CSGM_RESTARTS, CSGM_BATCH = 1000, 10, 64
M_CSGM = 100  #: Gaussian measurements of the CSGM speed runs (Bora et al. Fig. 1 range)


# ---------------------------------------------------------------------------- CSGM
def _csgm_problem(images, m=M_CSGM, seed=0):
    op = M.GaussianProjection(m, seed=seed, noise=M.GaussianNoise(0.1 / np.sqrt(m), seed=seed + 1))
    x = load_dataset("mnist-embedded", "test")[:images]
    op.ensure_built(SHAPE)
    return op, x, np.asarray(op(x))


def _csgm_time(generator, op, y, steps, batch, jit=False, restarts=CSGM_RESTARTS):
    """Seconds of one traced ``reconstruct`` (tracing done by a 1-step-identical warm-up call)."""
    csgm = CSGM(generator, op, steps=steps, restarts=restarts, batch_size=batch, jit_compile=jit, seed=0)
    csgm.reconstruct(y[:batch])          # traces (steps is a graph constant: same trace)
    start = time.perf_counter()
    rec = csgm.reconstruct(y[:batch])
    return time.perf_counter() - start, rec


def bench_csgm(generator, peak, quick):
    steps = 100 if quick else CSGM_STEPS
    op, x, y = _csgm_problem(256)
    row_flops = csgm_flops_per_row_step(generator, dense_operator_flops(M_CSGM, SHAPE))
    rows = CSGM_BATCH * CSGM_RESTARTS
    modes = {}
    for name, jit in (("graph", False), ("xla", True)):
        seconds, rec = _csgm_time(generator, op, y, steps, CSGM_BATCH, jit)
        gflops = rows * steps * row_flops / seconds / 1e9
        modes[name] = {"steps": steps, "seconds": seconds, "ms_per_step": 1e3 * seconds / steps,
                       "images_per_s": CSGM_BATCH / seconds * steps / CSGM_STEPS,
                       "seconds_per_image": seconds / CSGM_BATCH * CSGM_STEPS / steps,
                       "gflops": gflops, "fraction_of_peak": gflops / peak,
                       "per_pixel_error": float(per_image_squared_error(rec.x, x[:CSGM_BATCH]).mean() / np.prod(SHAPE))}
    # Eager: the same loop run op by op from Python (tf.function disabled), a few steps.
    eager_steps = 3 if quick else 10
    tf.config.run_functions_eagerly(True)
    try:
        seconds, _ = _csgm_time(generator, op, y, eager_steps, CSGM_BATCH)
    finally:
        tf.config.run_functions_eagerly(False)
    gflops = rows * eager_steps * row_flops / seconds / 1e9
    modes["eager"] = {"steps": eager_steps, "seconds": seconds, "ms_per_step": 1e3 * seconds / eager_steps,
                      "images_per_s": CSGM_BATCH / seconds * eager_steps / CSGM_STEPS,
                      "seconds_per_image": seconds / CSGM_BATCH * CSGM_STEPS / eager_steps,
                      "gflops": gflops, "fraction_of_peak": gflops / peak}
    best = min(("graph", "xla"), key=lambda k: modes[k]["seconds"])
    # Wall time per image against the batch (images × 10 restarts per graph call).
    scan_steps = 50 if quick else 200
    batches = (1, 8, 64, 256) if not quick else (1, 16, 64)
    scan = []
    for b in batches:
        seconds, _ = _csgm_time(generator, op, y, scan_steps, b, modes[best] is modes["xla"])
        scan.append({"batch": b, "rows": b * CSGM_RESTARTS, "steps": scan_steps,
                     "seconds_per_image": seconds / b * CSGM_STEPS / scan_steps,
                     "gflops": b * CSGM_RESTARTS * scan_steps * row_flops / seconds / 1e9})
    return {"flops_per_row_step": row_flops, "modes": modes, "best": best, "batch_scan": scan,
            "setting": f"VAE prior, GaussianProjection(m={M_CSGM}) + noise, {CSGM_RESTARTS} restarts, batch "
                       f"{CSGM_BATCH} images ({rows} latents), Adam lr 0.01"}


# ---------------------------------------------------------------------------- DCS fast path
def bench_dcs(vae, csgm_best_jit, quick, m=25, test_images=200):
    train_steps = 200 if quick else 2000
    x_train = load_dataset("mnist-embedded", "train")
    x_test = load_dataset("mnist-embedded", "test")[:test_images]
    op = M.GaussianProjection(m, seed=0)
    dcs = DeepCompressedSensing(mlp_generator(latent_dim=100, seed=0), op, latent_steps=3, seed=0)
    dcs.compile(optimizer=keras.optimizers.Adam(3e-3, global_clipnorm=1.0))  # the dcs_table default
    with tempfile.TemporaryDirectory() as out:
        train_seconds = train(dcs, as_tf_dataset(x_train, batch_size=64, seed=0, repeat=True, drop_remainder=True),
                              steps=train_steps, out_dir=out, checkpoint_every=train_steps, verbose=0).seconds
    y = np.asarray(op.forward(tf.constant(x_test), {}))
    fast_path = LearnedLatentReconstructor.from_trainer(dcs, batch_size=test_images)
    fast_path.reconstruct(y)                       # trace
    start = time.perf_counter()
    fast = fast_path.reconstruct(y)
    dcs_seconds = time.perf_counter() - start
    csgm_steps = 100 if quick else CSGM_STEPS
    csgm = CSGM(vae, op, steps=csgm_steps, restarts=CSGM_RESTARTS, batch_size=CSGM_BATCH, jit_compile=csgm_best_jit,
                seed=0)
    csgm.reconstruct(y[:CSGM_BATCH])               # trace
    start = time.perf_counter()
    slow = csgm.reconstruct(y)
    csgm_seconds = (time.perf_counter() - start) * CSGM_STEPS / csgm_steps
    dcs_per_image, csgm_per_image = dcs_seconds / test_images, csgm_seconds / test_images
    return {"m": m, "train_steps": train_steps, "train_seconds": train_seconds, "test_images": test_images,
            "dcs_seconds_per_image": dcs_per_image, "dcs_images_per_s": 1 / dcs_per_image,
            "csgm_seconds_per_image": csgm_per_image, "csgm_steps_run": csgm_steps,
            "speedup": csgm_per_image / dcs_per_image,
            "dcs_error": float(per_image_squared_error(fast.x, x_test).mean()),
            "csgm_error": float(per_image_squared_error(slow.x, x_test).mean()),
            "error_unit": "per-image squared error Σ(x̂ − x)², pixels in [0, 1]"}


# ---------------------------------------------------------------------------- AmbientGAN training
def time_ambientgan(peak, batch=64, width=1.0, jit=False, steps=20):
    """Seconds, steps/s and fraction of ``peak`` of one AmbientGAN training step (PixelDrop(0.8),
    WGAN-GP, 1 critic + 1 generator update) under the current Keras dtype policy."""
    op = M.PixelDrop(0.8, seed=0)
    op.ensure_built(SHAPE)
    x = load_dataset("mnist-embedded", "train")
    config = PriorConfig(batch_size=batch, width=width, jit_compile=jit, seed=0)
    gan = build_trainer(op, SHAPE, config, "ambient")
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9),
                d_optimizer=keras.optimizers.Adam(4e-4, beta_1=0.5, beta_2=0.9), jit_compile=jit)
    data = tf.data.Dataset.from_tensor_slices(x).repeat().batch(batch, drop_remainder=True).prefetch(2)
    gan.fit(data, steps_per_epoch=2, epochs=1, verbose=0)   # trace / compile
    start = time.perf_counter()
    gan.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = (time.perf_counter() - start) / steps
    f_g, f_d = forward_flops(gan.generator), forward_flops(gan.discriminator)
    # One step (1 critic + 1 generator update), per example: critic update ≈ G forward + real
    # and fake critic forward/backward (2 × 3 F_D) + gradient penalty (forward, input
    # gradient, and its gradient: ≈ 6 F_D); generator update ≈ 3 F_G + 2 F_D.
    step_flops = batch * (4 * f_g + 14 * f_d)
    return {"seconds_per_step": seconds, "steps_per_s": 1 / seconds, "gflops": step_flops / seconds / 1e9,
            "fraction_of_peak": step_flops / seconds / 1e9 / peak, "steps_timed": steps,
            "generator_mflop": f_g / 1e6, "critic_mflop": f_d / 1e6}


def bench_ambientgan(peak, quick, batch=64):
    out = {name: time_ambientgan(peak, batch, 1.0, jit, 3 if quick else 20) for name, jit in (("graph", False),
                                                                                            ("xla", True))}
    out["setting"] = (f"PixelDrop(0.8), WGAN-GP, 1 critic update per generator update, batch {batch}, the paper's "
                      f"widths (G {out['graph']['generator_mflop']:.1f} MFLOP, D {out['graph']['critic_mflop']:.1f} "
                      f"MFLOP per example forward)")
    return out


# ---------------------------------------------------------------------------- operators
#: Constructor arguments of every operator for 28×28×1 images (the MNIST settings where there is one).
OPERATOR_ARGS = {
    "PixelDrop": dict(p=0.8), "RowDrop": dict(p=0.5), "ColumnDrop": dict(p=0.5), "RowColumnDrop": dict(p=0.3),
    "BlockDrop": dict(size=14), "KeepPatch": dict(size=14), "ExtractPatch": dict(size=14),
    "Inpainting": dict(mask=np.pad(np.zeros((14, 14, 1)), ((7, 7), (7, 7), (0, 0)), constant_values=1)),
    "GaussianProjection": dict(num_measurements=100), "LearnedLinear": dict(num_measurements=25),
    "LearnedNetwork": dict(num_measurements=25), "GaussianBlur": dict(sigma=1.0, size=5),
    "PadRotateProject": dict(num_angles=2), "SuperResolution": dict(factor=2), "Identity": {},
    "Compose": None,   # built below from two others
}


def _make_operator(name):
    if name == "Compose":
        return M.Compose(M.GaussianBlur(1.0, 5), M.PixelDrop(0.5))
    if name not in OPERATOR_ARGS:
        raise KeyError(f"benchmarks: no benchmark arguments for the operator {name!r}; add it to OPERATOR_ARGS.")
    return M.get(name, **OPERATOR_ARGS[name])


def bench_operators(quick, batch=256):
    x = tf.constant(load_dataset("mnist-embedded", "train")[:batch])
    out = []
    for name in sorted(M.registry.OPERATORS):
        op = _make_operator(name)
        op.ensure_built(SHAPE)
        seed = tf.constant([1, 2], tf.int64)
        fn = tf.function(lambda x, op=op: op(x, seed=seed))
        seconds = time_call(lambda: np.asarray(fn(x)), min_seconds=0.2 if quick else 1.0)
        out.append({"operator": name, "images_per_s": batch / seconds, "ms_per_batch": 1e3 * seconds})
    return out


# ---------------------------------------------------------------------------- memory
def bench_memory(quick):
    sizes = (2_000, 20_000) if quick else (5_000, 50_000)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    root = pathlib.Path(__file__).resolve().parents[1]
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            path = os.path.join(folder, f"m{n}.npz")
            made = subprocess.run([sys.executable, "-m", "benchmarks.memory_probe", "make", path, "--images", str(n)],
                                  cwd=root, env=env, capture_output=True, text=True, check=True)
            size = json.loads(made.stdout.strip().splitlines()[-1])["bytes"]
            for mode in ("stream", "load"):
                proc = subprocess.run([sys.executable, "-m", "benchmarks.memory_probe", "run", path, "--mode", mode],
                                      cwd=root, env=env, capture_output=True, text=True, check=True)
                line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")][-1]
                out.append(dict(json.loads(line[len("RESULT "):]), file_mb=size / 2**20))
    return out


# ---------------------------------------------------------------------------- report
def markdown(results):
    r = results
    peak = r["matmul"]["gflops"]
    lines = [f"# Benchmarks ({'quick' if r['quick'] else 'full'} run)", "",
             f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, GPU: {r['machine']['gpu']}, "
             f"TensorFlow {r['machine']['tensorflow']}, Keras {r['machine']['keras']}. Wall time "
             f"{r['seconds'] / 60:.1f} min.", "",
             f"**Matmul peak** (float32 {r['matmul']['size']}², same process): **{peak:.1f} GFLOP/s**.", ""]
    c = r["csgm"]
    lines += [f"## CSGM ({c['setting']})", "",
              f"{c['flops_per_row_step'] / 1e6:.2f} MFLOP per latent per step (generator forward + backward to z, "
              f"measurement forward + adjoint).", "",
              "| mode | steps timed | ms / step | s / image (10 × 1000) | images / s | GFLOP/s | fraction of peak |",
              "|---|---|---|---|---|---|---|"]
    for name in ("eager", "graph", "xla"):
        v = c["modes"][name]
        lines.append(f"| {name} | {v['steps']} | {v['ms_per_step']:.1f} | {v['seconds_per_image']:.3f} | "
                     f"{v['images_per_s']:.2f} | {v['gflops']:.1f} | **{v['fraction_of_peak']:.0%}** |")
    lines += ["", f"Per-pixel error of those 64 reconstructions: graph {c['modes']['graph']['per_pixel_error']:.4f}, "
              f"XLA {c['modes']['xla']['per_pixel_error']:.4f}. Fastest: {c['best']}.", "",
              "Wall time per image against the batch (images per graph call, × 10 restarts):", "",
              "| images per batch | latents | s / image (10 × 1000) | GFLOP/s |", "|---|---|---|---|"]
    for v in c["batch_scan"]:
        lines.append(f"| {v['batch']} | {v['rows']} | {v['seconds_per_image']:.3f} | {v['gflops']:.1f} |")
    d = r["dcs"]
    lines += ["", f"## DCS fast path vs CSGM (LINEAR, m = {d['m']}, {d['test_images']} test digits)", "",
              f"DCS trained {d['train_steps']} steps ({d['train_seconds']:.0f} s). Errors: {d['error_unit']}.", "",
              "| method | s / image | images / s | error |", "|---|---|---|---|",
              f"| DCS, 3 learned steps | {d['dcs_seconds_per_image']:.2e} | {d['dcs_images_per_s']:.0f} | {d['dcs_error']:.1f} |",
              f"| CSGM, VAE prior, 10 × 1000 | {d['csgm_seconds_per_image']:.3f} | {1 / d['csgm_seconds_per_image']:.2f} | "
              f"{d['csgm_error']:.1f} |", "",
              f"**Speed-up {d['speedup']:,.0f}×**" + (f" (CSGM timed at {d['csgm_steps_run']} steps, scaled to 1000)"
                                                      if d["csgm_steps_run"] != CSGM_STEPS else "") + ".", ""]
    a = r["ambientgan"]
    lines += [f"## AmbientGAN training ({a['setting']})", "",
              "| mode | s / step | steps / s | GFLOP/s (estimated) | fraction of peak |", "|---|---|---|---|---|"]
    for name in ("graph", "xla"):
        v = a[name]
        lines.append(f"| {name} | {v['seconds_per_step']:.3f} | {v['steps_per_s']:.2f} | {v['gflops']:.1f} | "
                     f"**{v['fraction_of_peak']:.0%}** |")
    lines += ["", "## Operators: forward throughput at batch 256 (θ drawn, noise added)", "",
              "| operator | images / s | ms / batch |", "|---|---|---|"]
    for v in r["operators"]:
        lines.append(f"| {v['operator']} | {v['images_per_s']:,.0f} | {v['ms_per_batch']:.2f} |")
    lines += ["", "## Peak memory of CSGM on a measurement file (own process each)", "",
              "| images | file MB | mode | peak RSS MB | seconds |", "|---|---|---|---|---|"]
    for v in r["memory"]:
        lines.append(f"| {v['images']:,} | {v['file_mb']:.0f} | {v['mode']} | {v['peak_rss_mb']:.0f} | {v['seconds']:.1f} |")
    lines += ["", "## Overhead of a short training call after its last step (tiny AmbientGAN, 5 steps)", "",
              "Seconds between `on_train_end` and the return of the call; `ambient_dcs.train` switches `tf.data` "
              "autotuning off for the training stream.", "",
              "| call | median s | max s | calls blocked > 1 s |", "|---|---|---|---|"]
    for kind, v in r["train"].items():
        lines.append(f"| {kind} | {v['median']:.3f} | {v['max']:.3f} | {v['blocked']} of {v['calls']} |")
    lines += ["", f"Peak RSS of this benchmark process: {r['peak_rss_mb']:.0f} MB.", ""]
    return "\n".join(lines)


def run(sections, quick=False, json_path="results/benchmarks/benchmarks.json", everything=True):
    """Runs the benchmark ``sections`` (and the matmul peak), writes ``json_path`` and, with
    ``everything``, the Markdown table next to it; returns the exit status (0)."""
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    results = {"quick": quick, "machine": describe_machine()}
    print(f"benchmarks ({'quick' if quick else 'full'}): {results['machine']['cpu']}, "
          f"{results['machine']['cores']} cores", flush=True)
    results["matmul"] = matmul_peak(2048, seconds=1.0 if quick else 3.0)
    peak = results["matmul"]["gflops"]
    print(f"matmul peak {peak:.1f} GFLOP/s", flush=True)
    vae = mnist_vae_prior(verbose=0) if sections & {"csgm", "dcs"} else None
    if "csgm" in sections:
        results["csgm"] = bench_csgm(vae, peak, quick)
        print(f"CSGM: {results['csgm']['modes'][results['csgm']['best']]['fraction_of_peak']:.0%} of peak", flush=True)
    if "dcs" in sections:
        best_jit = results.get("csgm", {}).get("best") == "xla"
        results["dcs"] = bench_dcs(vae, best_jit, quick)
        print(f"DCS fast path: {results['dcs']['speedup']:,.0f}× faster than CSGM", flush=True)
    if "ambientgan" in sections:
        results["ambientgan"] = bench_ambientgan(peak, quick)
        print("AmbientGAN training timed", flush=True)
    if "operators" in sections:
        results["operators"] = bench_operators(quick)
        print("operators timed", flush=True)
    if "memory" in sections:
        results["memory"] = bench_memory(quick)
        print("memory measured", flush=True)
    if "train" in sections:
        results["train"] = bench_train_overhead(calls=4 if quick else 8)
        print("training-call overhead measured", flush=True)
    results["peak_rss_mb"] = peak_rss_mb()
    results["seconds"] = time.perf_counter() - start
    path = pathlib.Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=float) + "\n")
    if everything:
        md = markdown(results)
        path.with_suffix(".md").write_text(md)
        print("\n" + md)
    print(f"Written: {path}" + (f" and {path.with_suffix('.md')}" if everything else ""))
    return 0

