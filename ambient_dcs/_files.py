"""Files written whole or not at all, and the cache folder.

Every file the library writes for later reuse (priors, their records, checkpoints, caches, results) is
written under a temporary name in the same folder and renamed into place (``os.replace``, atomic on
one file system): a run killed at any moment leaves either the old file or the new one, never half
of one, and a reader never sees a partial file.

Example:
    >>> write_json(out / "prior.json", info)
    >>> save_keras(generator, out / "prior.keras")
    >>> with atomic_path(out / "x.npy") as tmp:
    ...     np.save(tmp, x)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pathlib

import numpy as np

__all__ = ["atomic_path", "write_bytes", "write_text", "write_json", "save_npz", "save_keras", "cache_dir"]

_counter = itertools.count()


def temporary_name(path):
    """A fresh name beside ``path`` that ends with ``path``'s own name (so suffix rules such as Keras'
    ``.keras`` / ``.weights.h5`` and NumPy's ``.npz`` still hold) and that no other process or call uses."""
    path = pathlib.Path(path)
    return path.with_name(f".tmp-{os.getpid()}-{next(_counter)}-{path.name}")


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path to write ``path``'s content to; renames it to ``path`` when the block
    ends without an error, removes it otherwise.

    Args:
        path: the file to write (its folder must exist).

    Example:
        >>> with atomic_path("out/model.keras") as tmp:
        ...     model.save(tmp)
    """
    path = pathlib.Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # on disk before it takes the name
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path, data):
    """Writes ``data`` (bytes) to ``path`` atomically; returns ``path`` as a ``pathlib.Path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return pathlib.Path(path)


def write_text(path, text):
    """Writes ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, obj, indent=2, default=None):
    """Writes ``obj`` as JSON (with a final newline) to ``path`` atomically; returns the path.

    Args:
        path: the ``.json`` file.
        obj: JSON-serialisable data.
        indent: JSON indentation.
        default: ``json.dumps``' ``default`` (e.g. ``float`` for NumPy scalars).
    """
    return write_text(path, json.dumps(obj, indent=indent, default=default) + "\n")


def save_npz(path, **arrays):
    """``numpy.savez`` of ``arrays`` to ``path`` (a ``.npz`` name) atomically; returns the path."""
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return pathlib.Path(path)


def save_keras(model, path):
    """``model.save`` (a ``.keras`` file) or ``model.save_weights`` (a ``.weights.h5`` file) to ``path``
    atomically; returns the path."""
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        if path.name.endswith(".weights.h5"):
            model.save_weights(tmp)
        else:
            model.save(tmp)
    return path


def cache_dir():
    """The cache folder of trained helpers (classifiers, pretrained priors): ``$AMBIENT_DCS_CACHE`` or
    ``~/.cache/ambient-dcs``, created if missing."""
    path = pathlib.Path(os.environ.get("AMBIENT_DCS_CACHE", "~/.cache/ambient-dcs")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
