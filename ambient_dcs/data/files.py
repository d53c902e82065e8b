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

import contextlib
import dataclasses
import json
import os
import pathlib
import zipfile

import numpy as np

import measurements
from measurements.validation import check_int

from .._files import save_npz, temporary_name

__all__ = ["MeasurementSet", "MeasurementStream", "MeasurementFileError", "save_measurements", "load_measurements",
           "open_measurements", "operator_from_spec", "NpyWriter"]

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
    return save_npz(path, **arrays)


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


def _numeric(dtype, what, path):
    dtype = np.dtype(dtype)
    if dtype.kind == "b" or dtype.kind not in "fiu":
        raise MeasurementFileError(f"{path}: expected {what} to be a numeric (float or integer) array; "
                                   f"received dtype {dtype}.")


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
        A :class:`MeasurementSet`. For files too large for memory, :func:`open_measurements`
        makes the same checks and streams the measurements in batches instead.

    Raises:
        MeasurementFileError: a missing or unreadable file, a file needing pickle, no ``y``, a
        non-numeric ``y`` or θ, NaN/Inf, a shape that does not fit the operator, θ missing or of
        the wrong batch size for a random operator, an unknown operator name or argument.
    """
    path = _check_suffix(path)
    entries = _read_npz(path)
    arrays = {k: v for k, v in entries.items() if k == "y" or k.startswith(_THETA_PREFIX)}
    small = {k: v for k, v in entries.items() if k not in arrays}
    if "y" in arrays and arrays["y"].dtype.kind in "fiu":
        _check_finite(path, arrays["y"], {})  # bad values first: the most likely fault of a real file
    op, shape, theta_keys = _check_file(path, {k: (v.shape, v.dtype) for k, v in arrays.items()}, small, operator,
                                        operator_args, image_shape)
    y = arrays["y"].astype(np.float32)
    theta = {k: arrays[_THETA_PREFIX + k] for k in theta_keys}
    _check_finite(path, y, theta)
    return MeasurementSet(y=y, theta=theta, operator=op, image_shape=shape, path=path)


def _check_suffix(path):
    path = str(path)
    if not path.endswith((".npz", ".npy")):
        raise MeasurementFileError(f"{path}: expected a .npz file (keys y, theta/<name>, image_shape, operator) "
                                   f"or a .npy file holding y.")
    return path


def _check_finite(path, y, theta):
    """NaN/Inf in ``y`` or in a float θ raise (for a whole file or one streamed batch)."""
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise MeasurementFileError(f"{path}: expected finite measurements; y holds {bad} NaN/Inf value(s).")
    for key, value in theta.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise MeasurementFileError(f"{path}: expected finite values in {_THETA_PREFIX}{key}.")


def _check_file(path, meta, small, operator, operator_args, image_shape):
    """Checks a file from its arrays' shapes and dtypes alone (no need to read the data).

    Args:
        meta: ``{key: (shape, dtype)}`` of ``y`` and the ``theta/<name>`` arrays.
        small: the other entries, read (``image_shape``, ``operator``).

    Returns:
        ``(operator, image_shape, theta_keys)``: the built operator, ``(H, W, C)``, and the θ
        keys to read (``()`` for a deterministic operator).
    """
    if "y" not in meta:
        raise MeasurementFileError(f"{path}: expected an array named 'y' (the measurements, shape (N, ...)); "
                                   f"the file holds {sorted({**meta, **small}) or 'nothing'}.")
    y_shape, y_dtype = meta["y"]
    _numeric(y_dtype, "y", path)
    if len(y_shape) < 2 or y_shape[0] == 0:
        raise MeasurementFileError(f"{path}: expected y of shape (N, ...) with N >= 1 measurements; received shape {y_shape}.")

    if isinstance(operator, measurements.Operator):
        op = operator
    elif operator is not None:
        op = operator_from_spec(operator, operator_args)
    elif "operator" in small:
        try:
            config = json.loads(str(small["operator"]))
        except json.JSONDecodeError as err:
            raise MeasurementFileError(f"{path}: its 'operator' entry is not JSON ({err.msg}).") from None
        op = _from_config(config, f"{path} (entry 'operator')")
    else:
        raise MeasurementFileError(f"{path}: the file does not say which operator produced it; name it "
                                   f"(--operator NAME --operator-args JSON, or --operator config.json).")

    shape = _image_shape(image_shape, small, op, y_shape, path)
    expected = tuple(int(d) for d in op.measurement_shape(shape))
    if tuple(y_shape[1:]) != expected:
        raise MeasurementFileError(
            f"{path}: {type(op).__name__} measures images of shape {shape} as measurements of shape "
            f"{expected}, so y should have shape (N, {', '.join(map(str, expected))}); received {y_shape}.")
    try:
        op.ensure_built(shape)
    except ValueError as err:
        raise MeasurementFileError(f"{path}: {err}") from None

    if not op.is_random:
        return op, shape, ()
    present = {k[len(_THETA_PREFIX):] for k in meta if k.startswith(_THETA_PREFIX)}
    missing = [k for k in op.theta_keys if k not in present]
    if missing:
        raise MeasurementFileError(
            f"{path}: {type(op).__name__} is random, so the file needs the parameters the instrument "
            f"used for each measurement: arrays {[_THETA_PREFIX + k for k in op.theta_keys]}; missing "
            f"{[_THETA_PREFIX + k for k in missing]}.")
    for key in op.theta_keys:
        t_shape, t_dtype = meta[_THETA_PREFIX + key]
        _numeric(t_dtype, f"{_THETA_PREFIX}{key}", path)
        if len(t_shape) == 0 or t_shape[0] != y_shape[0]:
            raise MeasurementFileError(
                f"{path}: expected {_THETA_PREFIX}{key} to hold one entry per measurement (leading size "
                f"{y_shape[0]}, as y); received shape {t_shape}.")
    return op, shape, tuple(op.theta_keys)


def _image_shape(image_shape, entries, op, y_shape, path):
    """The (H, W, C) of the signals: given, stored, the operator's, or y's own when it fits."""
    candidates = []
    if image_shape is not None:
        candidates.append(("given", image_shape))
    elif "image_shape" in entries:
        candidates.append(("stored in the file", entries["image_shape"]))
    elif op.image_shape is not None:
        candidates.append(("of the operator", op.image_shape))
    elif len(y_shape) == 4:
        candidates.append(("of y", tuple(y_shape[1:])))
    if not candidates:
        raise MeasurementFileError(
            f"{path}: cannot tell the shape (H, W, C) of the signals from measurements of shape {y_shape}; "
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


# ---------------------------------------------------------------------- streaming large files
class _NpyReader:
    """One array of a ``.npy`` file or of an ``.npz`` member, read from its header; rows stream from disk.

    ``np.load`` reads an ``.npz`` member whole; this reads the ``.npy`` header (shape, dtype) and
    then consecutive rows, so memory stays at one batch whatever the file's size (compressed
    members too: the zip stream decompresses as it goes).
    """

    def __init__(self, path, member=None):
        self.path, self.member = path, member
        with self._open() as f:
            self.shape, self.dtype = self._header(f)
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    @contextlib.contextmanager
    def _open(self):
        try:
            if self.member is None:
                with open(self.path, "rb") as f:
                    yield f
            else:
                with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as f:
                    yield f
        except FileNotFoundError:
            raise MeasurementFileError(f"{self.path}: the file does not exist.") from None
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            raise MeasurementFileError(f"{self.path}: not a readable .npy/.npz file ({err}).") from None

    def _header(self, f):
        what = f"{self.path}" + (f" (entry {self.member[:-4]!r})" if self.member else "")
        try:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f".npy format version {version} (1.0 and 2.0 stream; re-save with np.savez)")
            shape, fortran, dtype = read(f)
        except ValueError as err:
            raise MeasurementFileError(f"{what}: not a readable .npy/.npz file ({err}).") from None
        if dtype.hasobject:
            raise MeasurementFileError(
                f"{what}: stored as Python objects and would need pickle to load, which is refused because "
                f"unpickling can run arbitrary code. Save plain numeric arrays.")
        if fortran and len(shape) > 1:
            raise MeasurementFileError(f"{what}: stored in Fortran order, which cannot stream by rows; re-save it "
                                       f"with np.ascontiguousarray.")
        return tuple(int(d) for d in shape), dtype

    def read(self):
        """The whole array (for the small entries)."""
        with self._open() as f:
            self._header(f)
            data = f.read()
        return np.frombuffer(data, self.dtype, count=int(np.prod(self.shape, dtype=np.int64))).reshape(self.shape)

    def rows(self, batch_size):
        """Yields consecutive blocks of up to ``batch_size`` rows."""
        with self._open() as f:
            self._header(f)
            for start in range(0, self.shape[0], batch_size):
                count = min(batch_size, self.shape[0] - start)
                data = f.read(count * self.row_bytes)
                if len(data) != count * self.row_bytes:
                    raise MeasurementFileError(f"{self.path}: the file ends early (truncated at row {start}).")
                yield np.frombuffer(data, self.dtype).reshape((count, *self.row_shape))


def _readers(path):
    """``{key: _NpyReader}`` of a ``.npy`` (key ``y``) or ``.npz`` file."""
    if path.endswith(".npy"):
        return {"y": _NpyReader(path)}
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except FileNotFoundError:
        raise MeasurementFileError(f"{path}: the file does not exist.") from None
    except (OSError, zipfile.BadZipFile) as err:
        raise MeasurementFileError(f"{path}: not a readable .npy/.npz file ({err}).") from None
    return {name[:-4]: _NpyReader(path, name) for name in names if name.endswith(".npy")}


@dataclasses.dataclass
class MeasurementStream:
    """A measurement file checked like :func:`load_measurements`, read batch by batch from disk.

    Made by :func:`open_measurements`. Memory holds one batch, not the file.

    Attributes:
        path: the file.
        operator: the ``measurements.Operator``, built for ``image_shape``.
        image_shape: ``(H, W, C)`` of the signals.
        measurement_shape: shape of one measurement.
        theta_keys: the θ arrays read with ``y`` (``()`` for a deterministic operator).
        count: number of measurements ``N``.
    """

    path: str
    operator: measurements.Operator
    image_shape: tuple
    measurement_shape: tuple
    theta_keys: tuple
    count: int
    _readers: dict = dataclasses.field(repr=False)

    def __len__(self):
        return self.count

    def theta_specs(self):
        """``{key: (row_shape, dtype)}`` of the θ arrays."""
        return {k: (self._readers[_THETA_PREFIX + k].row_shape, self._readers[_THETA_PREFIX + k].dtype)
                for k in self.theta_keys}

    def batches(self, batch_size, check=True):
        """Yields ``(y, theta)``: ``y`` ``(b, *measurement_shape)`` float32, θ a dict of ``(b, ...)`` arrays.

        ``check``: NaN/Inf raise :class:`MeasurementFileError` (``open_measurements`` already
        checked the whole file once).
        """
        batch_size = check_int(batch_size, "MeasurementStream.batches", "batch_size", 1)
        streams = [self._readers["y"].rows(batch_size)] + [
            self._readers[_THETA_PREFIX + k].rows(int(batch_size)) for k in self.theta_keys]
        for y, *thetas in zip(*streams):
            y = y.astype(np.float32)
            theta = dict(zip(self.theta_keys, thetas))
            if check:
                _check_finite(self.path, y, theta)
            yield y, theta


def open_measurements(path, operator=None, operator_args=None, image_shape=None, check_values=True,
                      check_batch=4096):
    """Opens a measurement file for streaming: the checks of :func:`load_measurements`, flat memory.

    Shapes, dtypes, the operator and θ are checked from the file's headers; with
    ``check_values`` one streamed pass (``check_batch`` rows at a time) also checks for NaN/Inf,
    so a bad file fails before any reconstruction starts.

    Args:
        path, operator, operator_args, image_shape: as :func:`load_measurements`.
        check_values: make the NaN/Inf pass.
        check_batch: rows per block of that pass.

    Returns:
        A :class:`MeasurementStream`.

    Example:
        >>> stream = open_measurements("big.npz")
        >>> for y, theta in stream.batches(256):
        ...     ...
    """
    path = _check_suffix(path)
    readers = _readers(path)
    arrays = {k: r for k, r in readers.items() if k == "y" or k.startswith(_THETA_PREFIX)}
    small = {k: r.read() for k, r in readers.items() if k not in arrays}
    if check_values and "y" in arrays and arrays["y"].dtype.kind in "fiu":
        for block in arrays["y"].rows(check_batch):  # bad values first, as load_measurements
            _check_finite(path, block, {})
    op, shape, theta_keys = _check_file(path, {k: (r.shape, r.dtype) for k, r in arrays.items()}, small, operator,
                                        operator_args, image_shape)
    for key in theta_keys if check_values else ():
        for block in arrays[_THETA_PREFIX + key].rows(check_batch):
            _check_finite(path, np.zeros((0,), np.float32), {key: block})
    return MeasurementStream(path=path, operator=op, image_shape=shape, measurement_shape=tuple(arrays["y"].shape[1:]),
                             theta_keys=theta_keys, count=arrays["y"].shape[0], _readers=arrays)


class NpyWriter:
    """Writes an ``.npy`` file block by block (memory: one block), atomically.

    The rows go to a temporary file next to ``path``; :meth:`close` checks the row count and renames
    it to ``path``; :meth:`abort` (e.g. after an interruption) removes an unfinished temporary file
    and leaves any earlier ``path`` untouched.

    Example:
        >>> w = NpyWriter("x.npy", (1000, 28, 28, 1))
        >>> for block in blocks: w.append(block)
        >>> w.close()                                   # x.npy now loads with np.load
    """

    def __init__(self, path, shape, dtype=np.float32):
        self.path = pathlib.Path(path)
        self.shape, self.dtype = tuple(int(d) for d in shape), np.dtype(dtype)
        self.rows = 0
        self._tmp = temporary_name(self.path)
        self._file = open(self._tmp, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_1_0(self._file, header)

    def append(self, block):
        block = np.ascontiguousarray(block, self.dtype)
        if block.shape[1:] != self.shape[1:] or self.rows + len(block) > self.shape[0]:
            raise ValueError(f"NpyWriter({self.path.name}): expected blocks of shape (k, {', '.join(map(str, self.shape[1:]))}) "
                             f"and {self.shape[0]} rows in all; received {block.shape} after {self.rows} rows.")
        self._file.write(block.tobytes())
        self.rows += len(block)

    def close(self):
        """Finishes the file; returns its path."""
        if self.rows != self.shape[0]:
            raise ValueError(f"NpyWriter({self.path.name}): {self.rows} of {self.shape[0]} rows written.")
        self._file.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self):
        """Removes the temporary file if the writer did not finish (no-op after :meth:`close`)."""
        if not self._file.closed:
            self._file.close()
        if self._tmp.exists():
            self._tmp.unlink()
