"""TensorFlow started without its C++ start-up lines: what the command lines (recipes, benchmarks) print first.

Example:
    >>> from recipes.startup import start_tensorflow
    >>> start_tensorflow()          # a CPU machine: nothing printed; a GPU machine: "Running on 1 GPU: …"
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

__all__ = ["TF_LOGS", "ENVIRONMENT_HELP", "start_tensorflow", "is_startup_noise"]

#: Set to 1 to see TensorFlow's own start-up logs (hidden by default: see :func:`start_tensorflow`).
TF_LOGS = "AMBIENT_DCS_TF_LOGS"
ENVIRONMENT_HELP = (f"Environment: {TF_LOGS}=1 shows TensorFlow's own start-up logs (CUDA, CPU features), which "
                    f"are hidden by default.")

# What TensorFlow's C++ start-up writes to stderr before Python's logging exists, whatever
# TF_CPP_MIN_LOG_LEVEL says (tensorflow#100442): the absl notice, information lines (oneDNN, CUDA
# probing, CPU features), and on a machine without an NVIDIA driver the cuInit error. Anything else
# (warnings, other errors, Python's own messages) is passed on.
_TF_LINE = re.compile(r"^([IWE])\d{4} [\d:.]+ +\d+ (\w+)\.cc:\d+\] (.*)")
_NOTICES = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
            "To enable the following instructions: ")


def is_startup_noise(line, nvidia_driver=None):
    """Whether a line TensorFlow wrote to stderr while it started is noise a user need not see."""
    if line.startswith(_NOTICES):
        return True
    match = _TF_LINE.match(line)
    if match is None:
        return False
    level, source, message = match.groups()
    if level == "I":
        return True
    driver = os.path.exists("/proc/driver/nvidia") if nvidia_driver is None else nvidia_driver
    return level == "E" and source == "cuda_platform" and "cuInit" in message and not driver


def start_tensorflow(show_logs=None):
    """Imports TensorFlow and opens its devices without its C++ start-up lines; says which GPU it uses.

    TensorFlow's start-up (the import, then the first device query, where CUDA is probed) writes
    lines to the process's stderr from C++ that no logging setting silences. They are caught in a
    temporary file while it starts, then every line that is not known start-up noise is written to
    stderr: a real error still reaches the user. On a machine with a GPU one line of ours names it.
    The command line's concern: the library itself changes no logging setting.

    Args:
        show_logs: keep TensorFlow's start-up lines (default: the environment variable
            :data:`TF_LOGS` is ``1``).

    Returns:
        The GPUs TensorFlow sees (a list of ``PhysicalDevice``).
    """
    show = os.environ.get(TF_LOGS) == "1" if show_logs is None else show_logs
    if show or "tensorflow" in sys.modules:
        import tensorflow as tf

        return _say_gpus(tf.config.list_physical_devices("GPU"))
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode(errors="replace").splitlines()
                    if line.strip() and not is_startup_noise(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)
    return _say_gpus(gpus)


def _say_gpus(gpus):
    if gpus:
        import tensorflow as tf

        described = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        print(f"Running on {len(gpus)} GPU{'s' if len(gpus) > 1 else ''}: {', '.join(described)}.", flush=True)
    return gpus
