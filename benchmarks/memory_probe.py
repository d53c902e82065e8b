"""Peak memory of CSGM on a measurement file: streamed from disk, or loaded whole. One run per process.

``ru_maxrss`` only grows, so each measurement runs in its own process:

    python -m benchmarks.memory_probe make FILE --images 50000       # write a test file
    python -m benchmarks.memory_probe run FILE --mode stream         # prints JSON with peak_rss_mb

The file holds ``PixelDrop(0.5)`` measurements (``y`` and its mask θ, 28×28×1 each) of the
embedded MNIST digits repeated; the reconstruction is deliberately short (2 restarts × 2 steps on
an untrained VAE decoder): the point is the memory, not the images.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from .hardware import peak_rss_mb  # NumPy, TensorFlow and the library are imported by the commands that use them

SHAPE = (28, 28, 1)


def _operator():
    import measurements as M

    return M.PixelDrop(0.5, seed=0)


def make_file(path, images):
    """Writes ``images`` measurements to ``path`` (an .npz)."""
    import numpy as np

    from ambient_dcs.data.datasets import load_dataset
    from ambient_dcs.data.files import save_measurements

    op = _operator()
    op.ensure_built(SHAPE)
    digits = load_dataset("mnist-embedded", "train")
    x = digits[np.arange(images) % len(digits)]
    y, theta = op.measure(x, seed=1)
    save_measurements(path, np.asarray(y), {k: np.asarray(v) for k, v in theta.items()}, op, image_shape=SHAPE)
    return os.path.getsize(path)


def run(path, mode, batch_size=256):
    """Reconstructs the file; returns seconds and peak RSS (MiB) of this process."""
    import numpy as np

    from ambient_dcs.data.files import load_measurements
    from ambient_dcs.networks import vae_decoder
    from ambient_dcs.reconstruction.csgm import CSGM

    csgm = CSGM(vae_decoder(seed=0), _operator(), steps=2, restarts=2, batch_size=batch_size, seed=0)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        if mode == "stream":
            info = csgm.reconstruct_file(path, out)
            count = info["count"]
        else:
            data = load_measurements(path)
            rec = csgm.reconstruct(data.y, data.theta)
            np.save(os.path.join(out, "x.npy"), rec.x)
            count = len(rec.x)
    return {"mode": mode, "images": count, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory_probe", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="write a measurement file")
    m.add_argument("file")
    m.add_argument("--images", type=int, required=True)
    r = sub.add_parser("run", help="reconstruct a file and print the peak memory as JSON")
    r.add_argument("file")
    r.add_argument("--mode", choices=("stream", "load"), required=True)
    args = p.parse_args(argv)
    if args.command == "make":
        print(json.dumps({"bytes": make_file(args.file, args.images)}))
    else:
        print("RESULT " + json.dumps(run(args.file, args.mode)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
