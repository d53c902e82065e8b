"""Measurement files: what an instrument recorded, as one ``.npz`` file (no clean signals in it).

This is the input of the domain scientist's path (``python -m recipes.ambient_then_reconstruct
--measurements FILE.npz``) and the output of ``python -m recipes.make_measurements``. Every entry
is a plain array, so the file loads with ``allow_pickle=False``:

================  =============================  ==========================================
key               shape                          what
================  =============================  ==========================================
``y``             ``(N, *measurement_shape)``    the measurements (float; integer counts are
                                                 converted to float32)
``theta/<key>``   ``(N, ...)``                   per-example parameters of a random operator,
                                                 one entry per ``operator.theta_keys``
``image_shape``   ``(3,)``                       ``(H, W, C)`` of the signals (optional when
                                                 ``y`` has the shape of the images)
``operator``      ``()`` str                     the operator's config as JSON (optional;
                                                 ``measurements.config_of``)
================  =============================  ==========================================

Example:
    >>> op = measurements.PixelDrop(0.9, seed=0)
    >>> y, theta = op.measure(images, seed=1)
    >>> save_measurements("pixeldrop.npz", y, theta, op, image_shape=(28, 28, 1))
    >>> data = load_measurements("pixeldrop.npz")          # operator read from the file
    >>> data.y.shape, sorted(data.theta), data.operator
    ((N, 28, 28, 1), ['mask'], <PixelDrop ...>)
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import zipfile

import numpy as np

import measurements

__all__ = ["MeasurementSet", "MeasurementFileError", "save_measurements", "load_measurements", "operator_from_spec"]

_THETA_PREFIX = "theta/"


class MeasurementFileError(ValueError):
    """A measurement file (or the operator given for it) cannot be used; the message says why."""


@dataclasses.dataclass
class MeasurementSet:
    """Measurements loaded from a file, checked against their operator.

    Attributes:
        y: ``(N, *measurement_shape)`` float32.
        theta: dict of ``(N, ...)`` arrays (``{}`` for a deterministic operator).
        operator: the ``measurements.Operator``, built for ``image_shape``.
        image_shape: ``(H, W, C)`` of the signals.
        path: the file it came from (or ``None``).
    """

    y: np.ndarray
    theta: dict
    operator: measurements.Operator
    image_shape: tuple
    path: str | None = None

    def __len__(self):
        return len(self.y)


def operator_from_spec(spec, args=None):
    """An operator from a command-line spec.

    Args:
        spec: an operator name (``"PixelDrop"``), a path to a JSON file holding an operator config
            (as written by ``measurements.config_of`` or next to a trained prior), or a config dict.
        args: constructor arguments for a name, as a dict or a JSON string
            (``'{"p": 0.9, "noise": {"GaussianNoise": {"std": 0.1}}}'``).

    Raises:
        MeasurementFileError: unknown name, bad JSON, unknown argument, unreadable config file.
    """
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as err:
            raise MeasurementFileError(f"operator arguments: expected a JSON object such as "
                                       f"'{{\"p\": 0.9}}'; received {args!r} ({err.msg}).") from None
    args = dict(args or {})
    if isinstance(spec, dict):
        return _from_config(spec, "the operator config")
    spec = str(spec)
    if spec.endswith(".json"):
        if args:
            raise MeasurementFileError(f"operator: {spec} is a config file; give its arguments inside it, "
                                       f"not as operator arguments ({sorted(args)}).")
        try:
            config = json.loads(pathlib.Path(spec).read_text())
        except FileNotFoundError:
            raise MeasurementFileError(f"operator: config file {spec} does not exist.") from None
        except (OSError, json.JSONDecodeError) as err:
            raise MeasurementFileError(f"operator: cannot read config file {spec}: {err}.") from None
        return _from_config(config, spec)
    if not isinstance(args, dict):
        raise MeasurementFileError(f"operator arguments: expected a JSON object; received {args!r}.")
    try:
        return measurements.get(spec, **args)
    except ValueError as err:
        raise MeasurementFileError(str(err)) from None


def _from_config(config, where):
    try:
        op = measurements.from_config(config)
    except Exception as err:  # Keras raises several types for a bad config
        raise MeasurementFileError(f"operator: {where} is not a valid operator config "
                                   f"({type(err).__name__}: {err}).") from None
    if not isinstance(op, measurements.Operator):
        raise MeasurementFileError(f"operator: {where} describes a {type(op).__name__}, not a measurements.Operator.")
    return op


def save_measurements(path, y, theta=None, operator=None, image_shape=None):
    """Writes measurements (and θ, the image shape, the operator config) as ``.npz``, atomically.

    Args:
        path: output file, ending in ``.npz``.
        y: ``(N, *measurement_shape)`` measurements.
        theta: dict of ``(N, ...)`` per-example parameters (random operators).
        operator: the operator; its config is stored so the file is self-describing.
        image_shape: ``(H, W, C)`` of the signals.

    Returns:
        The path written.
    """
    path = pathlib.Path(path)
    if path.suffix != ".npz":
        raise MeasurementFileError(f"save_measurements: expected a path ending in .npz; received {str(path)!r}.")
    arrays = {"y": np.asarray(y, np.float32)}
    for key, value in (theta or {}).items():
        arrays[_THETA_PREFIX + key] = np.asarray(value)
    if image_shape is not None:
        arrays["image_shape"] = np.asarray(image_shape, np.int64)
    if operator is not None:
        arrays["operator"] = np.asarray(json.dumps(measurements.config_of(operator)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _read_npz(path):
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise MeasurementFileError(f"{path}: the file does not exist.") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise MeasurementFileError(f"{path}: not a readable .npy/.npz file ({err}).") from None
    if isinstance(archive, np.ndarray):  # a bare .npy: the measurements alone
        return {"y": archive}
    out = {}
    with archive:
        for key in archive.files:
            try:
                out[key] = archive[key]
            except ValueError as err:  # object arrays: np.load refuses them without pickle
                raise MeasurementFileError(
                    f"{path}: entry {key!r} is stored as Python objects and would need pickle to load, "
                    f"which is refused (allow_pickle=False) because unpickling can run arbitrary code. "
                    f"Save plain numeric arrays (e.g. np.savez(path, y=y.astype('float32'))).") from err
    return out


def _numeric(array, what, path):
    if array.dtype.kind == "b" or array.dtype.kind not in "fiu":
        raise MeasurementFileError(f"{path}: expected {what} to be a numeric (float or integer) array; "
                                   f"received dtype {array.dtype}.")
    return array


def load_measurements(path, operator=None, operator_args=None, image_shape=None):
    """Loads and checks a measurement file before any work is done.

    Args:
        path: an ``.npz`` file (see the module docstring) or an ``.npy`` file holding ``y`` alone.
        operator: the operator that produced the file: an ``Operator``, a name, or a config JSON
            path; default: the config stored in the file.
        operator_args: constructor arguments when ``operator`` is a name (dict or JSON string).
        image_shape: ``(H, W, C)`` of the signals; default: the file's ``image_shape``, the
            operator's, or ``y``'s shape when the operator keeps the image shape.

    Returns:
        A :class:`MeasurementSet`.

    Raises:
        MeasurementFileError: a missing or unreadable file, a file needing pickle, no ``y``, a
        non-numeric ``y`` or θ, NaN/Inf, a shape that does not fit the operator, θ missing or of
        the wrong batch size for a random operator, an unknown operator name or argument.
    """
    path = str(path)
    if not path.endswith((".npz", ".npy")):
        raise MeasurementFileError(f"{path}: expected a .npz file (keys y, theta/<name>, image_shape, operator) "
                                   f"or a .npy file holding y.")
    entries = _read_npz(path)
    if "y" not in entries:
        raise MeasurementFileError(f"{path}: expected an array named 'y' (the measurements, shape (N, ...)); "
                                   f"the file holds {sorted(entries) or 'nothing'}.")
    y = _numeric(entries["y"], "y", path)
    if y.ndim < 2 or len(y) == 0:
        raise MeasurementFileError(f"{path}: expected y of shape (N, ...) with N >= 1 measurements; received shape {y.shape}.")
    y = y.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise MeasurementFileError(f"{path}: expected finite measurements; y holds {bad} NaN/Inf value(s).")

    if isinstance(operator, measurements.Operator):
        op = operator
    elif operator is not None:
        op = operator_from_spec(operator, operator_args)
    elif "operator" in entries:
        try:
            config = json.loads(str(entries["operator"]))
        except json.JSONDecodeError as err:
            raise MeasurementFileError(f"{path}: its 'operator' entry is not JSON ({err.msg}).") from None
        op = _from_config(config, f"{path} (entry 'operator')")
    else:
        raise MeasurementFileError(f"{path}: the file does not say which operator produced it; name it "
                                   f"(--operator NAME --operator-args JSON, or --operator config.json).")

    shape = _image_shape(image_shape, entries, op, y, path)
    expected = tuple(int(d) for d in op.measurement_shape(shape))
    if tuple(y.shape[1:]) != expected:
        raise MeasurementFileError(
            f"{path}: {type(op).__name__} measures images of shape {shape} as measurements of shape "
            f"{expected}, so y should have shape (N, {', '.join(map(str, expected))}); received {y.shape}.")
    try:
        op.ensure_built(shape)
    except ValueError as err:
        raise MeasurementFileError(f"{path}: {err}") from None

    theta = {k[len(_THETA_PREFIX):]: v for k, v in entries.items() if k.startswith(_THETA_PREFIX)}
    if op.is_random:
        missing = [k for k in op.theta_keys if k not in theta]
        if missing:
            raise MeasurementFileError(
                f"{path}: {type(op).__name__} is random, so the file needs the parameters the instrument "
                f"used for each measurement: arrays {[_THETA_PREFIX + k for k in op.theta_keys]}; missing "
                f"{[_THETA_PREFIX + k for k in missing]}.")
        theta = {k: theta[k] for k in op.theta_keys}
        for key, value in theta.items():
            _numeric(value, f"{_THETA_PREFIX}{key}", path)
            if value.ndim == 0 or len(value) != len(y):
                raise MeasurementFileError(
                    f"{path}: expected {_THETA_PREFIX}{key} to hold one entry per measurement (leading size "
                    f"{len(y)}, as y); received shape {value.shape}.")
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise MeasurementFileError(f"{path}: expected finite values in {_THETA_PREFIX}{key}.")
    else:
        theta = {}
    return MeasurementSet(y=y, theta=theta, operator=op, image_shape=shape, path=path)


def _image_shape(image_shape, entries, op, y, path):
    """The (H, W, C) of the signals: given, stored, the operator's, or y's own when it fits."""
    candidates = []
    if image_shape is not None:
        candidates.append(("given", image_shape))
    elif "image_shape" in entries:
        candidates.append(("stored in the file", entries["image_shape"]))
    elif op.image_shape is not None:
        candidates.append(("of the operator", op.image_shape))
    elif y.ndim == 4:
        candidates.append(("of y", y.shape[1:]))
    if not candidates:
        raise MeasurementFileError(
            f"{path}: cannot tell the shape (H, W, C) of the signals from measurements of shape {y.shape}; "
            f"give it (--image-shape H,W,C) or store it in the file as 'image_shape'.")
    where, value = candidates[0]
    try:
        shape = tuple(int(d) for d in np.asarray(value).reshape(-1))
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise MeasurementFileError(f"{path}: expected the image shape ({where}) to be (H, W, C) of positive "
                                   f"sizes; received {value!r}.")
    try:
        op.check_image_shape(shape)
    except ValueError as err:
        raise MeasurementFileError(f"{path}: {err}") from None
    return shape
