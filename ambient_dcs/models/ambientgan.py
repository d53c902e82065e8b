"""AmbientGAN: train a GAN when only lossy measurements ``y = f_θ(x)`` of the data exist.

Bora, Price & Dimakis, "AmbientGAN: Generative models from lossy measurements", ICLR 2018.
The discriminator never sees a clean image: it compares real measurements with *simulated*
measurements ``f_θ'(G(z))`` of generated images, with θ' drawn independently every step and the
operator's noise included. If the measurement process is invertible in distribution, the generator
learns the distribution of the clean images. The ``train_step`` follows the keras.io ``wgan_gp.py``
example; :func:`ambient_dcs.train` runs it with checkpoints and resume.

Example:
    >>> import measurements as M
    >>> op = M.PixelDrop(0.9, noise=M.GaussianNoise(0.1))
    >>> gan = AmbientGAN(generator, critic, op, seed=0)     # WGAN-GP, 5 critic steps, z ~ U[-1, 1]
    >>> gan.compile()                                       # Adam(2e-4, 0.5, 0.9999) for G and D
    >>> ambient_dcs.train(gan, measurement_batches, steps=2000, out_dir="runs/gan")
    >>> images = gan.sample(64, seed=0)                     # NumPy (64, 28, 28, 1) in [0, 1]
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

import measurements
from measurements.validation import check_int

from ..training.distribute import replica_seed
from .base import LATENT_DISTRIBUTIONS, GenerativeTrainer
from .losses import GAN_LOSSES, gradient_penalty

__all__ = ["AmbientGAN", "MODES", "LOSSES", "LATENT_DISTRIBUTIONS"]

MODES = ("ambient", "ignore", "unmeasure")
LOSSES = tuple(GAN_LOSSES)


def _batch_size(t):
    return t.shape[0] if t.shape[0] is not None else tf.shape(t)[0]


def _shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


@keras.saving.register_keras_serializable(package="ambient_dcs")
class AmbientGAN(GenerativeTrainer):
    """A GAN trained from measurements through a known measurement operator.

    Args:
        generator: a Keras model ``z (N, latent_dim) → images (N, H, W, C)`` in [0, 1].
        discriminator: a Keras model scoring what ``mode`` shows it: measurements
            ``(N, *measurement_shape)``, or ``[flatten(y), operator.theta_features(θ)]`` for an
            operator that exposes θ (``operator.exposes_theta``; the real θ for real data, θ' for
            fakes), or images in the ``ignore`` / ``unmeasure`` modes. Linear output (scores or
            logits, no sigmoid), ``(N, 1)`` or ``(N,)``.
        operator: a :class:`measurements.Operator` (any operator of the library or a subclass).
        mode: what the discriminator compares (AmbientGAN §4; ``arch.get_lossy`` in the original):
            ``"ambient"``: ``f_θ(x)`` (or the given ``y``) against ``f_θ'(G(z))``; ``"ignore"`` (the
            original's ``baseline``): the real measurements against the unmeasured ``G(z)``, for
            measurements shaped like images; ``"unmeasure"``: images inverted beforehand by a
            classical method (:func:`~ambient_dcs.data.unmeasure_dataset`) against ``G(z)``.
        loss: a name of :data:`ambient_dcs.models.losses.GAN_LOSSES`: ``"wgan-gp"`` (the paper's
            MNIST setting), ``"dcgan"`` (= ``"non-saturating"``, its CelebA setting), ``"lsgan"`` or
            ``"hinge"``.
        d_steps: discriminator updates per generator update (5 for WGAN-GP on MNIST).
        latent_dim: size of ``z``; defaults to ``generator.input_shape[-1]``.
        latent_distribution: ``"uniform"`` (U[−1, 1], the original's default) or ``"normal"``.
        gp_weight: λ of the gradient penalty (``wgan-gp`` only).
        seed: seed of the model's random stream (z, θ, θ', measurement noise, α; saved in
            checkpoints). The same seed, initial weights and data order give the same run.
        **kwargs: ``keras.Model`` arguments (``name``).

    Data (one element of the training dataset):
        * clean images ``(N, H, W, C)``: the real measurements are simulated, ``y = f_θ(x)`` with a
          fresh θ and noise every step, as the original code did;
        * ``{"y": y, "theta": {...}}``: measurements the user owns, ``y`` of shape
          ``(N, *operator.measurement_shape(image_shape))``; θ may be left out unless the operator
          exposes it to the discriminator. No clean image is ever needed;
        * in ``mode="unmeasure"``, images inverted by :func:`~ambient_dcs.data.unmeasure_dataset`.

        A ``(data,)`` or ``(data, anything)`` tuple is accepted too; only ``data`` is used.

    One ``train_step`` is ``d_steps`` discriminator updates, then one generator update, all on the
    same real batch (as the original); each update draws a fresh ``z``, θ', measurement noise and
    (WGAN-GP) interpolation ``α``. Under a ``tf.distribute`` strategy the draws are made for the
    global batch (:mod:`ambient_dcs.training.distribute`).

    Raises:
        ValueError: unknown mode / loss / distribution; ``mode="ignore"`` with measurements not
            shaped like images; ``mode="unmeasure"`` with an operator no classical inverse fits;
            a generator or discriminator whose outputs do not fit.

    Attributes:
        generator, discriminator, operator: the three parts (``gan.generator.save("prior.keras")``
            is the prior to use elsewhere; ``gan.save("gan.keras")`` stores the whole trainer).
        image_shape: ``(H, W, C)`` of the generated images.
        measurement_shape: shape of one measurement.
        d_optimizer, g_optimizer: set by :meth:`compile`; both are saved in weight checkpoints.
    """

    OPTIMIZERS = ("g_optimizer", "d_optimizer")
    PARTS = ("generator", "discriminator", "operator")

    def __init__(self, generator, discriminator, operator, mode="ambient", loss="wgan-gp", d_steps=5,
                 latent_dim=None, latent_distribution="uniform", gp_weight=10.0, seed=None, **kwargs):
        if mode not in MODES:
            raise ValueError(f"AmbientGAN: expected mode in {list(MODES)}; received {mode!r}.")
        if loss not in GAN_LOSSES:
            raise ValueError(f"AmbientGAN: expected loss in {list(GAN_LOSSES)}; received {loss!r}.")
        if latent_distribution not in LATENT_DISTRIBUTIONS:
            raise ValueError(f"AmbientGAN: expected latent_distribution in {list(LATENT_DISTRIBUTIONS)}; "
                             f"received {latent_distribution!r}.")
        d_steps = check_int(d_steps, "AmbientGAN", "d_steps", 1)
        if not isinstance(operator, measurements.Operator):
            raise ValueError(f"AmbientGAN: expected operator to be a measurements.Operator; "
                             f"received {type(operator).__name__}.")
        gp_weight = float(gp_weight)
        if not (math.isfinite(gp_weight) and gp_weight >= 0):
            raise ValueError(f"AmbientGAN: expected gp_weight >= 0; received {gp_weight!r}.")
        if latent_dim is None:
            try:
                latent_dim = generator.input_shape[-1]
            except (AttributeError, ValueError):
                latent_dim = None
            if latent_dim is None:
                raise ValueError("AmbientGAN: cannot read the latent size from generator.input_shape; "
                                 "pass latent_dim=.")
        self.gan_loss = GAN_LOSSES[loss]
        names = ("d_loss", "g_loss") + (("gp",) if self.gan_loss.gradient_penalty else ()) + self._extra_metric_names
        super().__init__(seed=seed, metric_names=names, **kwargs)
        self.mode = mode
        self.loss_name = loss
        self.d_steps = int(d_steps)
        self.latent_dim = int(latent_dim)
        self.latent_distribution = latent_distribution
        self.gp_weight = gp_weight
        self.generator = generator
        self.discriminator = discriminator
        self.operator = operator

        # Build the three parts eagerly (no variable is ever created inside the traced step) and
        # read the shapes from real outputs rather than trusting declarations.
        x0 = generator(tf.zeros((2, self.latent_dim)), training=False)
        if x0.shape.rank != 4:
            raise ValueError(f"AmbientGAN: the generator must return images (N, H, W, C); it returned "
                             f"shape {_shape_str(x0.shape)} for z of shape (2, {self.latent_dim}).")
        self.image_shape = tuple(int(d) for d in x0.shape[1:])
        x0 = tf.fill((2, *self.image_shape), 0.5)
        theta0 = operator.sample_theta(2, seed=0, image_shape=self.image_shape)
        y0 = operator(x0, theta=theta0, seed=0)
        self.measurement_shape = tuple(int(d) for d in y0.shape[1:])
        self.uses_theta = mode == "ambient" and bool(operator.exposes_theta)
        if mode == "ignore" and self.measurement_shape != self.image_shape:
            raise ValueError(
                f"AmbientGAN: mode='ignore' compares real measurements with unmeasured generated images, "
                f"so a measurement must have the shape of an image; {type(operator).__name__} measures "
                f"images of shape {self.image_shape} as shape {self.measurement_shape}. Use mode='ambient'.")
        if mode == "unmeasure" and not measurements.available_methods(operator):
            raise ValueError(
                f"AmbientGAN: mode='unmeasure' needs a classical inverse of the operator, and none fits "
                f"{type(operator).__name__} (measurements.available_methods is empty). Use mode='ambient'.")
        if self.uses_theta:
            features = operator.theta_features(theta0)
            if features is None:
                raise ValueError(f"AmbientGAN: {type(operator).__name__}.exposes_theta is True but "
                                 f"theta_features returned None.")
            self.theta_dim = int(np.prod(features.shape[1:]))
            d_in = self._d_input(y0, theta0)
        else:
            self.theta_dim = 0
            d_in = y0 if mode == "ambient" else x0
        out = discriminator(d_in, training=False)
        if isinstance(out, (list, tuple)) or out.shape.rank not in (1, 2) or (
                out.shape.rank == 2 and out.shape[-1] != 1):
            raise ValueError(f"AmbientGAN: the discriminator must return one score per example, (N, 1) or "
                             f"(N,); it returned {out!r}.")
        self.built = True

    # ------------------------------------------------------------------ the contract
    def settings(self):
        return {"mode": self.mode, "loss": self.loss_name, "d_steps": self.d_steps, "latent_dim": self.latent_dim,
                "latent_distribution": self.latent_distribution, "gp_weight": self.gp_weight}

    def default_optimizer(self, name):
        # The MNIST WGAN-GP scripts of the original: Adam(2e-4, beta1 0.5, beta2 0.9999), for G and D.
        return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.9999)

    def optimizer_variables(self, name):
        net = self.generator if name == "g_optimizer" else self.discriminator
        return net.trainable_variables

    # ------------------------------------------------------------------ pieces of the step
    def _sample_theta(self, n, seed):
        """θ for a training step: this replica's rows of a draw for the global batch."""
        return self.global_draw(lambda rows: self.operator.sample_theta(rows, seed=seed, image_shape=self.image_shape), n)

    def _d_input(self, y, theta):
        """What D sees for measurements ``y`` taken with θ."""
        if not self.uses_theta:
            return y
        m = int(np.prod(self.measurement_shape))
        features = tf.cast(self.operator.theta_features(theta), y.dtype)
        return [tf.reshape(y, [-1, m]), tf.reshape(features, [-1, self.theta_dim])]

    def _unpack(self, data):
        """Returns ``(x, y, theta)``: clean images or (measurements, θ or None)."""
        if isinstance(data, (tuple, list)):
            data = data[0]
        if isinstance(data, dict):
            if "y" not in data:
                raise ValueError(f"AmbientGAN: a measurement batch is a dict {{'y': y, 'theta': {{...}}}}; "
                                 f"received keys {sorted(data)}.")
            if self.mode == "unmeasure":
                raise ValueError("AmbientGAN: mode='unmeasure' trains on images inverted beforehand; convert "
                                 "the measurements with unmeasure_dataset(operator, y, theta) and fit on those.")
            theta = data.get("theta") or None
            return None, data["y"], theta
        return data, None, None

    def _check_shape(self, t, expected, what):
        got = tuple(t.shape[1:])
        if t.shape.rank != len(expected) + 1 or any(g is not None and g != e for g, e in zip(got, expected)):
            raise ValueError(f"AmbientGAN: expected {what} of shape (N, {', '.join(map(str, expected))}); "
                             f"received shape {_shape_str(t.shape)}.")

    def _real_input(self, x, y, theta, seeds):
        """D's input for the real batch, its size, and the real measurements and θ behind it
        (``seeds["real_theta"]``, ``seeds["real_noise"]`` simulate the measurement of clean images).

        Returns ``(d_input, n, y, theta)``; ``y`` and ``theta`` are ``None`` in ``unmeasure`` mode,
        and ``theta`` is ``None`` when a measurement batch came without it.
        """
        dtype = self.generator.compute_dtype if hasattr(self.generator, "compute_dtype") else "float32"
        if self.mode == "unmeasure":
            x = tf.cast(x, dtype)
            self._check_shape(x, self.image_shape, "images inverted by unmeasure_dataset")
            return x, _batch_size(x), None, None
        if x is not None:  # clean images: simulate the instrument, fresh θ and noise every step
            x = tf.cast(x, dtype)
            self._check_shape(x, self.image_shape, "clean images (the generator's output shape)")
            n = _batch_size(x)
            theta = self._sample_theta(n, seeds["real_theta"])
            y = self.operator(x, theta=theta, seed=replica_seed(seeds["real_noise"]))
        else:
            y = tf.cast(y, dtype)
            self._check_shape(y, self.measurement_shape, "measurements y")
            n = _batch_size(y)
            if self.uses_theta:
                if theta is None:
                    raise ValueError(
                        f"AmbientGAN: {type(self.operator).__name__} exposes θ to the discriminator, so "
                        f"measurement batches need their θ: {{'y': y, 'theta': {{{', '.join(map(repr, self.operator.theta_keys))}: ...}}}}.")
                missing = [k for k in self.operator.theta_keys if k not in theta]
                if missing:
                    raise ValueError(f"AmbientGAN: theta of the measurement batch is missing key(s) {missing}; "
                                     f"expected {list(self.operator.theta_keys)}, received {sorted(theta)}.")
        if self.mode == "ambient":
            return self._d_input(y, theta), n, y, theta
        return y, n, y, theta  # ignore: measurements shaped like images

    def _fake_input(self, n, seeds, update, training):
        """D's input for ``n`` generated samples: measured (ambient) or not, with the seeds of
        ``update`` (``"critic{i}"`` or ``"generator"``): its ``_z``, ``_theta`` and ``_noise``."""
        x = self.generator(self.training_latent(n, seeds[f"{update}_z"]), training=training)
        if self.mode != "ambient":
            return x
        theta = self._sample_theta(n, seeds[f"{update}_theta"])
        y = self.operator(x, theta=theta, seed=replica_seed(seeds[f"{update}_noise"]))  # noise included
        return self._d_input(y, theta)

    def _scores(self, inputs, training):
        out = self.discriminator(inputs, training=training)
        return tf.reshape(tf.cast(out, "float32"), [-1])

    def _gradient_penalty(self, real, fake, n, seed):
        """WGAN-GP penalty at interpolates of real and fake discriminator inputs, α ~ U[0, 1] per example.

        The interpolates are measurements (ambient mode), as in the original; with θ exposed, the θ
        features are interpolated with the same α and the norm is over both inputs (the original
        appended the angles to the measurement vector). D runs with ``training=False`` here, as the
        original.
        """
        alpha = self.global_draw(lambda rows: tf.random.stateless_uniform(tf.reshape(rows, [1]) if tf.is_tensor(rows)
                                                                          else [rows], seed), n)
        return gradient_penalty(lambda inputs: self._scores(inputs, training=False), real, fake, alpha)

    # ------------------------------------------------------------------ the step
    def _seed_names(self):
        """What a step draws, in the order its seeds are split from the stream: the real batch's θ and
        noise, then per critic update its ``z``, θ', noise and α, then the generator update's."""
        critic = [f"critic{i}_{draw}" for i in range(self.d_steps) for draw in ("z", "theta", "noise", "alpha")]
        return ("real_theta", "real_noise", *critic, "generator_z", "generator_theta", "generator_noise",
                *self._extra_draws)

    def train_step(self, data):
        self._require_compiled()
        x, y, theta = self._unpack(data)
        seeds = self.step_seeds(*self._seed_names())
        real, n, y, theta = self._real_input(x, y, theta, seeds)
        for i in range(self.d_steps):  # d_steps critic updates on the same real batch, fresh z, θ', noise, α
            fake = self._fake_input(n, seeds, f"critic{i}", training=True)

            def critic_loss():
                d_loss = self.gan_loss.discriminator(self._scores(real, training=True), self._scores(fake, training=True))
                if not self.gan_loss.gradient_penalty:
                    return d_loss, {}
                gp = self._gradient_penalty(real, fake, n, seeds[f"critic{i}_alpha"])
                return d_loss + self.gp_weight * gp, {"gp": gp}

            d_loss, penalty = self.apply_loss("d_optimizer", critic_loss)
            self.track(d_loss=d_loss, **penalty)

        def generator_loss():
            fake = self._fake_input(n, seeds, "generator", training=True)
            g_loss = self.gan_loss.generator(self._scores(fake, training=True))
            return g_loss + self._extra_generator_loss(y, theta, n, seeds), g_loss

        _, g_loss = self.apply_loss("g_optimizer", generator_loss)
        return self.track(g_loss=g_loss)

    #: Draws the generator update adds for :meth:`_extra_generator_loss` (seed names), and the metrics it tracks.
    _extra_draws = ()
    _extra_metric_names = ()

    def _extra_generator_loss(self, y, theta, n, seeds):
        """A term added to the generator loss, from the real measurements ``y`` (θ) of the step
        (``seeds``: the step's, by name).

        Zero here; :class:`ambient_dcs.models.inversion.AmbientGANWithInversion` adds the
        measurement error of its learned latent optimisation. It must track its own metrics.
        """
        return 0.0

