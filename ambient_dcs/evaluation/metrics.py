"""Evaluation metrics: reconstruction errors, Inception Score and Fréchet distance.

Reconstruction metrics (images NHWC in [0, 1]; NumPy arrays or tensors in,
NumPy ``(N,)`` arrays out):

* :func:`per_image_squared_error` -- ``Σ_pixels (x̂ − x)²`` per image, the unit of
  the Deep Compressed Sensing tables;
* :func:`per_pixel_mse` -- the same divided by ``H·W·C``, the unit of the CSGM plots;
* :func:`psnr` -- ``tf.image.psnr`` with peak 1 (``inf`` for a perfect reconstruction);
* :func:`ssim` -- ``tf.image.ssim`` with peak 1, an 11x11 Gaussian window (σ = 1.5),
  so images must be at least 11x11 pixels;
* :func:`summarize` -- mean, standard deviation and 95 % confidence half-width;
* :func:`reconstruction_summary` -- all of the above for one method's reconstructions.

Sample-quality metrics:

* :func:`inception_score` -- ``exp(E_x KL(p(y|x) ‖ p(y)))`` from class probabilities;
* :func:`gaussian_statistics` and :func:`frechet_distance` -- the Fréchet distance
  between Gaussians fitted to features (FID when the features come from Inception),
  computed in float64 with a symmetric matrix square root, as in TF-GAN;
* :func:`mnist_classifier` / :class:`MnistClassifier` -- a small CNN trained on the
  embedded MNIST digits (offline, cached), and :func:`classifier_scores`, which uses
  its probabilities (IS) and penultimate features (FID) for 28x28x1 images;
* :func:`inception_v3_scores` -- the standard InceptionV3 IS / FID code path for
  RGB datasets (CIFAR-10, CelebA), which needs the ImageNet weights (one download).

Example::

    >>> from ambient_dcs.data import load_dataset
    >>> from ambient_dcs.evaluation import metrics
    >>> x = load_dataset("mnist-embedded", "test")
    >>> metrics.summarize(metrics.per_image_squared_error(x * 0.9, x))["mean"]  # doctest: +SKIP
    >>> clf = metrics.mnist_classifier()                 # trains once (~1.5 min), then cached
    >>> metrics.classifier_scores(x, clf, load_dataset("mnist-embedded", "train"))  # doctest: +SKIP
    {'inception_score': ..., 'fid': ..., 'n': 1000, 'n_reference': 4000}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scipy.special import xlogy

__all__ = [
    "per_image_squared_error",
    "posterior_coverage",
    "per_pixel_mse",
    "psnr",
    "ssim",
    "summarize",
    "reconstruction_summary",
    "inception_score",
    "gaussian_statistics",
    "frechet_distance",
    "MnistClassifier",
    "mnist_classifier",
    "classifier_scores",
    "inception_v3_scores",
    "cache_dir",
]

_RANGE_TOLERANCE = 1e-5  # slack on the [0, 1] check of images fed to a classifier
_PROB_TOLERANCE = 1e-3  # slack on "rows of probabilities sum to 1"
_SSIM_FILTER_SIZE = 11  # tf.image.ssim defaults
_SSIM_FILTER_SIGMA = 1.5


# --------------------------------------------------------------------------- #
# Input checks                                                                #
# --------------------------------------------------------------------------- #


def _as_float_images(x, name: str, *, in_unit_range: bool = False) -> np.ndarray:
    """``x`` as a float32 NHWC NumPy array, with clear errors for bad input."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        hint = " (divide 0..255 integer images by 255)" if np.issubdtype(arr.dtype, np.integer) else ""
        raise ValueError(f"{name}: expected float images (N, H, W, C) in [0, 1]; got dtype {arr.dtype}{hint}")
    if arr.ndim != 4 or min(arr.shape) < 1:
        raise ValueError(f"{name}: expected a non-empty rank-4 array (N, H, W, C); got shape {arr.shape}")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name}: expected finite values; got {n_bad} NaN/inf values")
    if in_unit_range:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE:
            raise ValueError(
                f"{name}: expected images in [0, 1]; got min {lo:g}, max {hi:g} "
                "(map tanh outputs with (x + 1) / 2)"
            )
        arr = np.clip(arr, 0.0, 1.0)
    return arr.astype(np.float32, copy=False)


def _image_pair(x_hat, x):
    x_hat = _as_float_images(x_hat, "x_hat")
    x = _as_float_images(x, "x")
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat and x must have the same shape; got x_hat {x_hat.shape} and x {x.shape}")
    return x_hat, x


# --------------------------------------------------------------------------- #
# Reconstruction metrics                                                      #
# --------------------------------------------------------------------------- #


def per_image_squared_error(x_hat, x) -> np.ndarray:
    """Per-image squared error ``Σ_{h,w,c} (x̂ − x)²`` (float64, shape ``(N,)``), images in [0, 1].

    CSGM's unit (Bora et al. 2017 report per-pixel MSE; × 784 on MNIST is this). The Deep
    Compressed Sensing code reports a norm instead: see :func:`per_image_l2_error`.
    Values outside [0, 1] are not clipped: clip estimates first if your
    estimator can overshoot and you want the clipped error.
    """
    x_hat, x = _image_pair(x_hat, x)
    diff = x_hat.astype(np.float64) - x.astype(np.float64)
    return np.sum(diff * diff, axis=(1, 2, 3))


def posterior_coverage(truth, samples, width=2.0) -> dict:
    """Calibration of K samples per image: the fraction of pixels with ``|x − mean| ≤ width · std``.

    Args:
        truth: ``(N, H, W, C)`` the true images.
        samples: ``(N, K, H, W, C)`` K posterior samples (or restarts) per image, K ≥ 2.
        width: the interval's half-width in standard deviations.

    Returns:
        ``{"coverage": …, "calibrated": …}``: the measured fraction, and what a calibrated Gaussian
        posterior gives with K samples (the truth is then one more draw: ``(x − mean) / (s·√(1 + 1/K))``
        is Student-t with K − 1 degrees of freedom, ``s`` the unbiased std; ``std`` here is NumPy's
        ``ddof=0`` one, as in :class:`~ambient_dcs.reconstruction.Reconstruction`): 0.954 for
        K → ∞ and width 2, 0.88 for K = 8. Pixels where every sample and the truth agree exactly
        (e.g. clipped background) count as covered.

    Example:
        >>> posterior_coverage(x_test, rec.samples)["coverage"]
    """
    from scipy import stats

    samples = np.asarray(samples, np.float64)
    truth = np.asarray(truth, np.float64)
    if samples.ndim != truth.ndim + 1 or samples.shape[0] != truth.shape[0] or samples.shape[2:] != truth.shape[1:] \
            or samples.shape[1] < 2:
        raise ValueError(f"posterior_coverage: expected samples (N, K >= 2, ...) for truth (N, ...); received "
                         f"{samples.shape} and {truth.shape}.")
    k = samples.shape[1]
    mean, std = samples.mean(axis=1), samples.std(axis=1)
    coverage = float(np.mean(np.abs(truth - mean) <= width * std))
    calibrated = float(2 * stats.t.cdf(width * math.sqrt((k - 1) / (k + 1)), df=k - 1) - 1)
    return {"coverage": coverage, "calibrated": calibrated}


