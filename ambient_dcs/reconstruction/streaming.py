"""``reconstruct_file``: a measurement file reconstructed batch by batch, the results written as ``.npy``.

Shared by every :class:`~ambient_dcs.reconstruction.base.Reconstructor`. The file is opened and
checked first (:func:`~ambient_dcs.data.files.open_measurements`: its shapes, θ and one streamed
NaN/Inf pass, then its fit to the reconstructor), so a bad file fails before any work and before
``out_dir`` is made. The batches are then reconstructed one after the other and every per-image
field of the :class:`~ambient_dcs.reconstruction.result.Reconstruction` is appended to its own
``.npy`` file (:class:`~ambient_dcs.data.files.NpyWriter`: a temporary file renamed when complete),
so peak memory does not grow with the file. The latent-optimisation reconstructors (CSGM, the
learned fast path) read through :func:`latent_file_batches` instead: ``tf.data`` prefetching, and
the batches shared over the replicas of a ``tf.distribute`` strategy.

Example:
    >>> info = Lasso(op, basis="dct", alpha=0.1).reconstruct_file("measurements.npz", "out/")
    >>> np.load("out/x.npy").shape, info["mean_measurement_error"]
"""

from __future__ import annotations

import pathlib
import time

import numpy as np
import tensorflow as tf

from .result import PER_IMAGE_FIELDS, batch_rows, check_reconstruction_inputs, progress_bar

__all__ = ["reconstruct_file", "reconstruct_latent_file", "latent_file_batches", "open_for", "ResultWriter",
           "FILE_FIELDS"]

# The per-image fields written as files (CSGM's restart_losses stay in memory, as before).
FILE_FIELDS = tuple(f for f in PER_IMAGE_FIELDS if f != "restart_losses")


def open_for(reconstructor, source):
    """Opens (or takes) a measurement stream and checks that ``reconstructor`` can read it.

    Raises:
        ValueError: the file's signals are not the reconstructor's image shape, its measurements
            are not the shape the reconstructor's operator makes, or it lacks the θ a random
            operator needs (:class:`~ambient_dcs.data.files.MeasurementFileError` for a bad file).
    """
    from ..data.files import MeasurementStream, open_measurements

    owner = f"{reconstructor._owner}.reconstruct_file"
    stream = source if isinstance(source, MeasurementStream) else open_measurements(source)
    op = reconstructor.operator
    shape = tuple(reconstructor.image_shape) if reconstructor.image_shape is not None else tuple(stream.image_shape)
    if tuple(stream.image_shape) != shape:
        maker = "the generator makes" if hasattr(reconstructor, "generator") else "it reconstructs"
        raise ValueError(f"{owner}: the file's signals have shape {tuple(stream.image_shape)}; {maker} images of "
                         f"shape {shape}.")
    op.ensure_built(shape)
    expected = tuple(int(d) for d in op.measurement_shape(shape))
    if tuple(stream.measurement_shape) != expected:
        raise ValueError(f"{owner}: {type(op).__name__} makes measurements of shape {expected} from images of shape "
                         f"{shape}; the file holds measurements of shape {tuple(stream.measurement_shape)}.")
    missing = [k for k in op.theta_keys if k not in stream.theta_keys] if op.is_random else []
    if missing:
        raise ValueError(f"{owner}: {type(op).__name__} is random; the file holds no θ "
                         f"{['theta/' + k for k in missing]}.")
    return stream


def batches_of(reconstructor, stream, state):
    """The default batch loop: ``batch_size`` measurements at a time through ``_reconstruct_batch``."""
    for y, theta in stream.batches(reconstructor.batch_size, check=False):  # checked by open_measurements
        theta = {k: theta[k] for k in reconstructor.operator.theta_keys} if reconstructor.operator.is_random else {}
        y, theta = check_reconstruction_inputs(reconstructor.operator, y, theta or None,
                                               reconstructor.image_shape or stream.image_shape, reconstructor._owner)
        yield reconstructor._reconstruct_batch(y, theta, state)


