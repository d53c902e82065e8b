"""The machine a benchmark runs on, and the reference every ratio is taken against.

Timings on shared machines are noisy, so the benchmarks report ratios measured in one process:
achieved FLOP/s over :func:`matmul_peak` (a large float32 matmul, the best this CPU or GPU does on
dense linear algebra through TensorFlow), taken in the same run.

Example:
    >>> describe_machine()["cores"]
    2
    >>> matmul_peak(size=1024, seconds=0.5)["gflops"]       # doctest: +SKIP
    95.3
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_machine():
    """A dict: CPU model, cores, Python / TensorFlow / Keras versions, the devices TF sees."""
    import keras
    import tensorflow as tf

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "gpu": bool(tf.config.list_physical_devices("GPU")),
        "platform": platform.platform(),
    }


def peak_rss_mb():
    """Peak resident memory of this process so far, in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``. Not ``ru_maxrss``: Linux carries it over ``exec``,
    so a child started from a large process reports at least its parent's size.
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20


def time_call(fn, *, min_seconds=1.0, warmup=1, max_repeats=1000):
    """Best seconds per call of ``fn()`` (which must block until done) after ``warmup`` calls.

    Repeats until ``min_seconds`` of timed calls (at least 3 calls); the best call is reported,
    the least disturbed by other processes.
    """
    for _ in range(warmup):
        fn()
    times, total = [], 0.0
    while (total < min_seconds or len(times) < 3) and len(times) < max_repeats:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        total += times[-1]
    return min(times)


def matmul_peak(size=2048, seconds=2.0, dtype="float32"):
    """Dense matmul throughput: ``(size × size) @ (size × size)`` in a ``tf.function``.

    Returns:
        ``{"size", "seconds", "gflops"}`` with ``gflops = 2·size³ / seconds / 1e9`` (best call).
    """
    import tensorflow as tf  # here, so peak_rss_mb can be used without loading TensorFlow
    a = tf.random.stateless_normal((size, size), seed=(0, 1), dtype=dtype)
    b = tf.random.stateless_normal((size, size), seed=(0, 2), dtype=dtype)
    # A chain of 4 products per call: the per-call overhead is negligible against the work.
    chain = 4
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(tf.matmul(tf.matmul(tf.matmul(a, b), b), b), b)))
    best = time_call(lambda: matmul(a, b).numpy(), min_seconds=seconds)
    per_product = best / chain
    return {"size": size, "seconds": per_product, "gflops": 2 * size**3 / per_product / 1e9}
