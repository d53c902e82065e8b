"""The learned fast path: a few learned gradient steps on the latent (Deep Compressed Sensing).

A generator trained together with a short unrolled latent optimisation (``DeepCompressedSensing``,
``AmbientGANWithInversion``) reconstructs with those ``T`` steps instead of CSGM's hundreds.

Example:
    >>> rec = LearnedLatentReconstructor(G, op, steps=3, step_size=0.5, restarts=4).reconstruct(y, theta)
    >>> # DCS's own reconstruction: one start z₀ ~ N(0, I) per image, its projection and learned step size
    >>> LearnedLatentReconstructor(dcs.generator, dcs.operator, steps=dcs.latent_steps, step_size=dcs.step_size(),
    ...                            project=dcs.project, restarts=1, seed=0).reconstruct(y)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..latent import PROJECTIONS, optimise_latents
from .base import LatentReconstructor, Reconstruction, image_shape_of

__all__ = ["LearnedLatentReconstructor"]

LATENT_DISTRIBUTIONS = ("normal", "uniform")


def _per_row_sum_of_squares(t):
    return tf.reduce_sum(tf.reshape(tf.square(t), [tf.shape(t)[0], -1]), axis=1)


class LearnedLatentReconstructor(LatentReconstructor):
    """Reconstruction by a few learned gradient steps on the latent (the DCS fast path).

    ``z ← project(z − s·∇_z ‖y − A_θ(G(z))‖²)`` for ``steps`` steps from ``restarts`` draws
    ``z₀`` of the latent prior per image (projected first, unless ``steps = 0``). Restarts are rows
    of one batch in one ``tf.function``; the restart with the lowest measurement error is kept.

    Image ``i``'s starts are rows ``i·R … i·R + R − 1`` of one stream
    ``numpy.random.default_rng(seed)`` (``standard_normal`` or ``uniform(−1, 1)`` of shape
    ``(N, R, k)``), whatever the batch size: with ``restarts=1`` and ``latent_distribution="normal"``
    that is ``default_rng(seed).standard_normal((N, k))``, Deep Compressed Sensing's reconstruction.

    Args:
        generator: a Keras model ``(N, k) → (N, H, W, C)`` in [0, 1].
        operator: the measurement operator.
        steps: T (as trained).
        step_size: ``s`` (as learned).
        project: projection of ``z`` (as trained): ``None``, ``"clip"`` or ``"norm"``.
        restarts: latent draws per image.
        latent_distribution: ``"normal"`` or ``"uniform"`` (U[−1, 1]), the generator's prior.
        batch_size: images per graph call (the last batch is padded: one graph for every batch).
        seed: seed of the initial latents.
        jit_compile: compile with XLA.
        keep_samples: also return the images of every restart as ``samples`` ``(N, R, H, W, C)``;
            the per-pixel ``std`` over the restarts is returned whenever ``restarts > 1``.
        name: the name in error messages (e.g. ``"DeepCompressedSensing.reconstruct"`` when a
            trainer delegates to this class).
    """

    def __init__(self, generator, operator, steps=3, step_size=0.01, project=None, restarts=4,
                 latent_distribution="normal", batch_size=256, seed=0, jit_compile=False, keep_samples=False,
                 name=None):
        owner = name or "LearnedLatentReconstructor"
        if latent_distribution not in LATENT_DISTRIBUTIONS:
            raise ValueError(f"{owner}: expected latent_distribution 'normal' or 'uniform'; "
                             f"received {latent_distribution!r}.")
        if project not in PROJECTIONS:
            raise ValueError(f"{owner}: expected project in {PROJECTIONS}; received {project!r}.")
        for what, value in (("steps", steps), ("restarts", restarts), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if what == "steps" else 1):
                raise ValueError(f"{owner}: expected {what} to be a non-negative integer "
                                 f"(restarts and batch_size >= 1); received {value!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"{owner}: expected seed to be an integer >= 0; received {seed!r}.")
        if not np.isfinite(float(step_size)):
            raise ValueError(f"{owner}: expected a finite step_size; received {step_size!r}.")
        self.generator, self.operator = generator, operator
        self.steps, self.step_size, self.project = int(steps), float(step_size), project
        self.restarts, self.batch_size, self.seed = int(restarts), int(batch_size), int(seed)
        self.latent_distribution = latent_distribution
        self.keep_samples = bool(keep_samples)
        self.name = owner
        self.image_shape = image_shape_of(generator)
        self.latent_dim = int(generator.input_shape[-1])
        # A closure per object: each reconstructor traces its own graph once, and TensorFlow does not
        # count the traces of several reconstructors as retracing of one function.
        self._solve = tf.function(lambda y, theta, z0: self._solve_images(y, theta, z0), jit_compile=jit_compile,
                                  reduce_retracing=True)

    @property
    def _owner(self):
        return self.name

    # -------------------------------------------------------------- the graph
    def _errors(self, x, y, theta):
        return _per_row_sum_of_squares(y - tf.cast(self.operator.forward(x, theta), y.dtype))

    def _solve_images(self, y, theta, z0):
        """``y`` ``(B, ...)``, θ, ``z0`` ``(B, R, k)`` → dict of ``x``, ``z``, ``restart_errors`` (and ``std``, ``samples``)."""
        b, r = tf.shape(z0)[0], self.restarts
        rows_y = tf.repeat(y, r, axis=0)  # image-major (image, restart) rows
        rows_theta = {k: tf.repeat(v, r, axis=0) for k, v in theta.items()}
        z = optimise_latents(lambda z: self._errors(self.generator(z, training=False), rows_y, rows_theta),
                             tf.reshape(z0, [-1, self.latent_dim]), self.steps, self.step_size, project=self.project,
                             second_order=False)
        images = self.generator(z, training=False)  # every restart's image: its error, x, std and samples
        errors = tf.reshape(self._errors(images, rows_y, rows_theta), [b, r])
        best = tf.argmin(errors, axis=1, output_type=tf.int32)
        return dict(self._keep_best(images, z, best, b), restart_errors=errors)

    def _to_reconstruction(self, out, count):
        """The first ``count`` rows of a graph result as a :class:`Reconstruction`."""
        arrays = {key: value.numpy()[:count] for key, value in out.items()}
        return Reconstruction(x=arrays["x"], z=arrays["z"], measurement_error=arrays["restart_errors"].min(axis=1),
                              restart_errors=arrays["restart_errors"], steps=self.steps, samples=arrays.get("samples"),
                              std=arrays.get("std"))
