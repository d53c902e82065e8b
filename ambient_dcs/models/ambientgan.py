"""AmbientGAN: train a GAN when only lossy measurements ``y = f_θ(x)`` of the data exist.

Bora, Price & Dimakis, "AmbientGAN: Generative models from lossy measurements", ICLR 2018.
The discriminator never sees a clean image: it compares real measurements with *simulated*
measurements ``f_θ'(G(z))`` of generated images, with θ' drawn independently every step and the
operator's noise included. If the measurement process is invertible in distribution, the generator
learns the distribution of the clean images.

:class:`AmbientGAN` is a ``keras.Model`` with a custom ``train_step`` (in the style of the keras.io
``wgan_gp.py`` / ``dcgan_overriding_train_step.py`` examples), so ``model.fit(dataset, callbacks=…)``
gives progress bars, TensorBoard, checkpoints and resume (see :mod:`ambient_dcs.training.callbacks`).

Example:
    >>> import measurements as M
    >>> from ambient_dcs.models import AmbientGAN
    >>> op = M.PixelDrop(0.9, noise=M.GaussianNoise(0.1))
    >>> gan = AmbientGAN(generator, critic, op, seed=0)     # WGAN-GP, 5 critic steps, z ~ U[-1, 1]
    >>> gan.compile()                                       # Adam(2e-4, 0.5, 0.9999) for G and D
    >>> gan.fit(tf.data.Dataset.from_tensor_slices(x_train).batch(64), epochs=10)
    >>> images = gan.sample(64, seed=0)                     # NumPy (64, 28, 28, 1) in [0, 1]

Input regimes (what one element of the dataset given to ``fit`` is):

1. **Clean images** ``x`` (a tensor ``(N, H, W, C)``): real measurements are simulated on the fly,
   ``y = f_θ(x)`` with a fresh θ and fresh noise every step, as the original code did. Convenient for
   experiments on datasets that have clean images.
2. **Measurements the user owns**: a dict ``{"y": y, "theta": {...}}`` with ``y`` of shape
   ``(N, *operator.measurement_shape(image_shape))`` and θ keyed as ``operator.theta_keys``. θ may
   be omitted (or ``{}``) for deterministic operators, and also for random ones unless the operator
   exposes θ to the discriminator (``operator.exposes_theta``): the real θ is only ever used as a
   discriminator input. Training never needs clean images in this regime. Use
   :func:`measure_dataset` to produce such data from images, or load your instrument's records.

In ``mode="unmeasure"`` the batches are images already inverted by :func:`unmeasure_dataset`.
A ``(data,)`` or ``(data, anything)`` tuple is accepted too; only ``data`` is used.

Modes (AmbientGAN §4 baselines; ``arch.get_lossy`` in the original):

* ``"ambient"``: D sees ``f_θ(x)`` (or the given ``y``) against ``f_θ'(G(z))``.
* ``"ignore"`` (the original's ``baseline``): D sees the real measurements against the unmeasured
  ``G(z)``. Only defined when a measurement has the shape of an image.
* ``"unmeasure"``: the measurements are first inverted with a classical method
  (:func:`unmeasure_dataset`, NumPy/scikit-image, done once for the whole training set) and an
  ordinary GAN is trained on the result: D sees the inverted images against ``G(z)``.

Losses: ``"wgan-gp"`` (the MNIST setting of the paper), ``"dcgan"`` (sigmoid cross-entropy,
non-saturating generator loss; the CelebA setting), ``"lsgan"`` (least squares, Mao et al. 2017).
The discriminator must end in a linear layer (scores / logits, no sigmoid), returning ``(N, 1)`` or
``(N,)``.

One ``train_step`` = ``d_steps`` discriminator updates, then one generator update, all on the same
real batch (as the original, where the ``d_iters`` critic updates of an iteration reuse one feed
dict). Unlike the original, which also reused one ``z`` and one θ' within an iteration, each update
here draws a fresh ``z``, θ', measurement noise and (WGAN-GP) interpolation ``α``; the measurement
of a real image (regime 1) is drawn once per step.

Discriminator inputs: ``D(y)``; when ``mode="ambient"`` and ``operator.exposes_theta``,
``D([flatten(y), operator.theta_features(θ)])`` (the real θ for real data, θ' for fakes), the
convention of :mod:`ambient_dcs.networks`.

Randomness: one ``keras.random.SeedGenerator(seed)`` of the trainer draws ``z``, α, and the seeds
passed to the operator for θ, θ' and the noise, so ``seed`` fixes the run whatever the operator's
own seed (stateless draws differ between ``jit_compile=True`` and ``False``). Its state is a model
variable, saved in checkpoints, so a resumed run continues the same stream.

Several devices: build and compile the trainer inside ``strategy.scope()`` of a ``tf.distribute``
strategy and ``fit`` on global batches; losses are scaled per replica and ``z``, θ, α are drawn
for the global batch (:mod:`ambient_dcs.training.distribute`), so the same seed gives the same first step
on one device or two (operator noise aside).

Saving: ``gan.generator.save("prior.keras")`` is the prior to use elsewhere (a plain Keras model).
``gan.save("gan.keras")`` stores the whole trainer (parts, settings, both optimizers and their
state); load it with ``keras.saving.load_model`` after ``import ambient_dcs``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

import measurements

from ..training.distribute import replica_seed, scale_loss
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
        discriminator: a Keras model scoring what ``mode`` shows it (see the module docstring):
            measurements ``(N, *measurement_shape)``, or ``[flat_y, theta_features]`` for an
            operator that exposes θ, or images in the ``ignore`` / ``unmeasure`` modes. Linear
            output, one score per example.
        operator: a :class:`measurements.Operator` (any operator of the library or a subclass).
        mode: ``"ambient"``, ``"ignore"`` or ``"unmeasure"``.
        loss: a name of :data:`ambient_dcs.models.losses.GAN_LOSSES`: ``"wgan-gp"``, ``"dcgan"``
            (= ``"non-saturating"``), ``"lsgan"`` or ``"hinge"``.
        d_steps: discriminator updates per generator update (5 for WGAN-GP on MNIST).
        latent_dim: size of ``z``; defaults to ``generator.input_shape[-1]``.
        latent_distribution: ``"uniform"`` (U[−1, 1], the original's default) or ``"normal"``.
        gp_weight: λ of the gradient penalty (``wgan-gp`` only).
        seed: seed of the model's random stream (z, θ, θ', measurement noise, α). The same seed,
            the same initial weights and the same data order give the same run.
        **kwargs: ``keras.Model`` arguments (``name``).

    Raises:
        ValueError: unknown mode / loss / distribution; ``mode="ignore"`` with measurements not
            shaped like images; ``mode="unmeasure"`` with an operator no classical inverse fits;
            a generator or discriminator whose outputs do not fit.

    Attributes:
        generator, discriminator, operator: the three parts.
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
        if isinstance(d_steps, bool) or not isinstance(d_steps, (int, np.integer)) or d_steps < 1:
            raise ValueError(f"AmbientGAN: expected d_steps to be an integer >= 1; received {d_steps!r}.")
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
        """D's input for the real batch, its size, and the real measurements and θ behind it.

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
            theta = self._sample_theta(n, seeds[0])
            y = self.operator(x, theta=theta, seed=replica_seed(seeds[1]))
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

    def _fake_input(self, n, seeds, training):
        """D's input for ``n`` generated samples: measured (ambient) or not."""
        x = self.generator(self.training_latent(n, seeds[0]), training=training)
        if self.mode != "ambient":
            return x
        theta = self._sample_theta(n, seeds[1])
        y = self.operator(x, theta=theta, seed=replica_seed(seeds[2]))  # op(...), not op.forward: noise included
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
    def train_step(self, data):
        self._require_compiled()
        x, y, theta = self._unpack(data)
        seeds = self.step_seeds(2 + 4 * self.d_steps + 3 + self._extra_seeds)
        real, n, y, theta = self._real_input(x, y, theta, seeds[0:2])
        d_vars, g_vars = self.optimizer_variables("d_optimizer"), self.optimizer_variables("g_optimizer")
        for i in range(self.d_steps):  # d_steps critic updates on the same real batch, fresh z, θ', noise, α
            s = seeds[2 + 4 * i: 6 + 4 * i]
            fake = self._fake_input(n, s[:3], training=True)
            with tf.GradientTape() as tape:
                d_loss = self.gan_loss.discriminator(self._scores(real, training=True), self._scores(fake, training=True))
                if self.gan_loss.gradient_penalty:
                    gp = self._gradient_penalty(real, fake, n, s[3])
                    d_loss = d_loss + self.gp_weight * gp
                scaled = scale_loss(d_loss, self.d_optimizer)  # inside the tape, so it is differentiated
            self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, d_vars), d_vars))
            self.track(d_loss=d_loss, **({"gp": gp} if self.gan_loss.gradient_penalty else {}))
        g_seeds = seeds[2 + 4 * self.d_steps:]
        with tf.GradientTape() as tape:
            fake = self._fake_input(n, g_seeds[:3], training=True)
            g_loss = self.gan_loss.generator(self._scores(fake, training=True))
            total = g_loss + self._extra_generator_loss(y, theta, n, g_seeds[3:])
            scaled = scale_loss(total, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, g_vars), g_vars))
        return self.track(g_loss=g_loss)

    #: Seeds the generator step draws for :meth:`_extra_generator_loss`, and the metrics it tracks.
    _extra_seeds = 0
    _extra_metric_names = ()

    def _extra_generator_loss(self, y, theta, n, seeds):
        """A term added to the generator loss, from the real measurements ``y`` (θ) of the step.

        Zero here; :class:`ambient_dcs.models.inversion.AmbientGANWithInversion` adds the
        measurement error of its learned latent optimisation. It must track its own metrics.
        """
        return 0.0