def per_image_l2_error(x_hat, x, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Per-image Euclidean norm ``‖x̂ − x‖₂`` with the pixels rescaled from [0, 1] to ``value_range``
    (float64, shape ``(N,)``).

    The unit of Deep Compressed Sensing's ``recons_loss`` (``deepmind-research/cs_gan/cs.py``: the batch
    mean of ``‖G(ẑ) − x‖₂``, not squared, with pixels in [−1, 1]); per image it is
    ``(hi − lo) · √Σ(x̂ − x)²`` of :func:`per_image_squared_error`.

    Example:
        >>> per_image_l2_error(np.zeros((1, 2, 2, 1)), np.full((1, 2, 2, 1), 0.5))   # 2 · √(4 · 0.25)
        array([2.])
    """
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"per_image_l2_error: expected value_range (lo, hi) with hi > lo; received {value_range!r}.")
    return (hi - lo) * np.sqrt(per_image_squared_error(x_hat, x))


def per_pixel_mse(x_hat, x) -> np.ndarray:
    """Per-image mean squared error over pixels and channels (float64, ``(N,)``).

    :func:`per_image_squared_error` divided by ``H·W·C``; the unit of the CSGM plots.
    """
    x_hat, x = _image_pair(x_hat, x)
    diff = x_hat.astype(np.float64) - x.astype(np.float64)
    return np.mean(diff * diff, axis=(1, 2, 3))


def psnr(x_hat, x) -> np.ndarray:
    """Peak signal-to-noise ratio in dB with peak 1 (``tf.image.psnr(max_val=1.0)``).

    ``10·log10(1 / MSE)`` per image, shape ``(N,)``; ``inf`` where ``x̂ == x``.
    Computed by TensorFlow in float32.
    """
    x_hat, x = _image_pair(x_hat, x)
    return tf.image.psnr(x_hat, x, max_val=1.0).numpy()


def ssim(x_hat, x, *, filter_size: int = _SSIM_FILTER_SIZE, filter_sigma: float = _SSIM_FILTER_SIGMA) -> np.ndarray:
    """Structural similarity with peak 1 (``tf.image.ssim(max_val=1.0)``), shape ``(N,)``.

    TensorFlow's defaults: a ``filter_size`` x ``filter_size`` Gaussian window with
    σ = ``filter_sigma`` (11, 1.5), K1 = 0.01, K2 = 0.03, 'valid' filtering, averaged
    over pixels and channels. Images must therefore be at least ``filter_size``
    pixels high and wide (28x28 MNIST and 32x32 faces are fine). This equals
    ``skimage.metrics.structural_similarity(data_range=1, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, channel_axis=-1)`` to float32 precision.
    """
    x_hat, x = _image_pair(x_hat, x)
    height, width = x.shape[1:3]
    if min(height, width) < filter_size:
        raise ValueError(
            f"ssim: images must be at least {filter_size}x{filter_size} pixels for the "
            f"{filter_size}x{filter_size} SSIM window; got {height}x{width} "
            "(pass a smaller filter_size=...)"
        )
    return tf.image.ssim(x_hat, x, max_val=1.0, filter_size=filter_size, filter_sigma=filter_sigma).numpy()


def summarize(values) -> dict:
    """Mean, standard deviation and 95 % confidence half-width of per-image values.

    Returns ``{"mean", "std", "ci95", "n"}`` with ``std`` the sample standard
    deviation (``ddof=1``) and ``ci95 = 1.96·std/√n`` (normal approximation to the
    confidence interval of the mean). With a single value ``std`` and ``ci95`` are
    ``nan``. Infinite values (e.g. the PSNR of exact reconstructions) propagate.
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    n = arr.size
    if n == 0:
        raise ValueError("summarize: expected at least one value; got an empty array")
    mean = float(np.mean(arr))
    std = float(np.std(arr, ddof=1)) if n > 1 else float("nan")
    return {"mean": mean, "std": std, "ci95": 1.96 * std / math.sqrt(n), "n": int(n)}


def reconstruction_summary(x_hat, x=None, measurement_error=None, wall_time=None) -> dict:
    """The numbers a reconstruction table reports, for one method.

    Args:
        x_hat: reconstructions ``(N, H, W, C)`` in [0, 1].
        x: the true images, or ``None`` when there is no ground truth (real measurements):
            then only the measurement error and the time are reported.
        measurement_error: ``‖y − A_θ(x̂)‖²`` per image ``(N,)``, or ``None``.
        wall_time: seconds the method took for all N images, or ``None``.

    Returns:
        A flat dict: ``squared_error_mean/std`` (per-image Σ(x̂ − x)², the DCS tables' unit),
        ``psnr_mean/std`` (dB, peak 1; the mean over finite values), ``ssim_mean/std`` (when the
        images are at least 11×11), ``measurement_error_mean/std``, ``seconds``,
        ``seconds_per_image`` and ``n``; entries that cannot be computed are left out.
    """
    x_hat = _as_float_images(x_hat, "x_hat")
    out = {"n": int(len(x_hat))}
    if x is not None:
        se = summarize(per_image_squared_error(x_hat, x))
        out.update(squared_error_mean=se["mean"], squared_error_std=se["std"])
        p = psnr(x_hat, x)
        p = p[np.isfinite(p)]
        if p.size:
            out.update(psnr_mean=float(p.mean()), psnr_std=float(p.std(ddof=1)) if p.size > 1 else float("nan"))
        if min(x_hat.shape[1:3]) >= _SSIM_FILTER_SIZE:
            s = summarize(ssim(x_hat, x))
            out.update(ssim_mean=s["mean"], ssim_std=s["std"])
    if measurement_error is not None:
        me = summarize(measurement_error)
        out.update(measurement_error_mean=me["mean"], measurement_error_std=me["std"])
    if wall_time is not None:
        out.update(seconds=float(wall_time), seconds_per_image=float(wall_time) / max(len(x_hat), 1))
    return out


# --------------------------------------------------------------------------- #
# Inception Score and Fréchet distance                                        #
# --------------------------------------------------------------------------- #


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


# --------------------------------------------------------------------------- #
# The MNIST classifier                                                        #
# --------------------------------------------------------------------------- #

