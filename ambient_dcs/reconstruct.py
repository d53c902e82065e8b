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
        jit_compile: compile the optimisation loop with XLA.
        seed: seed of the initial latents ``z₀ ~ N(0, I)``.
    """

    def __init__(self, generator, operator, steps=1000, restarts=10, learning_rate=0.01, optimizer="adam",
                 z_prior_weight=0.1, measurement_loss="l2", select="measurement", tolerance=None,
                 batch_size=64, jit_compile=False, seed=0):
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
        self._solve = tf.function(lambda y, theta, z0: self._solve_batch(y, theta, z0), jit_compile=jit_compile,
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

    # -------------------------------------------------------------- the public call
    def reconstruct(self, y, theta=None, verbose=0):
        """Reconstructs images from measurements.

        Args:
            y: measurements ``(N, *operator.measurement_shape(image_shape))``.
            theta: the θ that produced ``y`` (required for random operators).
            verbose: 1 shows a progress bar over batches.

        Returns:
            A :class:`Reconstruction`.
        """
        start = time.perf_counter()
        y, theta = check_reconstruction_inputs(self.operator, y, theta, self.image_shape, "CSGM")
        y = tf.cast(y, tf.float32)
        n, r, b = int(y.shape[0]), self.restarts, self.batch_size
        rng = np.random.default_rng(self.seed)
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
            rows = np.repeat(padded, r)                     # image-major: (image, restart) rows
            yb = tf.gather(y, rows)
            thetab = {k: tf.gather(v, rows) for k, v in theta.items()}
            z0 = tf.constant(rng.standard_normal((len(rows), self.latent_dim)), tf.float32)
            z, errors, losses, steps = self._solve(yb, thetab, z0)
            k = len(idx)
            z = z.numpy().reshape(len(padded), r, -1)[:k]
            err_all[idx] = errors.numpy().reshape(len(padded), r)[:k]
            loss_all[idx] = losses.numpy().reshape(len(padded), r)[:k]
            score = err_all[idx] if self.select == "measurement" else loss_all[idx]
            z_all[idx] = z[np.arange(k), np.argmin(score, axis=1)]
            steps_run = int(steps)
            if progress is not None:
                progress.add(k)
        x = self.generator(tf.constant(z_all), training=False).numpy()
        best = np.argmin(err_all if self.select == "measurement" else loss_all, axis=1)
        return Reconstruction(
            x=x, z=z_all, measurement_error=err_all[np.arange(n), best], restart_errors=err_all,
            restart_losses=loss_all, steps=steps_run, wall_time=time.perf_counter() - start)
