"""Pixel errors of reconstructions: per-image squared error, ℓ₂ error, per-pixel MSE, PSNR, SSIM, summaries.

Images are NHWC in [0, 1] (NumPy arrays or tensors in, NumPy ``(N,)`` arrays out):

* :func:`per_image_squared_error` -- ``Σ_pixels (x̂ − x)²`` per image, the unit of the Deep
  Compressed Sensing tables; :func:`per_image_l2_error` -- the DCS code's ``‖x̂ − x‖₂`` in [−1, 1];
* :func:`per_pixel_mse` -- the same divided by ``H·W·C``, the unit of the CSGM plots;
* :func:`psnr` -- ``tf.image.psnr`` with peak 1 (``inf`` for a perfect reconstruction);
* :func:`ssim` -- ``tf.image.ssim`` with peak 1, an 11x11 Gaussian window (σ = 1.5),
  so images must be at least 11x11 pixels;
* :func:`summarize` -- mean, standard deviation and 95 % confidence half-width;
* :func:`reconstruction_summary` -- all of the above for one method's reconstructions.

Example:
    >>> summarize(per_image_squared_error(x * 0.9, x))["mean"]
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

__all__ = ["per_image_squared_error", "per_image_l2_error", "per_pixel_mse", "psnr", "ssim", "summarize",
           "reconstruction_summary", "float_images"]

_RANGE_TOLERANCE = 1e-5  # slack on the [0, 1] check of images fed to a classifier
_SSIM_FILTER_SIZE = 11  # tf.image.ssim defaults
_SSIM_FILTER_SIGMA = 1.5


def float_images(x, name: str, *, in_unit_range: bool = False) -> np.ndarray:
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
    x_hat = float_images(x_hat, "x_hat")
    x = float_images(x, "x")
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat and x must have the same shape; got x_hat {x_hat.shape} and x {x.shape}")
    return x_hat, x


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
    x_hat = float_images(x_hat, "x_hat")
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
