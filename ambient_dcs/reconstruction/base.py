"""The protocol every reconstructor shares, and its batch loops.

Every reconstructor of :mod:`ambient_dcs.reconstruction` is a :class:`Reconstructor`:

* ``reconstruct(y, theta=None) -> Reconstruction`` on measurements in memory;
* ``reconstruct_file(path, out_dir)`` on a measurement file (:mod:`ambient_dcs.data.files`),
  streamed from disk batch by batch, the results written as ``.npy`` files, each atomically.

A subclass implements one batch, ``_reconstruct_batch(y, theta, state)``; the base class runs it
over the batches of an in-memory array (:meth:`Reconstructor.reconstruct`) or of a file
(:meth:`Reconstructor.reconstruct_file`, :mod:`ambient_dcs.reconstruction.streaming`), so both give
the same reconstructions.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from .result import Reconstruction, batch_rows, check_reconstruction_inputs, progress_bar
from .streaming import reconstruct_file, reconstruct_latent_file

__all__ = ["Reconstructor", "LatentReconstructor"]


class Reconstructor:
    """The protocol every reconstructor follows, and its batch loops.

    A subclass sets ``operator``, ``image_shape`` ``(H, W, C)`` and ``batch_size``, and implements

    * ``_reconstruct_batch(y, theta, state) -> Reconstruction``: the reconstructions of one batch
      (``y`` a checked float32 tensor ``(b, ...)``, θ a dict of ``(b, ...)`` tensors); a batch's
      results must not depend on the other images of the batch, so that any batching gives the same
      images;
    * optionally ``_begin(n)``: state shared by the batches of one reconstruction of ``n`` images
      (e.g. the random stream of the initial latents, so image ``i`` gets the same start whatever
      the batch size, in memory or from a file).

    :meth:`reconstruct` and :meth:`reconstruct_file` then come from this class.
    """

    operator = None
    image_shape = None
    batch_size = 256

    @property
    def _owner(self):
        """The name used in error messages."""
        return type(self).__name__

    def _image_shape_for(self, y_shape):
        """``image_shape``, or for a reconstructor made without one, that of image-shaped measurements."""
        if self.image_shape is not None:
            return tuple(self.image_shape)
        if len(y_shape) == 4:
            return tuple(int(d) for d in y_shape[1:])
        raise ValueError(f"{self._owner}: the image shape is unknown and the measurements of shape {tuple(y_shape)} "
                         f"are not images; pass image_shape=(H, W, C).")

    def _begin(self, n):
        return None

    def _reconstruct_batch(self, y, theta, state):
        raise NotImplementedError(f"{type(self).__name__} implements neither _reconstruct_batch nor reconstruct.")

    def reconstruct(self, y, theta=None, verbose=0):
        """Reconstructs images from measurements.

        Args:
            y: measurements ``(N, *operator.measurement_shape(image_shape))``.
            theta: the θ that produced ``y`` (required for random operators).
            verbose: 1 shows a progress bar over images.

        Returns:
            A :class:`Reconstruction` (``x`` ``(N, H, W, C)`` in [0, 1], ``measurement_error``
            ``(N,)``, ``wall_time``, and what the method has of ``z``, ``samples``, ``std``, …).
            For files larger than memory, use :meth:`reconstruct_file`.

        Raises:
            ValueError: measurements of the wrong shape, NaN/Inf, no measurements, or a missing or
                mis-sized θ (before any work is done).
        """
        start = time.perf_counter()
        y, theta = check_reconstruction_inputs(self.operator, y, theta, self._image_shape_for(np.shape(y)), self._owner)
        n = int(y.shape[0])
        if n == 0:
            raise ValueError(f"{self._owner}: received no measurements (N = 0).")
        y = tf.cast(y, tf.float32)
        state = self._begin(n)
        progress = progress_bar(n, verbose)
        parts = []
        for lo in range(0, n, self.batch_size):
            hi = min(lo + self.batch_size, n)
            parts.append(self._reconstruct_batch(y[lo:hi], {k: v[lo:hi] for k, v in theta.items()}, state))
            if progress is not None:
                progress.add(hi - lo)
        rec = Reconstruction.concatenate(parts)
        rec.wall_time = time.perf_counter() - start
        return rec

    def reconstruct_file(self, source, out_dir, verbose=0):
        """Reconstructs a measurement file batch by batch from disk (memory: a few batches).

        The file is checked first (:func:`~ambient_dcs.data.files.open_measurements`, plus its fit
        to this reconstructor's operator and image shape), then read ``batch_size`` measurements at
        a time. Results equal :meth:`reconstruct`'s on the same measurements.

        Args:
            source: a measurement file path (``.npz``/``.npy``) or an opened
                :class:`~ambient_dcs.data.files.MeasurementStream` (open it with ``operator=`` for
                a file that does not name its operator). The data term uses ``self.operator``.
            out_dir: folder for ``x.npy`` ``(N, H, W, C)``, ``measurement_error.npy`` ``(N,)`` and,
                where the method has them, ``z.npy``, ``restart_errors.npy``, ``samples.npy``,
                ``std.npy``, each written under a temporary name and renamed when complete.
            verbose: 1 shows a progress bar.

        Returns:
            A dict: ``count``, ``seconds``, ``replicas``, ``files`` (name → path), and
            ``mean_measurement_error``.
        """
        return reconstruct_file(self, source, out_dir, verbose=verbose)


class LatentReconstructor(Reconstructor):
    """A reconstructor that searches the latent of a generator (CSGM, the learned fast path).

    Images × restarts are one batch of a graph (``self._solve(y, theta, z0)`` on rows padded to one
    size, so one trace serves every batch); ``z₀`` is drawn in image order from one stream per call
    (``numpy.random.default_rng(seed)``), so image ``i`` gets the same starts whatever the batch size,
    the number of devices, or whether it is reconstructed from memory or from a file. A subclass sets
    ``restarts``, ``latent_dim``, ``latent_distribution``, ``batch_size``, ``seed`` and implements
    ``_solve`` and ``_to_reconstruction(out, count)``.
    """

    latent_distribution = "normal"

    def initial_latents(self, rng, n):
        """``z₀`` for ``n`` images × restarts, ``(n, R, k)`` float32, drawn in image order from ``rng``."""
        if self.latent_distribution == "normal":
            return rng.standard_normal((n, self.restarts, self.latent_dim)).astype(np.float32)
        return rng.uniform(-1.0, 1.0, (n, self.restarts, self.latent_dim)).astype(np.float32)

    def _begin(self, n):
        return {"rng": np.random.default_rng(self.seed), "rows": min(self.batch_size, n)}

    def _keep_best(self, images, z, best, batch):
        """In the graph: ``x`` and ``z`` of the chosen restart ``best`` ``(B,)`` of each image, from every
        restart's ``images`` ``(B·R, H, W, C)`` and ``z`` ``(B·R, k)`` (image-major rows); with them the
        spread of the restarts' images, ``std`` (``R > 1``) and ``samples`` (``keep_samples``)."""
        images = tf.reshape(images, tf.concat([[batch, self.restarts], tf.shape(images)[1:]], 0))
        out = {"x": tf.gather(images, best, batch_dims=1),
               "z": tf.gather(tf.reshape(z, [batch, self.restarts, self.latent_dim]), best, batch_dims=1)}
        if self.restarts > 1:
            out["std"] = tf.math.reduce_std(images, axis=1)
        if self.keep_samples:
            out["samples"] = images
        return out

    def _reconstruct_batch(self, y, theta, state):
        count = int(y.shape[0])
        z0 = self.initial_latents(state["rng"], count)
        rows = batch_rows(count, state["rows"])
        out = self._solve(tf.gather(y, rows), {k: tf.gather(v, rows) for k, v in theta.items()}, tf.constant(z0[rows]))
        return self._to_reconstruction(out, count)

    def reconstruct_file(self, source, out_dir, strategy=None, verbose=0):
        """Reconstructs a measurement file batch by batch from disk, on one device or several.

        The file is checked first (:func:`~ambient_dcs.data.files.open_measurements`: the
        same checks as loading it, plus one streamed NaN/Inf pass), then read by a ``tf.data``
        pipeline that prefetches the next batch while the current one is solved. With a
        ``tf.distribute`` strategy of ``R`` replicas each step reads ``R × batch_size`` images and
        gives every replica its contiguous share. Memory holds a few batches, not the file, and
        the results are written as they come, so peak memory does not grow with the file.
        Results equal :meth:`reconstruct`'s on the same measurements (the same ``z₀`` per image).

        Args:
            source: a measurement file path (``.npz``/``.npy``, see :mod:`ambient_dcs.data.files`)
                or an opened :class:`~ambient_dcs.data.files.MeasurementStream`; its operator must be
                this reconstructor's kind of operator (the data term uses ``self.operator``).
            out_dir: folder for ``x.npy`` ``(N, H, W, C)``, ``z.npy`` ``(N, k)``,
                ``measurement_error.npy`` ``(N,)``, ``restart_errors.npy`` ``(N, R)``, ``std.npy``
                ``(N, H, W, C)`` (``restarts > 1``) and ``samples.npy`` ``(N, R, H, W, C)``
                (``keep_samples``), each written under a temporary name and renamed when complete.
            strategy: a ``tf.distribute`` strategy (default: the current one, one device).
            verbose: 1 shows a progress bar.

        Returns:
            A dict: ``count``, ``seconds``, ``replicas``, ``files`` (name → path), and
            ``mean_measurement_error``.
        """
        return reconstruct_latent_file(self, source, out_dir, strategy=strategy, verbose=verbose)
