"""A Gaussian prior with its exact denoiser: a diffusion prior known in closed form.

``D(x; σ) = μ + Σ (Σ + σ² I)⁻¹ (x − μ)`` for ``N(μ, Σ)`` on flattened images, computed through the
eigendecomposition of Σ. It stands in for a trained diffusion prior anywhere a denoiser is taken
(posterior sampling, the first prior of an EM); with a linear Gaussian measurement its posterior is
known in closed form, which is what the tests compare posterior sampling with.

Example:
    >>> prior = GaussianPrior.fit(x_train)             # mean and covariance of the images
    >>> x0 = prior.denoise(x_noisy, 0.3)               # (N, H, W, C)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .edm import per_example

__all__ = ["GaussianPrior", "gaussian_denoise"]


def gaussian_denoise(x, sigma, mean, vectors, eigenvalues):
    """The exact denoiser of ``N(mean, V diag(eigenvalues) Vᵀ)``: ``μ + Σ (Σ + σ² I)⁻¹ (x − μ)``.

    Args:
        x: ``(N, H, W, C)`` noisy images.
        sigma: a scalar or ``(N,)`` noise level(s).
        mean: ``(D,)``, D = H·W·C.
        vectors: ``(D, D)`` orthonormal eigenvectors (columns).
        eigenvalues: ``(D,)``, ``>= 0``.

    Returns:
        ``(N, H, W, C)``.
    """
    x = tf.cast(x, tf.float32)
    n = tf.shape(x)[0]
    flat = tf.reshape(x, [n, -1]) - mean
    s2 = tf.reshape(tf.square(per_example(sigma, n)), [-1, 1])
    coeff = tf.matmul(flat, vectors) * (eigenvalues / (eigenvalues + s2))
    return tf.reshape(mean + tf.matmul(coeff, vectors, transpose_b=True), tf.shape(x))


class GaussianPrior:
    """A Gaussian prior ``N(μ, Σ)`` on flattened images with the exact denoiser of a diffusion prior.

    Args:
        mean: ``(H, W, C)`` or ``(D,)``.
        cov: ``(D, D)`` symmetric positive semi-definite.
        image_shape: ``(H, W, C)``.
        sigma_min, sigma_max: the sampling range (pixel units).

    Example:
        >>> prior = GaussianPrior.fit(x_train)
        >>> PosteriorSampling(prior, op, samples=8).reconstruct(y, theta)
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
        """``(x, σ) → D(x; σ)`` for a batch of ``n`` (the same for every row)."""
        return self.denoise
