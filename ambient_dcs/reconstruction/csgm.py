"""CSGM: reconstruction by optimising the latent of a generator (Bora et al., ICML 2017).

``ẑ = argmin_z ‖y − A_θ(G(z))‖² + λ‖z‖²`` by gradient descent from several random starts; the
reconstruction is ``G(ẑ)``. Any operator of the library (linear or not, built in or a user's
subclass) defines the data term through its noise-free ``forward``.

Every image has its own latent (deepinv's ``CSGMGenerator`` shares one across the batch) and the
restarts are a batch dimension: images × restarts are optimised together inside one
``tf.function``, and the best restart of each image is kept.

Example:
    >>> op = measurements.GaussianProjection(100, seed=0, noise=measurements.GaussianNoise(0.01))
    >>> y, theta = op.measure(x_test)
    >>> rec = CSGM(decoder, op, steps=1000, restarts=10).reconstruct(y, theta)
    >>> rec.x.shape, rec.measurement_error.shape          # (N, 28, 28, 1), (N,)
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np
import tensorflow as tf
from measurements.validation import check_theta

from .latent import OPTIMIZERS, minimise_latents

MEASUREMENT_LOSSES = ("l2", "l1+l2")
SELECTIONS = ("measurement", "loss")


@dataclasses.dataclass
class Reconstruction:
    """The result of a reconstructor.

    Attributes:
        x: reconstructions ``(N, H, W, C)`` in [0, 1].
        measurement_error: ``‖y − A_θ(x̂)‖²`` per image ``(N,)`` (sum over measurement entries).
        z: chosen latents ``(N, k)`` (``None`` for methods without a latent).
        restart_errors: measurement error of every restart ``(N, R)`` (CSGM only).
        restart_losses: total loss (data term + λ‖z‖²) of every restart ``(N, R)`` (CSGM only).
        steps: optimisation steps run per restart (CSGM only).
        wall_time: seconds spent in ``reconstruct``.
    """

    x: np.ndarray
    measurement_error: np.ndarray
    z: np.ndarray | None = None
    restart_errors: np.ndarray | None = None
    restart_losses: np.ndarray | None = None
    steps: int | None = None
    wall_time: float = 0.0


def image_shape_of(generator):
    """``(H, W, C)`` of a generator's output (any Keras model mapping ``(N, k)`` to images)."""
    shape = tuple(generator.output_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(f"expected a generator producing images (N, H, W, C); its output shape is "
                         f"{generator.output_shape}.")
    return shape


def dense_only(model):
    """Whether a Keras model's layers are all dense / elementwise / reshaping (no convolution, no
    resampling): where XLA pays on a CPU for CSGM's loop."""
    import keras

    plain = (keras.layers.Dense, keras.layers.Activation, keras.layers.Reshape, keras.layers.Flatten,
             keras.layers.InputLayer, keras.layers.LeakyReLU, keras.layers.ReLU, keras.layers.BatchNormalization,
             keras.layers.Dropout)
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            if not dense_only(layer):
                return False
        elif not isinstance(layer, plain):
            return False
    return True


def check_reconstruction_inputs(operator, y, theta, image_shape, owner):
    """Validates ``y`` and ``θ`` before any work; returns them as tensors.

    Raises ``ValueError`` for measurements whose shape does not match the operator, NaN/Inf,
    a missing θ for a random operator, or a θ whose batch size differs from ``y``'s.
    """
    operator.ensure_built(image_shape)
    try:
        y = operator.check_measurements(y, image_shape)
    except ValueError as err:
        raise ValueError(f"{owner}: {err}") from None
    if operator.is_random and theta is None:
        raise ValueError(f"{owner}: {type(operator).__name__} is random; pass the θ that produced y "
                         f"(keys {list(operator.theta_keys)}), e.g. from operator.measure(x).")
    try:
        theta = check_theta(theta, y.shape[0], type(operator).__name__, operator.theta_keys) or {}
    except ValueError as err:
        raise ValueError(f"{owner}: {err}") from None
    return y, theta


def measurement_error(operator, x, y, theta):
    """``‖y − A_θ(x)‖²`` per image, as a NumPy array ``(N,)``."""
    residual = tf.cast(y, tf.float32) - tf.cast(operator.forward(tf.convert_to_tensor(x, tf.float32), theta), tf.float32)
    return tf.reduce_sum(tf.reshape(tf.square(residual), [tf.shape(residual)[0], -1]), axis=1).numpy()


class CSGM:
    """Compressed sensing with a generative model.

    Args:
        generator: a Keras model mapping latents ``(N, k)`` to images ``(N, H, W, C)`` in [0, 1].
        operator: the measurement operator (its noise-free ``forward`` defines the data term).
        steps: optimisation steps per restart (paper, MNIST: 1000).
        restarts: random restarts per image (paper, MNIST: 10).
        learning_rate: step size (paper, MNIST: Adam 0.01).
        optimizer: ``"adam"``, ``"momentum"`` (0.9) or ``"sgd"``.
        z_prior_weight: λ of the ``λ‖z‖²`` term (paper: 0.1 for "VAE+Reg", 0 for "VAE").
        measurement_loss: ``"l2"`` (``‖r‖²``) or ``"l1+l2"`` (``‖r‖₁ + ‖r‖²``), ``r = y − A(G(z))``.
        select: keep the restart with the lowest ``"measurement"`` error (the paper) or the lowest
            total ``"loss"`` (the original code).
        tolerance: optional early stop once every restart's loss is ``<= tolerance``.
        batch_size: images optimised together (× restarts rows); the last batch is padded so one
            graph serves every batch.
        jit_compile: compile the optimisation loop with XLA: ``True``, ``False``, or ``"auto"``
            (default): XLA for generators made only of dense layers, where it is faster (MNIST VAE
            prior on the 2-core CPU: 94 % of the matmul peak with XLA, 78 % without), not for
            convolutional ones, where it was measured slower (2.5× for the main job's generator);
            see ``docs/results/benchmarks.md``.
        seed: seed of the initial latents ``z₀ ~ N(0, I)``.
    """

    def __init__(self, generator, operator, steps=1000, restarts=10, learning_rate=0.01, optimizer="adam",
                 z_prior_weight=0.1, measurement_loss="l2", select="measurement", tolerance=None,
                 batch_size=64, jit_compile="auto", seed=0):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"CSGM: expected optimizer in {OPTIMIZERS}; received {optimizer!r}.")
        if measurement_loss not in MEASUREMENT_LOSSES:
            raise ValueError(f"CSGM: expected measurement_loss in {MEASUREMENT_LOSSES}; received {measurement_loss!r}.")
        if select not in SELECTIONS:
            raise ValueError(f"CSGM: expected select in {SELECTIONS}; received {select!r}.")
        for name, value in (("steps", steps), ("restarts", restarts), ("batch_size", batch_size)):
            if not isinstance(value, (int, np.integer)) or value < (0 if name == "steps" else 1):
                raise ValueError(f"CSGM: expected {name} to be an integer >= {0 if name == 'steps' else 1}; "
                                 f"received {value!r}.")
        self.generator = generator
        self.operator = operator
        self.steps, self.restarts, self.batch_size = int(steps), int(restarts), int(batch_size)
        self.learning_rate = float(learning_rate)
        self.optimizer = optimizer
        self.z_prior_weight = float(z_prior_weight)
        self.measurement_loss = measurement_loss
        self.select = select
        self.tolerance = tolerance
        self.seed = seed
        self.image_shape = image_shape_of(generator)
        self.latent_dim = int(generator.input_shape[-1])
        # A closure per object: each reconstructor traces its own graph once, and TensorFlow does not
        # count the traces of several reconstructors as retracing of one function.
        if jit_compile not in (True, False, "auto"):
            raise ValueError(f"CSGM: expected jit_compile True, False or 'auto'; received {jit_compile!r}.")
        self.jit_compile = dense_only(generator) if jit_compile == "auto" else bool(jit_compile)
        self._solve = tf.function(lambda y, theta, z0: self._solve_images(y, theta, z0), jit_compile=self.jit_compile,
                                  reduce_retracing=True)

    # -------------------------------------------------------------- the graph
    def _residual(self, z, y, theta):
        x = self.generator(z, training=False)
        return tf.reshape(y - tf.cast(self.operator.forward(x, theta), y.dtype), [tf.shape(y)[0], -1])

    def _solve_batch(self, y, theta, z0):
        """Rows are (image, restart) pairs: ``y``, ``θ`` and ``z0`` all have N·R rows."""

        def loss_fn(z):
            residual = self._residual(z, y, theta)
            data = tf.reduce_sum(tf.square(residual), axis=1)
            if self.measurement_loss == "l1+l2":
                data += tf.reduce_sum(tf.abs(residual), axis=1)
            return data + self.z_prior_weight * tf.reduce_sum(tf.square(z), axis=1)

        z, losses, steps = minimise_latents(loss_fn, z0, self.steps, self.learning_rate, self.optimizer,
                                            tolerance=self.tolerance)
        errors = tf.reduce_sum(tf.square(self._residual(z, y, theta)), axis=1)
        return z, errors, losses, steps

    def _solve_images(self, y, theta, z0):
        """One graph for a batch of images: restarts as rows, the best restart chosen in the graph.

        ``y`` ``(B, ...)``, θ ``(B, ...)``, ``z0`` ``(B, R, k)`` → ``(x (B, H, W, C), z (B, k),
        errors (B, R), losses (B, R), steps)``.
        """
        b, r = tf.shape(z0)[0], self.restarts
        rows_y = tf.repeat(y, r, axis=0)  # image-major (image, restart) rows
        rows_theta = {k: tf.repeat(v, r, axis=0) for k, v in theta.items()}
        z, errors, losses, steps = self._solve_batch(rows_y, rows_theta, tf.reshape(z0, [-1, self.latent_dim]))
        errors, losses = tf.reshape(errors, [b, r]), tf.reshape(losses, [b, r])
        best = tf.argmin(errors if self.select == "measurement" else losses, axis=1, output_type=tf.int32)
        z = tf.gather(tf.reshape(z, [b, r, self.latent_dim]), best, batch_dims=1)
        return self.generator(z, training=False), z, errors, losses, steps

    def initial_latents(self, rng, n):
        """``z₀ ~ N(0, I)`` for ``n`` images × restarts, ``(n, R, k)`` float32, drawn in image order.

        One stream per reconstruction (``numpy.random.default_rng(seed)``): image ``i`` gets the
        same ``z₀`` whatever the batch size or the number of devices.
        """
        return rng.standard_normal((n, self.restarts, self.latent_dim)).astype(np.float32)

    # -------------------------------------------------------------- the public call
    def reconstruct(self, y, theta=None, verbose=0):
        """Reconstructs images from measurements.

        Args:
            y: measurements ``(N, *operator.measurement_shape(image_shape))``.
            theta: the θ that produced ``y`` (required for random operators).
            verbose: 1 shows a progress bar over batches.

        Returns:
            A :class:`Reconstruction`. For measurement files larger than memory, or to spread the
            work over several devices, use :meth:`reconstruct_file`.
        """
        start = time.perf_counter()
        y, theta = check_reconstruction_inputs(self.operator, y, theta, self.image_shape, "CSGM")
        y = tf.cast(y, tf.float32)
        n, r, b = int(y.shape[0]), self.restarts, self.batch_size
        z0 = self.initial_latents(np.random.default_rng(self.seed), n)
        x_all = np.empty((n, *self.image_shape), np.float32)
        z_all = np.empty((n, self.latent_dim), np.float32)
        err_all = np.empty((n, r), np.float32)
        loss_all = np.empty((n, r), np.float32)
        steps_run = 0
        progress = None
        if verbose:
            import keras

            progress = keras.utils.Progbar(n, unit_name="image")
        for lo in range(0, n, b):
            idx = np.arange(lo, min(lo + b, n))
            padded = np.resize(idx, b) if n > b else idx  # fixed batch → one trace for every batch
            x, z, errors, losses, steps = self._solve(tf.gather(y, padded), {k: tf.gather(v, padded) for k, v in theta.items()},
                                                      tf.constant(z0[padded]))
            k = len(idx)
            x_all[idx], z_all[idx] = x.numpy()[:k], z.numpy()[:k]
            err_all[idx], loss_all[idx] = errors.numpy()[:k], losses.numpy()[:k]
            steps_run = int(steps)
            if progress is not None:
                progress.add(k)
        best = np.argmin(err_all if self.select == "measurement" else loss_all, axis=1)
        return Reconstruction(
            x=x_all, z=z_all, measurement_error=err_all[np.arange(n), best], restart_errors=err_all,
            restart_losses=loss_all, steps=steps_run, wall_time=time.perf_counter() - start)

    def reconstruct_file(self, source, out_dir, strategy=None, verbose=0):
        """Reconstructs a measurement file batch by batch from disk, on one device or several.

        The file is checked first (:func:`~ambient_dcs.measurement_files.open_measurements`: the
        same checks as loading it, plus one streamed NaN/Inf pass), then read by a ``tf.data``
        pipeline that prefetches the next batch while the current one is optimised. With a
        ``tf.distribute`` strategy of ``R`` replicas each step reads ``R × batch_size`` images and
        gives every replica its contiguous share. Memory holds a few batches, not the file, and
        the results are written as they come, so peak memory does not grow with the file.

        Results equal :meth:`reconstruct`'s on the same measurements (the same ``z₀`` per image).

        Args:
            source: a measurement file path (``.npz``/``.npy``, see
                :mod:`ambient_dcs.measurement_files`) or an opened
                :class:`~ambient_dcs.measurement_files.MeasurementStream`; its operator must be
                this reconstructor's kind of operator (the data term uses ``self.operator``).
            out_dir: folder for ``x.npy`` ``(N, H, W, C)``, ``z.npy`` ``(N, k)``,
                ``measurement_error.npy`` ``(N,)`` and ``restart_errors.npy`` ``(N, R)``, each
                written under a temporary name and renamed when complete.
            strategy: a ``tf.distribute`` strategy (default: the current one, one device).
            verbose: 1 shows a progress bar.

        Returns:
            A dict: ``count``, ``seconds``, ``replicas``, ``files`` (name → path), and
            ``mean_measurement_error``.
        """
        from .measurement_files import MeasurementStream, NpyWriter, open_measurements

        start = time.perf_counter()
        stream = source if isinstance(source, MeasurementStream) else open_measurements(source)
        if tuple(stream.image_shape) != tuple(self.image_shape):
            raise ValueError(f"CSGM.reconstruct_file: the file's signals have shape {stream.image_shape}; the "
                             f"generator makes images of shape {self.image_shape}.")
        if self.operator.is_random and not stream.theta_keys:
            raise ValueError(f"CSGM.reconstruct_file: {type(self.operator).__name__} is random; the file holds no θ.")
        self.operator.ensure_built(self.image_shape)
        strategy = strategy or tf.distribute.get_strategy()
        replicas = int(strategy.num_replicas_in_sync)
        n, r, k, b = stream.count, self.restarts, self.latent_dim, self.batch_size
        global_batch = b * replicas
        specs = stream.theta_specs()

        def batches():
            rng = np.random.default_rng(self.seed)
            for y, theta in stream.batches(global_batch, check=False):  # checked by open_measurements
                count = len(y)
                pad = np.resize(np.arange(count), global_batch)  # fixed shape → one trace
                yield y[pad], {key: v[pad] for key, v in theta.items()}, self.initial_latents(rng, count)[pad], count

        signature = (tf.TensorSpec((global_batch, *stream.measurement_shape), tf.float32),
                     {key: tf.TensorSpec((global_batch, *shape), tf.as_dtype(dtype)) for key, (shape, dtype) in specs.items()},
                     tf.TensorSpec((global_batch, r, k), tf.float32), tf.TensorSpec((), tf.int64))
        dataset = tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(1)

        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        writers = {"x": NpyWriter(out_dir / "x.npy", (n, *self.image_shape)), "z": NpyWriter(out_dir / "z.npy", (n, k)),
                   "measurement_error": NpyWriter(out_dir / "measurement_error.npy", (n,)),
                   "restart_errors": NpyWriter(out_dir / "restart_errors.npy", (n, r))}
        progress = None
        if verbose:
            import keras

            progress = keras.utils.Progbar(n, unit_name="image")
        total_error = 0.0
        try:
            for y, theta, z0, count in dataset:
                if replicas == 1:
                    x, z, errors, losses, _ = self._solve(y, theta, z0)
                else:
                    share = lambda t, ctx: t[ctx.replica_id_in_sync_group * b:(ctx.replica_id_in_sync_group + 1) * b]  # noqa: E731
                    args = strategy.experimental_distribute_values_from_function(
                        lambda ctx: (share(y, ctx), {key: share(v, ctx) for key, v in theta.items()}, share(z0, ctx)))
                    parts = strategy.experimental_local_results(strategy.run(self._solve, args=args))
                    x, z, errors, losses = (tf.concat([tf.identity(p[i]) for p in parts], 0) for i in range(4))
                count = int(count)
                errors, losses = errors.numpy()[:count], losses.numpy()[:count]
                best = np.argmin(errors if self.select == "measurement" else losses, axis=1)
                chosen = errors[np.arange(count), best]
                total_error += float(chosen.sum())
                writers["x"].append(x.numpy()[:count])
                writers["z"].append(z.numpy()[:count])
                writers["measurement_error"].append(chosen)
                writers["restart_errors"].append(errors)
                if progress is not None:
                    progress.add(count)
            files = {name: str(w.close()) for name, w in writers.items()}
        finally:
            for w in writers.values():
                w.abort()
        return {"count": n, "seconds": time.perf_counter() - start, "replicas": replicas, "files": files,
                "mean_measurement_error": total_error / n}
