r"""Diffusion priors in EDM's σ-parametrisation, trained on clean images or from masked measurements only.

**Parametrisation** (Karras et al., "Elucidating the design space of diffusion-based generative
models", NeurIPS 2022; ``NVlabs/edm``, ``training/networks.py`` ``EDMPrecond`` and
``training/loss.py`` ``EDMLoss``). A noisy image is ``x_σ = x + σ·n``, ``n ~ N(0, I)``, with ``x`` in
[0, 1] — so σ is in pixel units, the same unit as the standard deviation of an operator's Gaussian
noise: "noise level of the data" and "noise level of the diffusion" are one quantity. The denoiser
estimates ``E[x | x_σ]``:

.. math::

    D(x_σ; σ) = ½ + c_{skip}(σ)\,(x_σ − ½) + c_{out}(σ)\,F\big(c_{in}(σ)\,(x_σ − ½),\ c_{noise}(σ)\big),

    c_{skip} = σ_d² / (σ² + σ_d²),\quad c_{out} = σ σ_d / \sqrt{σ² + σ_d²},\quad
    c_{in} = 1 / \sqrt{σ² + σ_d²},\quad c_{noise} = \ln(σ) / 4,

with ``F`` a U-Net (:func:`ambient_dcs.networks.unet`) and σ_d the data's scale (0.5, EDM's; images
are centred at ½). Training minimises ``λ(σ)·‖D(x + σn; σ) − x‖²`` with
``ln σ ~ N(P_mean, P_std²)`` (−1.2, 1.2) and ``λ(σ) = (σ² + σ_d²) / (σ σ_d)²``.

**Sampling** from σ_max to 0 on EDM's grid ``σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ``
(ρ = 7): ``"heun"`` integrates the probability-flow ODE ``dx/dσ = (x − D(x; σ))/σ`` with Heun's
method (EDM Algorithm 1, deterministic); ``"stochastic"`` first adds noise to raise each σ to
``σ(1 + γ)`` and then takes the Heun step (EDM Algorithm 2, "churn"). Both keep the marginals to
the accuracy of Heun's method: with an exact denoiser of a Gaussian, 40 steps give the prior's
standard deviations to 1 %, where DDPM's ancestral step (which leaves out ``Cov[x | x_σ]``) gives
them 11 % too small (measured; ``tests/ambient_dcs/test_diffusion.py``).

**Ambient Diffusion** (Daras et al., NeurIPS 2023, arXiv 2305.19256) learns from masked data
``y = A ⊙ x`` only. Each step corrupts further: ``Ã = A ⊙ B``, where B drops each kept pixel with
probability δ; the network sees ``Ã ⊙ x_σ`` and the mask ``Ã`` and is trained to predict the pixels
``A`` kept, ``‖√w ⊙ A ⊙ (D(Ã ⊙ x_σ, Ã; σ) − x)‖²``. Since the network cannot tell which of ``A``'s
pixels ``B`` removed, minimising this loss gives ``E[x | Ã ⊙ x_σ, Ã]`` on every pixel. A pixel the
network does not see is infinitely noisy for the preconditioning: there ``c_skip = 0`` and
``c_out = σ_d`` (EDM's σ → ∞ limits; with the σ-dependent ones the skip connection would pass the
blank and ``c_out → 0`` would forbid correcting it at small σ), and its weight is ``1/σ_d²`` where a
seen pixel's is ``λ(σ) = 1/c_out(σ)²`` (a weight that depends on what the network sees does not
change the minimiser). With
Gaussian measurement noise of std σ_y (in pixel units), only ``σ ≥ σ_y`` is trained (the measurement
noise is part of ``x_σ``'s) and the loss is taken on the pixels ``B`` removed (``A ⊙ (1 − B)``), whose
noise the input has not seen. Sampling uses one fixed ``Ã`` per sample for the whole trajectory
(the paper's fixed-mask sampler).

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

from ..training.distribute import scale_loss
from .base import GenerativeTrainer, _check_float

__all__ = ["DiffusionPrior", "AmbientDiffusion", "GaussianPrior", "SAMPLERS", "edm_scalings", "noise_levels",
           "run_sampler", "ambient_loss", "noise_std_of", "gaussian_denoise"]

SAMPLERS = ("heun", "stochastic")


def edm_scalings(sigma, sigma_data):
    """``(c_skip, c_out, c_in, c_noise)`` of EDM's preconditioning for noise levels ``sigma``."""
    s2, d2 = tf.square(sigma), sigma_data ** 2
    return d2 / (s2 + d2), sigma * sigma_data / tf.sqrt(s2 + d2), 1.0 / tf.sqrt(s2 + d2), tf.math.log(sigma) / 4.0


def noise_levels(steps, sigma_min, sigma_max, rho=7.0):
    """EDM's grid of ``steps`` noise levels from ``sigma_max`` down to ``sigma_min``, then 0 (``steps + 1`` floats)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"noise_levels: expected steps to be an integer >= 1; received {steps!r}.")
    i = np.arange(steps) / max(steps - 1, 1)
    sigmas = (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return np.append(sigmas, 0.0).astype(np.float32)


def run_sampler(denoise, x, sigmas, sampler="heun", noise=None, churn=0.4):
    """Runs a sampler from ``x`` (noisy at ``sigmas[0]``) down the grid ``sigmas``.

    Args:
        denoise: ``(x, σ) → E[x₀ | x]`` for a scalar σ (a tensor).
        x: ``(N, H, W, C)`` at noise level ``sigmas[0]``.
        sigmas: the grid (:func:`noise_levels`), a sequence of floats ending in 0.
        sampler: ``"heun"`` (EDM Algorithm 1, deterministic) or ``"stochastic"`` (EDM Algorithm 2:
            noise is added to raise σ to ``σ(1 + γ)`` before each Heun step, γ = ``churn``).
        noise: for ``"stochastic"``: a tensor ``(len(sigmas) − 1, N, H, W, C)`` of standard normals
            (drawn by the caller, so that the draw does not depend on the batching).
        churn: γ of the stochastic sampler (at most √2 − 1, EDM's cap).

    Returns:
        The samples ``(N, H, W, C)``.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"run_sampler: expected sampler in {list(SAMPLERS)}; received {sampler!r}.")
    gamma = min(float(churn), math.sqrt(2.0) - 1.0) if sampler == "stochastic" else 0.0
    sigmas = tf.constant(np.asarray(sigmas, np.float32))
    if noise is None:
        noise = tf.zeros((1,), x.dtype)

    def step(i, x):
        s, s_next = sigmas[i], sigmas[i + 1]
        if gamma > 0:  # churn: add noise from σ up to σ̂ = σ(1 + γ)
            s_hat = s * (1.0 + gamma)
            x = x + tf.sqrt(s_hat**2 - s**2) * noise[i]
            s = s_hat
        slope = (x - denoise(x, s)) / s
        x_euler = x + (s_next - s) * slope
        slope_next = (x_euler - denoise(x_euler, s_next)) / s_next
        return i + 1, x + (s_next - s) * 0.5 * (slope + slope_next)

    # An explicit while loop: one graph node however many steps, also where AutoGraph does not
    # convert the caller (a branch of tf.cond).
    _, x = tf.while_loop(lambda i, x: i < tf.shape(sigmas)[0] - 2, step, [tf.constant(0), x])
    return denoise(x, sigmas[-2])  # the last step, to σ = 0: the denoised estimate


def noise_std_of(operator):
    """The standard deviation of an operator's Gaussian noise in its measurement's units (0 without noise).

    Raises:
        ValueError: a noise model that is not Gaussian (the diffusion methods here assume Gaussian noise).
    """
    if operator.noise is None:
        return 0.0
    if isinstance(operator.noise, measurements.GaussianNoise):
        return float(operator.noise.std)
    raise ValueError(f"expected no noise or measurements.GaussianNoise on {type(operator).__name__}; received "
                     f"{type(operator.noise).__name__} (the diffusion priors and posterior sampling assume "
                     f"Gaussian noise).")


def measurement_batch(data, owner):
    """``(y, θ)`` of a training batch ``{"y": y, "theta": {...}}`` (or a tuple starting with one)."""
    if isinstance(data, (tuple, list)):
        data = data[0]
    if not isinstance(data, dict) or "y" not in data:
        raise ValueError(f"{owner}: training batches are {{'y': y, 'theta': {{...}}}} measurements; received "
                         f"{type(data).__name__}.")
    return tf.cast(data["y"], tf.float32), data.get("theta") or {}


def _per_example(value, n):
    """A scalar or ``(N,)`` σ as ``(N, 1, 1, 1)``."""
    value = tf.convert_to_tensor(value, tf.float32)
    return tf.reshape(tf.broadcast_to(value, [n]) if value.shape.rank == 0 else value, [-1, 1, 1, 1])


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
        sigma = _per_example(sigma, n)
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma, self.sigma_data)
        centred = x - 0.5
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
        return 0.5 + c_skip * centred + c_out * out

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
        return self.track(loss=self._denoising_step(x, self.step_seeds(2)))

    def _denoising_step(self, x, seeds):
        """One optimizer step of EDM's denoising loss on clean images ``x``; returns the loss."""
        sigma = _per_example(self._train_sigmas(tf.shape(x)[0], seeds[0]), tf.shape(x)[0])
        noisy = x + sigma * self._noise(x, seeds[1])
        variables = self.optimizer_variables("optimizer")
        with tf.GradientTape() as tape:
            err = tf.reduce_mean(tf.square(self.denoise(noisy, sigma, training=True) - x), axis=[1, 2, 3])
            loss = tf.reduce_mean(tf.reshape(self.weight(sigma), [-1]) * err)
            scaled = scale_loss(loss, self.optimizer)
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return loss

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
            start = 0.5 + sigmas[0] * rng.standard_normal((b, *self.image_shape)).astype(np.float32)
            noise = rng.standard_normal((steps if sampler == "stochastic" else 1, b, *self.image_shape))
            out.append(np.asarray(graph(tf.constant(start), tf.constant(noise, tf.float32),
                                        tf.constant(rng.integers(2**31, size=2), tf.int64))))
        return np.clip(np.concatenate(out), 0.0, 1.0) if out else np.zeros((0, *self.image_shape), np.float32)

    def call(self, x, training=False):
        """``D(x; σ_min)`` (``model(x)`` denoises lightly; use :meth:`denoise` for a given σ)."""
        return self.denoise(x, self.sigma_min, training=training)


def ambient_loss(denoise, x_observed, kept, further_kept, sigma, noise, weight, measurement_std=0.0,
                 held_out_only=False):
    """Ambient Diffusion's further-corruption loss for one batch (see the module docstring).

    Args:
        denoise: ``(x, σ, condition) → D``.
        x_observed: ``(N, H, W, C)``: the measured pixels in image units (zeros where not kept).
        kept: ``A`` ``(N, H, W, C)`` in {0, 1}: the pixels the measurement kept.
        further_kept: ``Ã = A ⊙ B``: the pixels the network sees.
        sigma: ``(N, 1, 1, 1)`` diffusion noise levels (≥ ``measurement_std``).
        noise: ``(N, H, W, C)`` standard normals.
        weight: the loss weight, ``(N, 1, 1, 1)`` (EDM's ``λ(σ)``) or per pixel ``(N, H, W, C)``.
        measurement_std: σ_y in image units (a float or scalar tensor): the input's noise already in
            ``x_observed``; only ``√(σ² − σ_y²)`` more is added.
        held_out_only: take the loss on ``A ⊙ (1 − B)`` only (for noisy measurements: pixels whose
            noise the input has not seen).

    Returns:
        The scalar loss: the batch mean of ``Σ target ⊙ weight ⊙ (D − x)² / Σ target``.
    """
    extra = tf.sqrt(tf.maximum(tf.square(sigma) - measurement_std ** 2, 0.0))
    x_sigma = x_observed + extra * noise
    estimate = denoise(further_kept * x_sigma, sigma, further_kept)
    target = kept * (1.0 - further_kept) if held_out_only else kept
    per_example = (tf.reduce_sum(target * weight * tf.square(estimate - x_observed), axis=[1, 2, 3])
                   / tf.maximum(tf.reduce_sum(target, axis=[1, 2, 3]), 1.0))
    return tf.reduce_mean(per_example)


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
        self.measurement_std = noise_std_of(operator)
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
        seeds = self.step_seeds(3)
        # The measurement noise in image units (a rescaling mask divides it by its factor).
        std = self.measurement_std / tf.reduce_max(tf.cast(self.operator.mask(theta), tf.float32))
        sigma = _per_example(tf.maximum(self._train_sigmas(n, seeds[0]), std), n)
        further = self._further(kept, seeds[1])
        variables = self.optimizer_variables("optimizer")
        with tf.GradientTape() as tape:
            loss = ambient_loss(lambda x, s, c: self.denoise(x, s, c, training=True), x_observed, kept, further,
                                sigma, self._noise(y, seeds[2]), self.pixel_weight(sigma, further),
                                measurement_std=std, held_out_only=self.measurement_std > 0)
            scaled = scale_loss(loss, self.optimizer)
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
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


def gaussian_denoise(x, sigma, mean, vectors, eigenvalues):
    """The exact denoiser of ``N(mean, V diag(eigenvalues) Vᵀ)``: ``μ + Σ (Σ + σ² I)⁻¹ (x − μ)``.

    Args:
        x: ``(N, H, W, C)`` noisy images; sigma: a scalar or ``(N,)``.
        mean: ``(D,)``; vectors: ``(D, D)`` orthonormal eigenvectors (columns); eigenvalues: ``(D,)`` ≥ 0.
    """
    x = tf.cast(x, tf.float32)
    n = tf.shape(x)[0]
    flat = tf.reshape(x, [n, -1]) - mean
    s2 = tf.reshape(tf.square(_per_example(sigma, n)), [-1, 1])
    coeff = tf.matmul(flat, vectors) * (eigenvalues / (eigenvalues + s2))
    return tf.reshape(mean + tf.matmul(coeff, vectors, transpose_b=True), tf.shape(x))


class GaussianPrior:
    """A Gaussian prior ``N(μ, Σ)`` on flattened images with the exact denoiser of a diffusion prior.

    ``D(x; σ) = μ + Σ (Σ + σ² I)⁻¹ (x − μ)`` (computed through the eigendecomposition of Σ), so it
    can stand in for a trained :class:`DiffusionPrior` anywhere (posterior sampling; the initial prior
    of an EM); with a linear Gaussian measurement its posterior is known in closed form, which is
    what the tests compare posterior sampling with.

    Args:
        mean: ``(H, W, C)`` or ``(D,)``; cov: ``(D, D)`` symmetric positive semi-definite.
        image_shape: ``(H, W, C)``.
        sigma_min, sigma_max: the sampling range.

    Example:
        >>> prior = GaussianPrior.fit(x_train)             # mean and covariance of the images
        >>> x0 = prior.denoise(x_noisy, 0.3)
    """

    def __init__(self, mean, cov, image_shape, sigma_min=0.002, sigma_max=40.0):
        self.image_shape = tuple(int(d) for d in image_shape)
        dim = int(np.prod(self.image_shape))
        mean = np.asarray(mean, np.float64).reshape(-1)
        cov = np.asarray(cov, np.float64)
        if mean.shape != (dim,) or cov.shape != (dim, dim):
            raise ValueError(f"GaussianPrior: expected mean of {dim} entries and cov ({dim}, {dim}) for images "
                             f"{self.image_shape}; received {mean.shape} and {cov.shape}.")
        eigenvalues, vectors = np.linalg.eigh((cov + cov.T) / 2)
        self.mean, self.cov = mean, cov
        self._eig = tf.constant(np.maximum(eigenvalues, 0.0), tf.float32)
        self._vectors = tf.constant(vectors, tf.float32)
        self._mean = tf.constant(mean, tf.float32)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    @classmethod
    def fit(cls, images, shrinkage=1e-4, **kwargs):
        """The Gaussian of ``images`` ``(N, H, W, C)``: their mean and covariance (+ ``shrinkage``·I)."""
        flat = np.asarray(images, np.float64).reshape(len(images), -1)
        return cls(flat.mean(0), np.cov(flat, rowvar=False) + shrinkage * np.eye(flat.shape[1]),
                   np.shape(images)[1:], **kwargs)

    def denoise(self, x, sigma):
        """The exact ``E[x₀ | x₀ + σn = x]`` ``(N, H, W, C)``; ``sigma`` a scalar or ``(N,)``."""
        return gaussian_denoise(x, sigma, self._mean, self._vectors, self._eig)

    def denoiser(self, n, seed=None):
        return self.denoise
