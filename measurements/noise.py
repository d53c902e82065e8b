"""Noise models applied after an operator's clean forward map: ``y = noise(A_θ(x))``.

A noise model is a small ``keras.layers.Layer`` so it serialises inside its operator's config.
Operators pass each call a seed drawn from their own generator, so one operator ``seed`` makes θ
and the noise reproducible together; called on its own, a noise model uses its own ``seed``.

Example:
    >>> noise = GaussianNoise(std=0.1, seed=0)
    >>> y = noise(tf.zeros((2, 5)))          # 0.1 · N(0, 1) per entry
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .seeding import draw_seed
from .validation import check_positive


class NoiseModel(keras.layers.Layer):
    """Base class. Subclasses implement :meth:`sample` and, if they have arguments, ``get_config``.

    ``call(y, seed=None)`` returns a noisy copy of ``y`` with the same shape and dtype, and is
    differentiable in ``y`` (the AmbientGAN generator is trained through it).
    """

    def __init__(self, seed=None, **kwargs):
        kwargs.setdefault("autocast", False)  # noise keeps the dtype of the measurement it perturbs
        super().__init__(**kwargs)
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)

    def call(self, y, seed=None):
        return self.sample(y, draw_seed(seed, self._generator))

    def sample(self, y, seed):
        """Returns ``y`` plus noise, drawn with the shape-``[2]`` stateless ``seed``."""
        raise NotImplementedError

    @property
    def std(self):  # pragma: no cover - overridden where meaningful
        """Standard deviation of additive Gaussian noise, or ``None`` if not Gaussian."""
        return None

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


@keras.saving.register_keras_serializable(package="measurements")
class GaussianNoise(NoiseModel):
    """Additive white Gaussian noise, ``y + std · ε`` with ``ε ~ N(0, I)``.

    Args:
        std: standard deviation (>= 0), in the units of the measurement.
        seed: seed of the noise model's own generator (used when called on its own).
    """

    def __init__(self, std=0.1, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self._std = check_positive(std, type(self).__name__, "std", allow_zero=True)

    @property
    def std(self):
        return self._std

    def sample(self, y, seed):
        eps = tf.random.stateless_normal(tf.shape(y), seed=seed, dtype=y.dtype)
        return y + tf.cast(self._std, y.dtype) * eps

    def get_config(self):
        config = super().get_config()
        config["std"] = self._std
        return config


@keras.saving.register_keras_serializable(package="measurements")
class PoissonNoise(NoiseModel):
    """Shot noise: ``y = Poisson(scale · A(x)) / scale`` (photon counts rescaled to signal units).

    ``scale`` is the expected number of photons for a signal of 1, so the noise std at a signal
    level ``s`` is ``sqrt(s / scale)``: larger ``scale`` means less noise. The clean signal must be
    non-negative. Counts are drawn by :func:`poisson_counts` (exact up to a rate of 30 photons,
    a rounded Gaussian ``N(λ, λ)`` above, where its error is below the Poisson shot noise's own
    skew; it compiles under XLA, which TF's Poisson op does not). The gradient is passed straight through (``∂y/∂A(x) = 1``): the noise is treated
    as an additive perturbation drawn at the current signal, which keeps generators trainable
    through it.

    Args:
        scale: photons per unit signal (> 0).
        seed: seed of the noise model's own generator.
    """

    def __init__(self, scale=100.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.scale = check_positive(scale, type(self).__name__, "scale")

    def call(self, y, seed=None):
        if tf.executing_eagerly() and hasattr(y, "numpy") and bool(tf.reduce_any(y < 0)):
            raise ValueError(
                f"PoissonNoise: expected a non-negative clean signal; received a minimum of "
                f"{float(tf.reduce_min(y)):.4g}."
            )
        return super().call(y, seed)

    def sample(self, y, seed):
        scale = tf.cast(self.scale, y.dtype)
        counts = poisson_counts(tf.maximum(y, 0) * scale, seed)
        return y + tf.stop_gradient(counts / scale - y)

    def get_config(self):
        config = super().get_config()
        config["scale"] = self.scale
        return config


#: Rates up to this value are sampled exactly (by inversion); above it, by a rounded Gaussian.
POISSON_EXACT_MAX_RATE = 30.0
_POISSON_TERMS = 100  # P(Poisson(30) > 100) < 1e-20: the inversion is exact in float32/64


def poisson_counts(rate, seed):
    """Poisson draws with mean ``rate`` (same shape and dtype), from a stateless ``seed``.

    Inversion of the CDF, vectorised with a fixed number of terms, for ``rate <= 30``; a Gaussian
    ``N(λ, λ)`` rounded to an integer and clipped at 0 for larger rates (its skew is
    ``1/√λ < 0.18``). Fixed shapes and no data-dependent loop, so it runs under ``jit_compile``.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    dtype = rate.dtype
    small = tf.minimum(rate, POISSON_EXACT_MAX_RATE)
    u = tf.random.stateless_uniform(tf.shape(rate), seeds[0], dtype=dtype)
    term = tf.exp(-small)          # P(K = 0)
    cdf = term
    count = tf.zeros_like(rate)
    for k in range(1, _POISSON_TERMS):
        count += tf.cast(u > cdf, dtype)
        term = term * small / k
        cdf = cdf + term
    z = tf.random.stateless_normal(tf.shape(rate), seeds[1], dtype=dtype)
    gaussian = tf.maximum(tf.round(rate + tf.sqrt(rate) * z), 0)
    return tf.where(rate <= POISSON_EXACT_MAX_RATE, count, gaussian)


def noise_std_of(operator):
    """The standard deviation of an operator's Gaussian noise, in its measurement's units (0 without noise).

    What the methods that assume a Gaussian likelihood (posterior sampling, the diffusion priors
    learned from measurements) read off the operator.

    Args:
        operator: a :class:`measurements.Operator`.

    Returns:
        A float ``>= 0``.

    Raises:
        ValueError: a noise model that is not Gaussian (e.g. :class:`PoissonNoise`).

    Example:
        >>> noise_std_of(measurements.GaussianBlur(1.0, noise=measurements.GaussianNoise(0.5)))
        0.5
    """
    if operator.noise is None:
        return 0.0
    if isinstance(operator.noise, GaussianNoise):
        return float(operator.noise.std)
    raise ValueError(f"expected no noise or measurements.GaussianNoise on {type(operator).__name__}; received "
                     f"{type(operator.noise).__name__} (the diffusion priors and posterior sampling assume "
                     f"Gaussian noise).")
