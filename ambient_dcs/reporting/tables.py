"""Writing results: CSV files, Markdown tables, JSON, and the output folder of a recipe.

Example:
    >>> rows = [{"method": "CSGM", "m": 25, "error": 0.031}]
    >>> write_csv(rows, "results/x/table.csv")
    >>> print(markdown_table(rows, ["method", "m", "error"]))
"""

from __future__ import annotations

import csv
import math
import os
import pathlib
import platform

from .. import _files


def prepare_output_dir(path):
    """Creates ``path`` (and parents) and returns it as a ``Path``."""
    out = pathlib.Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _cell(value, digits=4):
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.3e}"
    return str(value)


def markdown_table(rows, columns, headers=None, digits=4):
    """A GitHub-flavoured Markdown table of ``rows`` (dicts) restricted to ``columns``."""
    headers = headers or columns
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, ""), digits) for c in columns) + " |")
    return "\n".join(lines)


def write_csv(rows, path):
    """Writes ``rows`` (dicts; the union of their keys, in first-seen order) as CSV."""
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(data, path):
    """Writes ``data`` as indented JSON (NumPy scalars converted), atomically."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _files.write_json(path, data, default=lambda o: o.item() if hasattr(o, "item") else str(o))


def machine_description():
    """CPU model, cores, Python, TensorFlow and Keras versions, and the devices TensorFlow sees."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }
