"""Sample quality: Inception Score and Fréchet distance, under the MNIST classifier or InceptionV3.

* :func:`inception_score` -- ``exp(E_x KL(p(y|x) ‖ p(y)))`` from class probabilities;
* :func:`gaussian_statistics` and :func:`frechet_distance` -- the Fréchet distance between Gaussians
  fitted to features (FID when the features come from Inception), computed in float64 with a
  symmetric matrix square root, as in TF-GAN;
* :func:`classifier_scores` -- IS and FID of 28x28x1 images with the probabilities and penultimate
  features of :func:`~ambient_dcs.metrics.classifiers.mnist_classifier` (offline, cached);
* :func:`inception_v3_scores` -- the standard InceptionV3 IS / FID code path for RGB datasets
  (CIFAR-10, CelebA), which needs the ImageNet weights (one download).

Example:
    >>> classifier_scores(samples, mnist_classifier(), load_dataset("mnist-embedded", "train"))
    {'inception_score': ..., 'fid': ..., 'n': 1000, 'n_reference': 4000}
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from scipy.special import xlogy

from ..data.datasets import load_dataset
from .classifiers import MNIST_SHAPE, MnistClassifier, mnist_classifier
from .pixels import float_images

__all__ = ["inception_score", "gaussian_statistics", "frechet_distance", "classifier_scores",
           "inception_v3_scores"]

_PROB_TOLERANCE = 1e-3  # slack on "rows of probabilities sum to 1"


def _as_probabilities(probs) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"inception_score: expected probabilities of shape (N, K); got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("inception_score: expected finite probabilities; got NaN/inf")
    if p.min() < 0:
        raise ValueError(f"inception_score: expected non-negative probabilities; got min {p.min():g}")
    sums = p.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > _PROB_TOLERANCE:
        raise ValueError(
            "inception_score: expected each row to sum to 1 (softmax probabilities, not logits); "
            f"got row sums off by up to {worst:g}"
        )
    return p / sums[:, None]


def _inception_score(p: np.ndarray) -> float:
    marginal = p.mean(axis=0)
    # KL(p(y|x) || p(y)) with 0·log 0 = 0; p(y) = 0 only where every p(y|x) = 0.
    kl = np.sum(xlogy(p, p) - xlogy(p, marginal[None, :]), axis=1)
    return float(np.exp(np.mean(np.maximum(kl, 0.0))))  # KL >= 0; drop rounding below 0


def inception_score(probs, splits: int | None = None):
    """Inception Score ``exp(E_x KL(p(y|x) ‖ p(y)))``, computed in float64.

    Args:
        probs: ``(N, K)`` class probabilities ``p(y|x)`` of N samples (rows sum to 1).
            Use at least ~1,000 samples: the score is biased low for small N, and
            the samples should be N *different* draws (the original AmbientGAN
            code re-used one fixed-seed batch of 64).
        splits: ``None`` (default) scores all N samples together and returns a
            float. An integer returns ``(mean, std)`` over ``splits`` contiguous
            chunks, each with its own ``p(y)``, like the standard (OpenAI /
            TF-GAN) Inception Score with ``splits=10``.

    The score lies in ``[1, K]``: 1 for identical predictions, K for confident
    predictions spread evenly over K classes.
    """
    p = _as_probabilities(probs)
    if splits is None:
        return _inception_score(p)
    if not isinstance(splits, (int, np.integer)) or isinstance(splits, bool) or not 1 <= splits <= len(p):
        raise ValueError(f"inception_score: splits must be an integer in [1, N={len(p)}] or None; got {splits!r}")
    n = len(p)
    scores = [_inception_score(p[i * n // splits : (i + 1) * n // splits]) for i in range(splits)]
    return float(np.mean(scores)), float(np.std(scores))


def gaussian_statistics(features):
    """Mean and unbiased covariance (``ddof=1``) of ``(N, F)`` features, in float64.

    Returns ``(mu (F,), sigma (F, F))``. Needs N ≥ 2; with N ≤ F the covariance is
    singular, which :func:`frechet_distance` handles, but the distance is then
    strongly biased -- use N well above F.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2 or f.shape[1] < 1:
        raise ValueError(f"gaussian_statistics: expected features of shape (N >= 2, F); got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("gaussian_statistics: expected finite features; got NaN/inf")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False, ddof=1))


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix by eigendecomposition (negative rounding clipped)."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet (2-Wasserstein) distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1^½ Σ2 Σ1^½)^½``, in float64. The trace
    term uses symmetric square roots by eigendecomposition (as TF-GAN's
    ``trace_sqrt_product``), so it is real and stable for singular (PSD)
    covariances, where ``scipy.linalg.sqrtm(Σ1 Σ2)`` can return complex noise.
    Tiny negative results from rounding are returned as 0.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    expected = {"mu1": (d,), "mu2": (d,), "sigma1": (d, d), "sigma2": (d, d)}
    for name, arr in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if arr.shape != expected[name]:
            raise ValueError(f"frechet_distance: expected {name} of shape {expected[name]}; got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"frechet_distance: expected finite {name}; got NaN/inf")
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.allclose(s, s.T, rtol=1e-6, atol=1e-8 * max(1.0, float(np.abs(s).max()))):
            raise ValueError(f"frechet_distance: expected a symmetric covariance {name}; got a non-symmetric matrix")
    sigma1 = 0.5 * (sigma1 + sigma1.T)
    sigma2 = 0.5 * (sigma2 + sigma2.T)
    sqrt1 = _symmetric_sqrt(sigma1)
    inner = sqrt1 @ sigma2 @ sqrt1
    inner = 0.5 * (inner + inner.T)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(inner), 0.0, None))))
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def classifier_scores(images, classifier: MnistClassifier | None = None, reference_images=None, *,
                      splits: int | None = None) -> dict:
    """Inception Score and FID of 28x28x1 images under the MNIST classifier.

    IS uses the classifier's probabilities; FID is the Fréchet distance between
    Gaussians fitted to its 256-d penultimate features of ``images`` and of
    ``reference_images``. These are "MNIST IS/FID", not comparable with
    InceptionV3 numbers. Use ≥ 1,000 images (FID with N ≲ 256 is dominated by bias).

    Args:
        images: ``(N, 28, 28, 1)`` float images in [0, 1], N ≥ 2.
        classifier: a :class:`MnistClassifier`; default ``mnist_classifier()``.
        reference_images: ``(M, 28, 28, 1)`` images in [0, 1]; default the 1,000
            embedded test digits.
        splits: passed to :func:`inception_score`; ``None`` scores all images at once.

    Returns:
        ``{"inception_score", "fid", "n", "n_reference"}`` and, when ``splits`` is
        given, ``"inception_score_std"``.
    """
    x = _check_mnist_images(images, "images")
    if reference_images is None:
        reference_images = load_dataset("mnist-embedded", "test")
    ref = _check_mnist_images(reference_images, "reference_images")
    if classifier is None:
        classifier = mnist_classifier()
    features, probs = classifier.features_and_proba(x)
    ref_features, _ = classifier.features_and_proba(ref)
    fid = frechet_distance(*gaussian_statistics(features), *gaussian_statistics(ref_features))
    score = inception_score(probs, splits=splits)
    result = {"inception_score": score if splits is None else score[0]}
    if splits is not None:
        result["inception_score_std"] = score[1]
    return {**result, "fid": fid, "n": len(x), "n_reference": len(ref)}


def _check_mnist_images(images, name: str) -> np.ndarray:
    x = float_images(images, name, in_unit_range=True)
    if x.shape[1:] != MNIST_SHAPE or len(x) < 2:
        raise ValueError(f"{name}: expected images of shape (N >= 2, 28, 28, 1) in [0, 1]; got shape {x.shape}")
    return x


# The file keras.applications.InceptionV3(weights="imagenet") downloads; fetching
# it ourselves (same name, folder and hash) lets us report a failure clearly.
_INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
_INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                  "inception_v3/" + _INCEPTION_FILE)
_INCEPTION_HASH = "9a0d58056eeedaa3f26cb7ebd46da564"
_INCEPTION_SIZE = 299


def _inception_weights() -> str:
    """Path of the ImageNet InceptionV3 weights (``~/.keras/models/``), downloading once."""
    try:
        return keras.utils.get_file(_INCEPTION_FILE, _INCEPTION_URL, cache_subdir="models",
                                    file_hash=_INCEPTION_HASH)
    except Exception as err:
        raise RuntimeError(
            "inception_v3_scores: the ImageNet InceptionV3 weights could not be downloaded "
            f"from {_INCEPTION_URL} ({type(err).__name__}: {' '.join(str(err).split())[:200]}). "
            "Once fetched they are cached in ~/.keras/models/ (or $KERAS_HOME/models/), so "
            "on an offline machine copy that file there from a machine with internet. "
            "The MNIST classifier metrics (mnist_classifier, classifier_scores) work offline."
        ) from err


def _inception_model(weights) -> keras.Model:
    """InceptionV3 with outputs ``(pool_3 features (N, 2048), ImageNet probabilities (N, 1000))``."""
    net = keras.applications.InceptionV3(weights=weights, include_top=True)
    return keras.Model(net.inputs, [net.get_layer("avg_pool").output, net.outputs[0]])


def inception_v3_scores(images, reference_images, *, splits: int = 10, batch_size: int = 50) -> dict:
    """The standard InceptionV3 Inception Score and FID (CIFAR-10, CelebA, ...).

    Images (``(N, H, W, 1 or 3)`` in [0, 1]; grey images are repeated to RGB) are
    resized bilinearly to 299x299 and mapped to [-1, 1] (Inception's
    ``preprocess_input``). IS uses the 1000-way ImageNet softmax with ``splits``
    splits; FID uses the 2048-d ``avg_pool`` (pool_3) features against
    ``reference_images``. Keras' ImageNet weights differ slightly from the TF-Hub /
    OpenAI graph, so values are close to, not identical with, published numbers.
    Slow on a CPU (several GFLOP per image).

    Raises:
        RuntimeError: the ImageNet weights are not cached in ``~/.keras/models/``
            and cannot be downloaded (offline machines). Use
            :func:`classifier_scores` for MNIST-like data instead.
        ValueError: bad images.
    """
    x = _check_rgb_images(images, "images")
    ref = _check_rgb_images(reference_images, "reference_images")
    model = _inception_model(_inception_weights())

    def preprocess(batch):
        batch = tf.image.resize(batch, (_INCEPTION_SIZE, _INCEPTION_SIZE), method="bilinear")
        batch = tf.image.grayscale_to_rgb(batch) if batch.shape[-1] == 1 else batch
        return batch * 2.0 - 1.0  # keras.applications.inception_v3.preprocess_input, for [0, 1] input

    def apply(arr):  # eager: per-op overhead is negligible next to 299x299 convolutions, no tracing
        outs = [model(preprocess(tf.constant(arr[i : i + batch_size])), training=False)
                for i in range(0, len(arr), batch_size)]
        return tuple(np.concatenate([o[k].numpy() for o in outs]) for k in (0, 1))

    features, probs = apply(x)
    ref_features, _ = apply(ref)
    mean, std = inception_score(probs, splits=min(splits, len(x)))
    fid = frechet_distance(*gaussian_statistics(features), *gaussian_statistics(ref_features))
    return {"inception_score": mean, "inception_score_std": std, "fid": fid, "n": len(x), "n_reference": len(ref)}


def _check_rgb_images(images, name: str) -> np.ndarray:
    x = float_images(images, name, in_unit_range=True)
    if x.shape[-1] not in (1, 3) or len(x) < 2:
        raise ValueError(f"{name}: expected images of shape (N >= 2, H, W, 1 or 3) in [0, 1]; got shape {x.shape}")
    return x
