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
    >>> rec.std.shape                                     # (N, 28, 28, 1): spread over the restarts
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from measurements.validation import check_int

from ..latent import OPTIMIZERS, minimise_latents
from .base import LatentReconstructor
from .result import Reconstruction, image_shape_of

MEASUREMENT_LOSSES = ("l2", "l1+l2")
SELECTIONS = ("measurement", "loss")


def dense_only(model):
    """Whether a Keras model's layers are all dense / elementwise / reshaping (no convolution, no
    resampling): where XLA pays on a CPU for CSGM's loop."""
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


class CSGM(LatentReconstructor):
    """Compressed sensing with a generative model.

    ``reconstruct(y, theta)`` returns a :class:`Reconstruction` with ``x``, ``z``, ``measurement_error``
    (of the kept restart), ``restart_errors``, ``restart_losses``, ``steps``, ``std`` (``restarts > 1``),
    ``samples`` (``keep_samples``) and ``wall_time``; ``reconstruct_file`` streams a measurement file.

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
            (default): XLA for generators made only of dense layers, where it was measured faster on
            a CPU, not for convolutional ones, where it was slower (``docs/results/benchmarks.md``).
        keep_samples: also return the images of every restart as ``samples`` ``(N, R, H, W, C)``
            (R times the memory of ``x``; off by default). The per-pixel ``std`` over the restarts
            is always returned when ``restarts > 1``: the images of all restarts are made anyway
            to measure their errors, so it costs no extra generator pass.
        seed: seed of the initial latents ``z₀ ~ N(0, I)``.
    """

    def __init__(self, generator, operator, steps=1000, restarts=10, learning_rate=0.01, optimizer="adam",
                 z_prior_weight=0.1, measurement_loss="l2", select="measurement", tolerance=None,
                 batch_size=64, jit_compile="auto", seed=0, keep_samples=False):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"CSGM: expected optimizer in {OPTIMIZERS}; received {optimizer!r}.")
        if measurement_loss not in MEASUREMENT_LOSSES:
            raise ValueError(f"CSGM: expected measurement_loss in {MEASUREMENT_LOSSES}; received {measurement_loss!r}.")
        if select not in SELECTIONS:
            raise ValueError(f"CSGM: expected select in {SELECTIONS}; received {select!r}.")
        steps, restarts = check_int(steps, "CSGM", "steps", 0), check_int(restarts, "CSGM", "restarts", 1)
        batch_size = check_int(batch_size, "CSGM", "batch_size", 1)
        if not isinstance(keep_samples, (bool, np.bool_)):
            raise ValueError(f"CSGM: expected keep_samples True or False; received {keep_samples!r}.")
        self.generator = generator
        self.operator = operator
        self.steps, self.restarts, self.batch_size = int(steps), int(restarts), int(batch_size)
        self.learning_rate = float(learning_rate)
        self.optimizer = optimizer
        self.z_prior_weight = float(z_prior_weight)
        self.measurement_loss = measurement_loss
        self.select = select
        self.tolerance = tolerance
        self.keep_samples = bool(keep_samples)
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
    def _residual(self, x, y, theta):
        return tf.reshape(y - tf.cast(self.operator.forward(x, theta), y.dtype), [tf.shape(y)[0], -1])

    def _solve_batch(self, y, theta, z0):
        """Rows are (image, restart) pairs: ``y``, ``θ`` and ``z0`` all have N·R rows.

        Returns ``(z, images, errors, losses, steps)``: ``images = G(z)`` of every row, made once
        for the final errors and reused for ``x``, ``std`` and ``samples``.
        """

        def data_term(residual):
            data = tf.reduce_sum(tf.square(residual), axis=1)
            if self.measurement_loss == "l1+l2":
                data += tf.reduce_sum(tf.abs(residual), axis=1)
            return data

        def loss_fn(z):
            return (data_term(self._residual(self.generator(z, training=False), y, theta))
                    + self.z_prior_weight * tf.reduce_sum(tf.square(z), axis=1))

        z, _, steps = minimise_latents(loss_fn, z0, self.steps, self.learning_rate, self.optimizer,
                                       tolerance=self.tolerance)
        images = self.generator(z, training=False)
        residual = self._residual(images, y, theta)
        errors = tf.reduce_sum(tf.square(residual), axis=1)
        losses = data_term(residual) + self.z_prior_weight * tf.reduce_sum(tf.square(z), axis=1)
        return z, images, errors, losses, steps

    def _solve_images(self, y, theta, z0):
        """One graph for a batch of images: restarts as rows, the best restart chosen in the graph.

        ``y`` ``(B, ...)``, θ ``(B, ...)``, ``z0`` ``(B, R, k)`` → a dict: ``x`` ``(B, H, W, C)``,
        ``z`` ``(B, k)``, ``restart_errors`` / ``restart_losses`` ``(B, R)``, ``steps``, and
        ``std`` ``(B, H, W, C)`` (R > 1), ``samples`` ``(B, R, H, W, C)`` (``keep_samples``).
        """
        b, r = tf.shape(z0)[0], self.restarts
        rows_y = tf.repeat(y, r, axis=0)  # image-major (image, restart) rows
        rows_theta = {k: tf.repeat(v, r, axis=0) for k, v in theta.items()}
        z, images, errors, losses, steps = self._solve_batch(rows_y, rows_theta, tf.reshape(z0, [-1, self.latent_dim]))
        errors, losses = tf.reshape(errors, [b, r]), tf.reshape(losses, [b, r])
        best = tf.argmin(errors if self.select == "measurement" else losses, axis=1, output_type=tf.int32)
        return dict(self._keep_best(images, z, best, b), restart_errors=errors, restart_losses=losses, steps=steps)

    def _to_reconstruction(self, out, count):
        """The first ``count`` rows of a graph result as a :class:`Reconstruction`."""
        arrays = {key: value.numpy()[:count] for key, value in out.items() if key != "steps"}
        chosen = np.argmin(arrays["restart_errors" if self.select == "measurement" else "restart_losses"], axis=1)
        return Reconstruction(
            x=arrays["x"], z=arrays["z"], measurement_error=arrays["restart_errors"][np.arange(count), chosen],
            restart_errors=arrays["restart_errors"], restart_losses=arrays["restart_losses"], steps=int(out["steps"]),
            samples=arrays.get("samples"), std=arrays.get("std"))