_CLASSIFIER_FORMAT = 1  # bump when the architecture or training recipe changes
_FEATURE_LAYER = "features"
_MNIST_SHAPE = (28, 28, 1)


def cache_dir() -> Path:
    """The cache folder: ``$AMBIENT_DCS_CACHE`` or ``~/.cache/ambient-dcs``."""
    return Path(os.environ.get("AMBIENT_DCS_CACHE", "~/.cache/ambient-dcs")).expanduser()


def _build_classifier(seed: int) -> keras.Model:
    """Conv 32 5x5 → pool → Conv 64 5x5 → pool → Dense 256 (features) → dropout → Dense 10.

    A smaller "mnist_deep" (the AmbientGAN IS classifier has Dense 1024); random
    shifts of up to ±2 pixels are applied during training only.
    """
    init = lambda i: keras.initializers.GlorotUniform(seed=seed * 10 + i)  # noqa: E731
    inputs = keras.Input(_MNIST_SHAPE, name="images")
    x = keras.layers.RandomTranslation(
        2 / 28, 2 / 28, fill_mode="constant", fill_value=0.0, seed=seed, name="random_shift"
    )(inputs)
    x = keras.layers.Conv2D(32, 5, padding="same", activation="relu", kernel_initializer=init(0), name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(64, 5, padding="same", activation="relu", kernel_initializer=init(1), name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(256, activation="relu", kernel_initializer=init(2), name=_FEATURE_LAYER)(x)
    x = keras.layers.Dropout(0.5, seed=seed, name="dropout")(x)
    outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer=init(3), name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mnist_classifier")


class MnistClassifier:
    """A trained MNIST digit classifier for 28x28x1 images in [0, 1].

    Made by :func:`mnist_classifier`. Attributes: ``model`` (the Keras model,
    softmax output), ``test_accuracy`` (on the 1,000 embedded test digits),
    ``epochs``, ``seed``, ``train_seconds`` (wall time of the training run that
    produced the weights) and ``path`` (the cached ``.keras`` file or ``None``).
    """

    def __init__(self, model: keras.Model, *, test_accuracy: float, epochs: int, seed: int,
                 train_seconds: float | None = None, path: Path | None = None):
        self.model = model
        self.test_accuracy = float(test_accuracy)
        self.epochs = epochs
        self.seed = seed
        self.train_seconds = train_seconds
        self.path = path
        self._both = keras.Model(model.inputs, [model.get_layer(_FEATURE_LAYER).output, model.outputs[0]])

    def __repr__(self):
        return (f"MnistClassifier(epochs={self.epochs}, seed={self.seed}, "
                f"test_accuracy={self.test_accuracy:.4f}, path={str(self.path) if self.path else None!r})")

    def features_and_proba(self, images, batch_size: int = 500):
        """``(features (N, 256), probabilities (N, 10))`` as float32 NumPy arrays."""
        x = _as_float_images(images, "images", in_unit_range=True)
        if x.shape[1:] != _MNIST_SHAPE:
            raise ValueError(f"MnistClassifier: expected images of shape (N, 28, 28, 1); got {x.shape}")
        features, probs = self._both.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(features), np.asarray(probs)

    def predict_proba(self, images, batch_size: int = 500) -> np.ndarray:
        """Class probabilities ``p(y|x)``, ``(N, 10)`` float32."""
        return self.features_and_proba(images, batch_size)[1]

    def features(self, images, batch_size: int = 500) -> np.ndarray:
        """Penultimate-layer (Dense 256, ReLU) activations, ``(N, 256)`` float32; used for FID."""
        return self.features_and_proba(images, batch_size)[0]

    def predict(self, images, batch_size: int = 500) -> np.ndarray:
        """Predicted digits, ``(N,)`` int64."""
        return np.argmax(self.predict_proba(images, batch_size), axis=1).astype(np.int64)


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _load_cached(model_path: Path, info_path: Path, epochs: int, seed: int, verbose: int):
    if not (model_path.exists() and info_path.exists()):
        return None
    try:
        info = json.loads(info_path.read_text())
        if info.get("format") != _CLASSIFIER_FORMAT:
            raise ValueError(f"cache format {info.get('format')!r}, expected {_CLASSIFIER_FORMAT}")
        test_accuracy = float(info["test_accuracy"])
        model = keras.saving.load_model(model_path)
    except Exception as err:  # corrupt or stale cache: retrain and overwrite
        if verbose:
            print(f"mnist_classifier: ignoring unusable cache {model_path} ({type(err).__name__}: {err}); retraining")
        return None
    if verbose:
        print(f"mnist_classifier: loaded {model_path} (test accuracy {test_accuracy:.4f})")
    return MnistClassifier(model, test_accuracy=test_accuracy, epochs=epochs, seed=seed,
                           train_seconds=info.get("train_seconds"), path=model_path)


def mnist_classifier(epochs: int = 20, seed: int = 0, cache: bool = True, verbose: int = 1) -> MnistClassifier:
    """The project's MNIST classifier, trained on the embedded digits and cached.

    A small CNN (Conv 32 5x5 → max-pool → Conv 64 5x5 → max-pool → Dense 256 →
    dropout 0.5 → Dense 10 softmax; a smaller "mnist_deep") trained with Adam
    (1e-3, batch 64) on ``load_dataset("mnist-embedded", "train")`` (4,000 digits)
    with random ±2-pixel shifts. Its test accuracy on the 1,000 embedded test
    digits is measured after training and stored with the cache. Works offline.

    Args:
        epochs: training epochs (the default 20 takes 1-1.5 minutes on 2 CPU cores and
            reaches 97.8 % test accuracy with seed 0).
        seed: seeds weight initialisation, dropout, shifts and shuffling.
        cache: load ``mnist_classifier_e{epochs}_s{seed}.keras`` (and its ``.json``)
            from :func:`cache_dir` if present, else train and save them there
            atomically. ``False`` always trains and writes nothing.
        verbose: 1 shows Keras progress bars and where the cache is; 0 is silent.

    Returns:
        a :class:`MnistClassifier`.
    """
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"mnist_classifier: epochs must be a positive integer; got {epochs!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"mnist_classifier: seed must be a non-negative integer; got {seed!r}")
    epochs, seed = int(epochs), int(seed)
    folder = cache_dir()
    model_path = folder / f"mnist_classifier_e{epochs}_s{seed}.keras"
    info_path = model_path.with_suffix(".json")
    if cache:
        loaded = _load_cached(model_path, info_path, epochs, seed, verbose)
        if loaded is not None:
            return loaded

    from ..data.datasets import as_tf_dataset, load_dataset

    x_train, y_train = load_dataset("mnist-embedded", "train", with_labels=True)
    x_test, y_test = load_dataset("mnist-embedded", "test", with_labels=True)
    model = _build_classifier(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    if verbose:
        print(f"mnist_classifier: training {epochs} epochs on {len(x_train)} embedded MNIST digits")
    start = time.perf_counter()
    history = model.fit(as_tf_dataset(x_train, y_train, batch_size=64, seed=seed), epochs=epochs,
                        shuffle=False, verbose=1 if verbose else 0)  # the dataset shuffles
    train_seconds = time.perf_counter() - start
    clf = MnistClassifier(model, test_accuracy=0.0, epochs=epochs, seed=seed, train_seconds=train_seconds)
    clf.test_accuracy = float(np.mean(clf.predict(x_test) == y_test))
    if verbose:
        print(f"mnist_classifier: test accuracy {clf.test_accuracy:.4f} after {train_seconds:.0f} s")
    if cache:
        folder.mkdir(parents=True, exist_ok=True)
        info = {
            "format": _CLASSIFIER_FORMAT,
            "epochs": epochs,
            "seed": seed,
            "test_accuracy": clf.test_accuracy,
            "train_accuracy_last_epoch": float(history.history["accuracy"][-1]),
            "train_seconds": train_seconds,
            "keras_version": keras.__version__,
            "tensorflow_version": tf.__version__,
        }
        _atomic_write(model_path, lambda tmp: model.save(tmp))
        _atomic_write(info_path, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2) + "\n"))
        clf.path = model_path
        if verbose:
            print(f"mnist_classifier: cached in {model_path}")
    return clf


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
        from ..data.datasets import load_dataset

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
    x = _as_float_images(images, name, in_unit_range=True)
    if x.shape[1:] != _MNIST_SHAPE or len(x) < 2:
        raise ValueError(f"{name}: expected images of shape (N >= 2, 28, 28, 1) in [0, 1]; got shape {x.shape}")
    return x


# --------------------------------------------------------------------------- #
# InceptionV3 (needs the ImageNet weights)                                    #
# --------------------------------------------------------------------------- #

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
    x = _as_float_images(images, name, in_unit_range=True)
    if x.shape[-1] not in (1, 3) or len(x) < 2:
        raise ValueError(f"{name}: expected images of shape (N >= 2, H, W, 1 or 3) in [0, 1]; got shape {x.shape}")
    return x