def latent_file_batches(reconstructor, stream, state, strategy):
    """The batch loop of the latent-optimisation reconstructors (CSGM, the learned fast path).

    A ``tf.data`` pipeline reads the next ``R × rows`` measurements (and draws their ``z₀`` from
    ``state["rng"]``, in image order) while the current batch is optimised; each of the strategy's
    ``R`` replicas solves its contiguous share of ``state["rows"]`` images with the reconstructor's
    graph ``_solve(y, θ, z₀) -> dict``; ``_to_reconstruction(out, count)`` makes the result.
    """
    op = reconstructor.operator
    replicas, b = int(strategy.num_replicas_in_sync), state["rows"]
    global_batch = b * replicas
    keys = tuple(op.theta_keys) if op.is_random else ()
    specs = stream.theta_specs()

    def batches():
        for y, theta in stream.batches(global_batch, check=False):  # checked by open_measurements
            count = len(y)
            pad = batch_rows(count, global_batch)  # fixed shape → one trace
            z0 = reconstructor.initial_latents(state["rng"], count)
            yield y[pad], {key: theta[key][pad] for key in keys}, z0[pad], count

    signature = (tf.TensorSpec((global_batch, *stream.measurement_shape), tf.float32),
                 {key: tf.TensorSpec((global_batch, *specs[key][0]), tf.as_dtype(specs[key][1])) for key in keys},
                 tf.TensorSpec((global_batch, reconstructor.restarts, reconstructor.latent_dim), tf.float32),
                 tf.TensorSpec((), tf.int64))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(1)
    for y, theta, z0, count in dataset:
        if replicas == 1:
            out = reconstructor._solve(y, theta, z0)
        else:
            share = lambda t, ctx: t[ctx.replica_id_in_sync_group * b:(ctx.replica_id_in_sync_group + 1) * b]  # noqa: E731
            args = strategy.experimental_distribute_values_from_function(
                lambda ctx: (share(y, ctx), {key: share(v, ctx) for key, v in theta.items()}, share(z0, ctx)))
            parts = strategy.experimental_local_results(strategy.run(reconstructor._solve, args=args))
            out = {key: tf.concat([tf.identity(p[key]) for p in parts], 0) for key in parts[0] if key != "steps"}
            if "steps" in parts[0]:
                out["steps"] = max(int(p["steps"]) for p in parts)
        yield reconstructor._to_reconstruction(out, int(count))


def reconstruct_latent_file(reconstructor, source, out_dir, strategy=None, verbose=0):
    """:func:`reconstruct_file` with :func:`latent_file_batches` on ``strategy`` (default: the current one)."""
    strategy = strategy or tf.distribute.get_strategy()
    return reconstruct_file(reconstructor, source, out_dir, verbose=verbose,
                            replicas=int(strategy.num_replicas_in_sync),
                            batches=lambda stream, state: latent_file_batches(reconstructor, stream, state, strategy))


class ResultWriter:
    """Appends the per-image fields of :class:`Reconstruction` parts to ``<field>.npy`` files, atomically.

    The files are those of the fields the first part has (see :data:`FILE_FIELDS`); :meth:`close`
    renames them into place once all ``count`` rows are written, :meth:`abort` removes unfinished ones.
    """

    def __init__(self, out_dir, count):
        self.out_dir, self.count = pathlib.Path(out_dir), int(count)
        self.writers = None
        self.total_error = 0.0

    def append(self, rec):
        from ..data.files import NpyWriter

        if self.writers is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.writers = {}
            for name in FILE_FIELDS:
                value = getattr(rec, name)
                if value is not None:
                    self.writers[name] = NpyWriter(self.out_dir / f"{name}.npy", (self.count, *np.shape(value)[1:]))
        for name, writer in self.writers.items():
            value = getattr(rec, name)
            if value is None:
                raise ValueError(f"reconstruct_file: a batch has no {name!r} though the first one had.")
            writer.append(value)
        self.total_error += float(np.sum(rec.measurement_error, dtype=np.float64))

    def close(self):
        """Renames the finished files into place; returns ``{name: path}``."""
        return {name: str(w.close()) for name, w in (self.writers or {}).items()}

    def abort(self):
        for w in (self.writers or {}).values():
            w.abort()


def reconstruct_file(reconstructor, source, out_dir, *, verbose=0, batches=None, replicas=1):
    """Reconstructs a measurement file with ``reconstructor``, streaming (see the module docstring).

    Args:
        reconstructor: a :class:`~ambient_dcs.reconstruction.base.Reconstructor`.
        source: a file path or an opened :class:`~ambient_dcs.data.files.MeasurementStream`.
        out_dir: the output folder.
        verbose: 1 shows a progress bar.
        batches: ``(stream, state) → iterable of Reconstruction`` to replace the default batch loop
            (CSGM's prefetching, multi-device loop).
        replicas: reported in the result.

    Returns:
        A dict: ``count``, ``seconds``, ``replicas``, ``files`` (name → path), ``mean_measurement_error``.
    """
    start = time.perf_counter()
    stream = open_for(reconstructor, source)
    n = stream.count
    state = reconstructor._begin(n)
    parts = batches(stream, state) if batches is not None else batches_of(reconstructor, stream, state)
    writer = ResultWriter(out_dir, n)
    progress = progress_bar(n, verbose)
    try:
        for rec in parts:
            writer.append(rec)
            if progress is not None:
                progress.add(len(rec.x))
        files = writer.close()
    finally:
        writer.abort()
    return {"count": n, "seconds": time.perf_counter() - start, "replicas": replicas, "files": files,
            "mean_measurement_error": writer.total_error / n}
