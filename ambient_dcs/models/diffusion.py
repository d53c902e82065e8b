r"""Diffusion priors in EDM's σ-parametrisation, trained on clean images or from masked measurements only.

:class:`DiffusionPrior` is EDM's denoiser (Karras et al., NeurIPS 2022; the preconditioning and the
samplers are in :mod:`ambient_dcs.sampling.edm`) trained on clean images with
``λ(σ)·‖D(x + σn; σ) − x‖²``, ``ln σ ~ N(P_mean, P_std²)`` and ``λ(σ) = (σ² + σ_d²) / (σ σ_d)²``.

:class:`AmbientDiffusion` (Daras et al., NeurIPS 2023, arXiv 2305.19256) learns from masked data
``y = A ⊙ x`` only. Each step corrupts further: ``Ã = A ⊙ B``, where B drops each kept pixel with
probability δ; the network sees ``Ã ⊙ x_σ`` and the mask ``Ã`` and is trained to predict the pixels
``A`` kept (:func:`~ambient_dcs.models.losses.ambient_loss`). Since the network cannot tell which of
``A``'s pixels ``B`` removed, minimising this loss gives ``E[x | Ã ⊙ x_σ, Ã]`` on every pixel. A pixel
the network does not see is infinitely noisy for the preconditioning: there ``c_skip = 0`` and
``c_out = σ_d`` (EDM's σ → ∞ limits; with the σ-dependent ones the skip connection would pass the
blank and ``c_out → 0`` would forbid correcting it at small σ), and its weight is ``1/σ_d²`` where a
seen pixel's is ``λ(σ) = 1/c_out(σ)²``. With Gaussian measurement noise of std σ_y (pixel units),
only ``σ ≥ σ_y`` is trained (the measurement noise is part of ``x_σ``'s) and the loss is taken on the
pixels ``B`` removed (``A ⊙ (1 − B)``), whose noise the input has not seen. Sampling uses one fixed
``Ã`` per sample for the whole trajectory (the paper's fixed-mask sampler).

Example:
    >>> from ambient_dcs.networks import unet
    >>> prior = DiffusionPrior(unet((28, 28, 1), channels=(32, 64), condition_channels=1, seed=0), seed=0)
    >>> prior.compile()                                    # Adam(1e-3)
    >>> ambient_dcs.train(prior, images_dataset, steps=2000, out_dir="runs/diffusion")
    >>> digits = prior.sample(64, steps=18, sampler="heun", seed=0)    # (64, 28, 28, 1) in [0, 1]
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

import measurements

from ..sampling.edm import DATA_CENTRE, SAMPLERS, edm_scalings, noise_levels, per_example, run_sampler, sampler_noise
from .base import GenerativeTrainer, _check_float
from .losses import ambient_loss, denoising_loss

__all__ = ["DiffusionPrior", "AmbientDiffusion", "measurement_batch"]


def measurement_batch(data, owner):
    """``(y, θ)`` of a training batch ``{"y": y, "theta": {...}}`` (or a tuple starting with one)."""
    if isinstance(data, (tuple, list)):
        data = data[0]
    if not isinstance(data, dict) or "y" not in data:
        raise ValueError(f"{owner}: training batches are {{'y': y, 'theta': {{...}}}} measurements; received "
                         f"{type(data).__name__}.")
    return tf.cast(data["y"], tf.float32), data.get("theta") or {}


@keras.saving.register_keras_serializable(package="ambient_dcs")
class DiffusionPrior(GenerativeTrainer):
    """A denoiser ``D(x_σ; σ) ≈ E[x | x_σ]`` trained on clean images (the oracle prior), and its samplers.

    Args:
        network: a Keras model ``[x (N, H, W, C + K), c_noise (N,)] → (N, H, W, C)`` (e.g.
            :func:`~ambient_dcs.networks.unet`); ``K`` condition channels (a mask, all ones here).
        sigma_data: σ_d of EDM's preconditioning (the scale of the centred data).
        p_mean, p_std: the training distribution of ``ln σ``.
        sigma_min, sigma_max: the sampling range (pixel units; images in [0, 1]).
        seed: seed of the training stream (σ, noise).
        **kwargs: ``keras.Model`` arguments (``name``).

    Data: batches of clean images ``(N, H, W, C)`` in [0, 1] (or ``(images, anything)`` tuples).
    """

    OPTIMIZERS = ("optimizer",)
    PARTS = ("network",)
    METRICS = ("loss",)

    def __init__(self, network, sigma_data=0.5, p_mean=-1.2, p_std=1.2, sigma_min=0.002, sigma_max=40.0, seed=None,
                 **kwargs):
        super().__init__(seed=seed, metric_names=self.METRICS, **kwargs)
        owner = type(self).__name__
        self.sigma_data = _check_float(sigma_data, owner, "sigma_data", positive=True)
        self.p_mean = float(p_mean)
        if not math.isfinite(self.p_mean):
            raise ValueError(f"{owner}: expected p_mean to be a finite number; received {p_mean!r}.")
        self.p_std = _check_float(p_std, owner, "p_std", positive=True)
        self.sigma_min = _check_float(sigma_min, owner, "sigma_min", positive=True)
        self.sigma_max = _check_float(sigma_max, owner, "sigma_max", positive=True)
        if self.sigma_max <= self.sigma_min:
            raise ValueError(f"{owner}: expected sigma_max > sigma_min; received {sigma_max} and {sigma_min}.")
        inputs = network.inputs if isinstance(network.inputs, (list, tuple)) else [network.inputs]
        if len(inputs) != 2 or len(network.output_shape) != 4:
            raise ValueError(f"{owner}: expected a network [x (N, H, W, C + K), c_noise (N,)] → (N, H, W, C), such as "
                             f"ambient_dcs.networks.unet; received inputs {[tuple(i.shape) for i in inputs]} and output "
                             f"{network.output_shape}.")
        self.network = network
        self.image_shape = tuple(int(d) for d in network.output_shape[1:])
        self.condition_channels = int(inputs[0].shape[-1]) - self.image_shape[-1]
        if self.condition_channels < 0:
            raise ValueError(f"{owner}: the network's input has fewer channels ({inputs[0].shape[-1]}) than its output "
                             f"({self.image_shape[-1]}).")
        self.built = True

    # ------------------------------------------------------------------ the contract
    def settings(self):
        return {"sigma_data": self.sigma_data, "p_mean": self.p_mean, "p_std": self.p_std,
                "sigma_min": self.sigma_min, "sigma_max": self.sigma_max}

    def default_optimizer(self, name):
        return keras.optimizers.Adam(1e-3)

    def optimizer_variables(self, name):
        return self.network.trainable_variables

    # ------------------------------------------------------------------ the denoiser
    def denoise(self, x, sigma, condition=None, training=False):
        """``D(x; σ)``: the estimate of the clean image from ``x`` at noise level ``sigma``.

        Args:
            x: noisy images ``(N, H, W, C)`` (pixel units; any range).
            sigma: a scalar or ``(N,)`` noise level(s).
            condition: the network's condition channels ``(N, H, W, K)`` (default: ones, no mask).
            training: passed to the network.

        Returns:
            ``(N, H, W, C)``: the denoised images.
        """
        x = tf.cast(x, tf.float32)
        n = tf.shape(x)[0]
        sigma = per_example(sigma, n)
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma, self.sigma_data)
        centred = x - DATA_CENTRE
        visible = self._visible(condition)
        if visible is not None:
            # A pixel the network does not see is infinitely noisy: no skip connection, EDM's σ → ∞
            # output scale σ_d (else c_out → 0 at small σ and the pixel could not be predicted).
            centred = visible * centred
            c_skip = visible * c_skip
            c_out = visible * c_out + (1.0 - visible) * self.sigma_data
        inputs = c_in * centred
        if self.condition_channels:
            if condition is None:
                condition = tf.ones(tf.concat([tf.shape(x)[:3], [self.condition_channels]], 0), x.dtype)
            inputs = tf.concat([inputs, tf.cast(condition, x.dtype)], axis=-1)
        out = tf.cast(self.network([inputs, tf.reshape(c_noise, [-1])], training=training), tf.float32)
        return DATA_CENTRE + c_skip * centred + c_out * out

    def denoiser(self, n, seed=None):
        """``(x, σ) → D(x; σ)`` for a batch of ``n`` (the condition fixed per row for the whole
        trajectory; none for a prior trained on clean images)."""
        return lambda x, sigma: self.denoise(x, sigma)

    def _visible(self, condition):
        """The pixels the network sees ``(N, H, W, C)`` in {0, 1}, or ``None``: all of them."""
        return None

    def _train_sigmas(self, n, seed):
        return tf.exp(self.p_mean + self.p_std * self.global_draw(lambda rows: tf.random.stateless_normal(
            tf.reshape(rows, [1]) if tf.is_tensor(rows) else [rows], seed), n))

    def _noise(self, shape_like, seed):
        n = tf.shape(shape_like)[0]
        return self.global_draw(lambda rows: tf.random.stateless_normal(
            tf.concat([tf.reshape(rows, [1]), tf.shape(shape_like)[1:]], 0), seed), n)

    def weight(self, sigma):
        """EDM's loss weight ``λ(σ) = (σ² + σ_d²) / (σ σ_d)²``."""
        return (tf.square(sigma) + self.sigma_data ** 2) / tf.square(sigma * self.sigma_data)

    def train_step(self, data):
        self._require_compiled()
        x = tf.cast(data[0] if isinstance(data, (tuple, list)) else data, tf.float32)
        seeds = self.step_seeds("sigma", "noise")
        return self.track(loss=self._denoising_step(x, seeds["sigma"], seeds["noise"]))

    def _denoising_step(self, x, sigma_seed, noise_seed):
        """One optimizer step of EDM's denoising loss on clean images ``x``; returns the loss."""
        sigma = per_example(self._train_sigmas(tf.shape(x)[0], sigma_seed), tf.shape(x)[0])
        noisy = x + sigma * self._noise(x, noise_seed)
        return self.apply_loss("optimizer", lambda: denoising_loss(
            lambda x, s: self.denoise(x, s, training=True), x, noisy, sigma, self.weight(sigma)))

    # ------------------------------------------------------------------ sampling
    def sample(self, n, steps=18, sampler="heun", seed=None, batch_size=256):
        """``n`` samples as a NumPy array ``(n, H, W, C)`` clipped to [0, 1].

        Args:
            n: number of samples.
            steps: noise levels of the sampler (EDM: 18 for CIFAR-10 with Heun).
            sampler: ``"heun"`` (deterministic given the start) or ``"stochastic"``.
            seed: seed of the starting noise (and of the stochastic steps); ``None``: a fresh draw.
            batch_size: samples per graph call.
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"{type(self).__name__}.sample: expected sampler in {list(SAMPLERS)}; received {sampler!r}.")
        rng = np.random.default_rng(seed)
        sigmas = noise_levels(steps, self.sigma_min, self.sigma_max)
        graphs = self.__dict__.setdefault("_sample_graphs", {})  # one traced sampler per (steps, sampler)
        if (steps, sampler) not in graphs:
            # No AutoGraph: the sampler's loop is an explicit tf.while_loop (and AutoGraph cannot
            # parse a lambda that shares its line with others).
            graphs[(steps, sampler)] = tf.function(lambda start, noise, mask_seed: run_sampler(
                self.denoiser(tf.shape(start)[0], seed=mask_seed), start, sigmas, sampler, noise), autograph=False)
        graph = graphs[(steps, sampler)]
        out = []
        for lo in range(0, int(n), batch_size):
            b = min(batch_size, int(n) - lo)
            start, noise = sampler_noise(rng, (b, *self.image_shape), sigmas, steps if sampler == "stochastic" else 1)
            out.append(np.asarray(graph(tf.constant(start), tf.constant(noise),
                                        tf.constant(rng.integers(2**31, size=2), tf.int64))))
        return np.clip(np.concatenate(out), 0.0, 1.0) if out else np.zeros((0, *self.image_shape), np.float32)

    def call(self, x, training=False):
        """``D(x; σ_min)`` (``model(x)`` denoises lightly; use :meth:`denoise` for a given σ)."""
        return self.denoise(x, self.sigma_min, training=training)


@keras.saving.register_keras_serializable(package="ambient_dcs")
class AmbientDiffusion(DiffusionPrior):
    """A diffusion prior learned from masked measurements only (Ambient Diffusion, further corruption).

    Args:
        network: as :class:`DiffusionPrior`, with as many condition channels as image channels
            (``unet(..., condition_channels=C)``): the network sees the mask ``Ã``.
        operator: a masking operator (``operator.is_mask``: ``PixelDrop``, ``RowDrop``, ``ColumnDrop``,
            ``BlockDrop``, ``KeepPatch``, ``Inpainting`` or a user's operator that declares itself a
            mask), with no noise or Gaussian noise.
        delta: probability that the further corruption drops a kept pixel (the paper's δ).
        sigma_data, p_mean, p_std, sigma_min, sigma_max, seed: as :class:`DiffusionPrior`.

    Data: ``{"y": y, "theta": {...}}`` batches (the measurements and their θ), as AmbientGAN's.
    """

    PARTS = ("network", "operator")

    def __init__(self, network, operator, delta=0.1, sigma_data=0.5, p_mean=-1.2, p_std=1.2, sigma_min=0.002,
                 sigma_max=40.0, seed=None, **kwargs):
        owner = type(self).__name__
        if not isinstance(operator, measurements.Operator) or not operator.is_mask:
            raise ValueError(f"{owner}: expected a masking operator (operator.is_mask: PixelDrop, RowDrop, ColumnDrop, "
                             f"BlockDrop, KeepPatch, Inpainting, or an operator declaring is_mask = True); received "
                             f"{type(operator).__name__}. For other linear operators with Gaussian noise, learn the "
                             f"prior by expectation-maximisation with posterior sampling.")
        self.measurement_std = measurements.noise_std_of(operator)
        super().__init__(network, sigma_data=sigma_data, p_mean=p_mean, p_std=p_std, sigma_min=sigma_min,
                         sigma_max=sigma_max, seed=seed, **kwargs)
        self.delta = _check_float(delta, owner, "delta")
        if not 0.0 <= self.delta < 1.0:
            raise ValueError(f"{owner}: expected 0 <= delta < 1; received {delta!r}.")
        if self.condition_channels != self.image_shape[-1]:
            raise ValueError(f"{owner}: the network must take the mask as {self.image_shape[-1]} condition channel(s) "
                             f"(unet(..., condition_channels={self.image_shape[-1]})); it takes "
                             f"{self.condition_channels}.")
        self.operator = operator
        operator.ensure_built(self.image_shape)

    def settings(self):
        return {**super().settings(), "delta": self.delta}

    def _visible(self, condition):
        return None if condition is None else tf.cast(condition, tf.float32)

    def pixel_weight(self, sigma, visible):
        """The loss weight per pixel: ``λ(σ) = 1/c_out(σ)²`` where the network sees the pixel, ``1/σ_d²``
        where it does not (its output scale there; the weight does not change the minimiser, only
        how the errors of different σ add up — EDM's unit-variance target)."""
        return visible * self.weight(sigma) + (1.0 - visible) / self.sigma_data ** 2

    def _kept(self, theta):
        return tf.cast(self.operator.observed(theta, self.image_shape), tf.float32)

    def _further(self, kept, seed):
        u = self.global_draw(lambda rows: tf.random.stateless_uniform(
            tf.concat([tf.reshape(rows, [1]), tf.shape(kept)[1:]], 0), seed), tf.shape(kept)[0])
        return kept * tf.cast(u >= self.delta, tf.float32)

    def train_step(self, data):
        self._require_compiled()
        y, theta = measurement_batch(data, type(self).__name__)
        n = tf.shape(y)[0]
        kept = self._kept(theta)
        x_observed = tf.cast(self.operator.pseudo_inverse(y, theta), tf.float32) * kept
        seeds = self.step_seeds("sigma", "further", "noise")
        # The measurement noise in image units (a rescaling mask divides it by its factor).
        std = self.measurement_std / tf.reduce_max(tf.cast(self.operator.mask(theta), tf.float32))
        sigma = per_example(tf.maximum(self._train_sigmas(n, seeds["sigma"]), std), n)
        further = self._further(kept, seeds["further"])
        loss = self.apply_loss("optimizer", lambda: ambient_loss(
            lambda x, s, c: self.denoise(x, s, c, training=True), x_observed, kept, further, sigma,
            self._noise(y, seeds["noise"]), self.pixel_weight(sigma, further), measurement_std=std,
            held_out_only=self.measurement_std > 0))
        return self.track(loss=loss)

    def denoiser(self, n, seed=None):
        """``(x, σ) → E[x₀ | Ã ⊙ x, Ã]`` with one further-corrupted mask ``Ã`` per row, drawn from the
        training distribution (θ of the operator, then δ) and kept for the whole trajectory.
        ``seed``: an int or a stateless seed tensor ``(2,)``."""
        seeds = tf.random.experimental.stateless_split(_seed_tensor(seed), 2)
        theta = self.operator.sample_theta(n, seed=seeds[0], image_shape=self.image_shape)
        further = self._further(self._kept(theta), seeds[1])
        return lambda x, sigma: self.denoise(further * x, sigma, further)


def _seed_tensor(seed):
    """A stateless seed ``(2,)`` int64 from an int, ``None`` (0) or a seed tensor."""
    if seed is None or isinstance(seed, (int, np.integer)):
        return tf.constant([0 if seed is None else int(seed), 0], tf.int64)
    return tf.cast(seed, tf.int64)
