"""A fast reconstructor learned from measurements only: AmbientGAN + DCS latent optimisation.

CSGM reconstructs with thousands of gradient steps on the latent per image. Deep Compressed
Sensing (Wu et al., 2019) shows that a generator *trained together with* a short, unrolled latent
optimisation (T ≈ 3 steps with a learned step size) reconstructs in those T steps. DCS trains on
clean images. Here the same meta-learning runs on the **real measurements** an AmbientGAN is
trained on, so no clean signal is ever needed:

* the AmbientGAN losses keep ``G`` on the data manifold (the discriminator sees measurements);
* for every real measurement ``y`` (with its θ) of the step, ``T`` steps
  ``z ← z − s·∇_z E(z)`` with ``E(z) = ‖y − A_θ(G(z))‖²`` run from ``z₀`` drawn from the prior, and
  ``weight · mean E(z_T)`` (normalised per measurement entry) is added to the generator loss; the
  gradient flows through the unrolled steps to ``G`` and to the learned step size ``s = exp(log s)``.

:class:`~ambient_dcs.reconstruction.LearnedLatentReconstructor` then reconstructs with those ``T``
steps (a few restarts as a batch dimension, the best kept by measurement error): the fast path.

Example:
    >>> gan = AmbientGANWithInversion(G, D, op, latent_steps=3, latent_distribution="normal", seed=0)
    >>> gan.compile(); gan.fit(measurement_dataset, epochs=10)
    >>> fast = LearnedLatentReconstructor.from_trainer(gan, restarts=4)
    >>> rec = fast.reconstruct(y, theta)                                  # T steps per image
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from measurements.validation import check_int

from ..latent import PROJECTIONS, optimise_latents
from .ambientgan import AmbientGAN

__all__ = ["AmbientGANWithInversion"]


def _per_row_sum_of_squares(t):
    return tf.reduce_sum(tf.reshape(tf.square(t), [tf.shape(t)[0], -1]), axis=1)


@keras.saving.register_keras_serializable(package="ambient_dcs")
class AmbientGANWithInversion(AmbientGAN):
    """AmbientGAN whose generator also learns to be inverted in ``latent_steps`` gradient steps.

    Args:
        generator, discriminator, operator: as :class:`~ambient_dcs.models.ambientgan.AmbientGAN`
            (``mode`` must be ``"ambient"``).
        latent_steps: T, the unrolled steps (DCS: 3).
        inversion_weight: weight of the mean measurement error after T steps (per measurement
            entry) in the generator loss.
        step_size: initial step size ``s`` (learned as ``exp(log s)``; DCS: 0.01).
        project: projection of ``z`` before and after each step: ``None`` (default; the
            AmbientGAN prior is unbounded for ``"normal"`` latents), ``"clip"`` (to [−1, 1], the
            support of ``"uniform"`` latents) or ``"norm"`` (the unit sphere, as DCS).
        second_order: differentiate through the inner gradients (MAML-style, as DCS).
        **kwargs: the other :class:`AmbientGAN` arguments (``loss``, ``d_steps``,
            ``latent_distribution``, ``seed`` …).

    Real batches must carry θ for a random operator (dict batches ``{"y", "theta"}`` or clean
    images, whose θ is simulated): the inversion loss measures ``G(z)`` with the θ of ``y``.

    Extra metric: ``inversion`` (the mean measurement error per entry after T steps);
    ``step_size`` is the current ``s``.
    """

    _extra_draws = ("inversion_z",)
    _extra_metric_names = ("inversion",)

    def __init__(self, generator, discriminator, operator, latent_steps=3, inversion_weight=1.0, step_size=0.01,
                 project=None, second_order=True, **kwargs):
        if kwargs.get("mode", "ambient") != "ambient":
            raise ValueError(f"AmbientGANWithInversion: the learned inversion fits real measurements, so mode must "
                             f"be 'ambient'; received mode={kwargs['mode']!r}.")
        latent_steps = check_int(latent_steps, "AmbientGANWithInversion", "latent_steps", 1)
        for name, value in (("inversion_weight", inversion_weight), ("step_size", step_size)):
            if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value > 0):
                raise ValueError(f"AmbientGANWithInversion: expected {name} > 0; received {value!r}.")
        if project not in PROJECTIONS:
            raise ValueError(f"AmbientGANWithInversion: expected project in {PROJECTIONS}; received {project!r}.")
        super().__init__(generator, discriminator, operator, **kwargs)
        self.latent_steps = int(latent_steps)
        self.inversion_weight = float(inversion_weight)
        self.initial_step_size = float(step_size)
        self.project = project
        self.second_order = bool(second_order)
        self.log_step_size = self.add_weight(
            name="log_step_size", shape=(), initializer=keras.initializers.Constant(math.log(step_size)))
        self._entries = float(np.prod(self.measurement_shape))

    @property
    def step_size(self):
        """The learned step size ``s`` (a float)."""
        return float(np.exp(keras.ops.convert_to_numpy(self.log_step_size)))

    def optimizer_variables(self, name):
        extra = [self.log_step_size] if name == "g_optimizer" else []  # s is trained with G
        return list(super().optimizer_variables(name)) + extra

    def _extra_generator_loss(self, y, theta, n, seeds):
        if y is None:
            raise ValueError("AmbientGANWithInversion: the learned inversion needs real measurements.")
        if self.operator.is_random and not theta:
            raise ValueError(
                f"AmbientGANWithInversion: {type(self.operator).__name__} is random, so measurement batches "
                f"need their θ for the inversion loss: {{'y': y, 'theta': {{{', '.join(map(repr, self.operator.theta_keys))}: ...}}}}.")
        theta = {k: theta[k] for k in self.operator.theta_keys} if self.operator.is_random else {}
        z0 = self.training_latent(n, seeds["inversion_z"])

        def error_fn(z):
            x = self.generator(z, training=True)
            return _per_row_sum_of_squares(y - tf.cast(self.operator.forward(x, theta), y.dtype))

        z = optimise_latents(error_fn, z0, self.latent_steps, tf.exp(self.log_step_size), project=self.project,
                             second_order=self.second_order)
        error = tf.reduce_mean(error_fn(z)) / self._entries
        self.track(inversion=error)
        return self.inversion_weight * tf.cast(error, "float32")

    def settings(self):
        return dict(super().settings(), latent_steps=self.latent_steps, inversion_weight=self.inversion_weight,
                    step_size=self.initial_step_size, project=self.project, second_order=self.second_order)

