"""The learned fast path: a few learned gradient steps on the latent (Deep Compressed Sensing).

A generator trained together with a short unrolled latent optimisation (``DeepCompressedSensing``,
``AmbientGANWithInversion``) reconstructs with those ``T`` steps instead of CSGM's hundreds.

Example:
    >>> rec = LearnedLatentReconstructor(G, op, steps=3, step_size=0.5, restarts=4).reconstruct(y, theta)
    >>> # DCS's own reconstruction: one start z₀ ~ N(0, I) per image, its T, projection and learned step size
    >>> LearnedLatentReconstructor.from_trainer(dcs).reconstruct(y)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from measurements.validation import check_int

from ..latent import PROJECTIONS, optimise_latents
from .base import LatentReconstructor
from .result import Reconstruction, image_shape_of

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
        steps, restarts = check_int(steps, owner, "steps", 0), check_int(restarts, owner, "restarts", 1)
        batch_size, seed = check_int(batch_size, owner, "batch_size", 1), check_int(seed, owner, "seed", 0)
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

    @classmethod
    def from_trainer(cls, model, restarts=1, seed=0, batch_size=256, **kwargs):
        """The fast path of a model trained with a learned latent optimisation.

        Reads, by duck typing, ``model.generator``, ``model.operator``, ``model.latent_steps`` (T),
        ``model.step_size`` (the learned ``s``: a float or a method returning it), ``model.project``
        and ``model.latent_distribution`` — what :class:`~ambient_dcs.models.DeepCompressedSensing`
        and :class:`~ambient_dcs.models.AmbientGANWithInversion` have after training.

        Args:
            model: the trained model.
            restarts, seed, batch_size, **kwargs: as the constructor (``restarts=1``: DCS's own
                reconstruction, one start ``z₀`` per image).

        Example:
            >>> fast = LearnedLatentReconstructor.from_trainer(dcs)
            >>> rec = fast.reconstruct(dcs.measure(x_test))
        """
        missing = [a for a in ("generator", "operator", "latent_steps", "step_size", "project")
                   if not hasattr(model, a)]
        if missing:
            raise ValueError(f"LearnedLatentReconstructor.from_trainer: expected a model trained with a learned "
                             f"latent optimisation (DeepCompressedSensing, AmbientGANWithInversion); "
                             f"{type(model).__name__} has no {', '.join(missing)}.")
        step_size = model.step_size() if callable(model.step_size) else model.step_size
        kwargs.setdefault("name", f"{type(model).__name__} fast path")
        return cls(model.generator, model.operator, steps=model.latent_steps, step_size=step_size,
                   project=model.project, restarts=restarts,
                   latent_distribution=getattr(model, "latent_distribution", "normal"), batch_size=batch_size,
                   seed=seed, **kwargs)

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
