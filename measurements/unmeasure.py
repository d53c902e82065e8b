""""Unmeasure" inverses: classical estimates of ``x`` from ``y`` that need no training.

They are the second baseline of the AmbientGAN paper (invert the measurements, then train an
ordinary GAN on the result) and the classical inverses the main recipe compares against.

============  ==========================================  =====================================
method        for                                         what it does
============  ==========================================  =====================================
``wiener``    ``GaussianBlur`` (+ ``GaussianNoise``)      FFT Wiener deconvolution, noise-to-
                                                          signal ratio ``σ² / signal_power``
``blur``      ``PixelDrop``, ``RowDrop``, ``ColumnDrop``  5×5 Gaussian (σ = 1) blur of the
              ``RowColumnDrop``                           rescaled measurement (fills holes)
``inpaint``   any mask operator                           biharmonic inpainting of the missing
                                                          pixels (``skimage``)
``pinv``      any linear operator                         the pseudo-inverse ``A⁺ y``
============  ==========================================  =====================================

``method="auto"`` picks the first fitting row. Results are clipped to [0, 1].

Example:
    >>> op = PixelDrop(0.8, seed=0)
    >>> y, theta = op.measure(images)
    >>> x_hat = unmeasure(op, y, theta)          # "blur" for pixel drop
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.ndimage
from skimage.restoration import inpaint_biharmonic

from .blur import GaussianBlur, gaussian_kernel
from .masks import ColumnDrop, MaskOperator, PixelDrop, RowColumnDrop, RowDrop
from .noise import GaussianNoise
from .patches import ExtractPatch

#: Mean of x² over the MNIST training images in [0, 1], as in AmbientGAN (for the Wiener filter).
MNIST_SIGNAL_POWER = 0.11204461

METHODS = ("wiener", "blur", "inpaint", "pinv")


def available_methods(op):
    """The unmeasure methods that fit ``op``, best first (``[]`` if none)."""
    methods = []
    if isinstance(op, GaussianBlur):
        methods.append("wiener")
    if isinstance(op, (PixelDrop, RowDrop, ColumnDrop, RowColumnDrop)):
        methods.append("blur")
    if isinstance(op, MaskOperator):
        methods.append("inpaint")
    if op.is_linear and not isinstance(op, ExtractPatch):
        methods.append("pinv")
    return methods


def unmeasure(op, y, theta=None, method="auto", signal_power=MNIST_SIGNAL_POWER, clip=True):
    """Estimates images from measurements with a classical inverse.

    Args:
        op: the operator that produced ``y``.
        y: measurements ``(N, *op.measurement_shape(image_shape))``.
        theta: the θ that produced ``y`` (needed by random operators).
        method: ``"auto"`` or one of :data:`METHODS` (see the module docstring).
        signal_power: mean of ``x²`` of the clean images, for the Wiener filter's noise-to-signal
            ratio (default: MNIST's).
        clip: clip the estimate to [0, 1].

    Returns:
        A float32 NumPy array ``(N, H, W, C)``.

    Raises:
        ValueError: if no inverse fits the operator, or ``method`` does not fit it.
    """
    name = type(op).__name__
    fitting = available_methods(op)
    if method == "auto":
        if not fitting:
            reason = ("the patch location is hidden from the measurement" if isinstance(op, ExtractPatch)
                      else "it is not linear" if not op.is_linear else "none is implemented")
            raise ValueError(f"unmeasure: no inverse fits {name} ({reason}); methods are {list(METHODS)}.")
        method = fitting[0]
    if method not in METHODS:
        raise ValueError(f"unmeasure: expected method 'auto' or one of {list(METHODS)}; received {method!r}.")
    if method not in fitting:
        raise ValueError(
            f"unmeasure: method {method!r} does not fit {name}; methods that fit: {fitting or 'none'}.")
    if op.is_random and theta is None:
        raise ValueError(f"unmeasure: {name} is random; pass the θ that produced y (keys {list(op.theta_keys)}).")
    y = op.check_measurements(y)
    theta = theta or {}
    if method == "wiener":
        x = wiener_deconvolution(np.asarray(y), op.kernel(), _noise_std(op), signal_power)
    elif method == "blur":
        x = blur_fill(np.asarray(y), np.asarray(op.observed(theta)))
    elif method == "inpaint":
        x = inpaint(np.asarray(op.pseudo_inverse(y, theta)), np.asarray(op.observed(theta)))
    else:
        x = np.asarray(op.pseudo_inverse(y, theta))
    x = x.astype(np.float32)
    return np.clip(x, 0.0, 1.0) if clip else x


def _noise_std(op):
    if op.noise is None:
        return 0.0
    if isinstance(op.noise, GaussianNoise):
        return op.noise.std
    raise ValueError(f"unmeasure: the Wiener filter needs Gaussian noise; received {type(op.noise).__name__}.")


def wiener_deconvolution(y, kernel, noise_std, signal_power=MNIST_SIGNAL_POWER):
    """Circular FFT Wiener deconvolution, per image and channel.

    ``X̂ = Y · conj(H) / (|H|² + σ²/P + 1e-6)`` where ``H`` is the FFT of ``kernel`` centred at the
    origin of an image-sized grid (AmbientGAN's ``wiener_deconv``).

    Args:
        y: blurred images ``(N, H, W, C)``.
        kernel: the ``(k, k)`` blur filter.
        noise_std: σ of the additive noise.
        signal_power: P, the mean of ``x²`` of clean images.
    """
    _, h, w, _ = y.shape
    k = kernel.shape[0]
    psf = np.zeros((h, w))
    psf[:k, :k] = kernel
    psf = np.roll(psf, (-(k // 2), -(k // 2)), axis=(0, 1))  # centre tap at pixel (0, 0)
    transfer = scipy.fft.fft2(psf)[None, :, :, None]
    nsr = noise_std**2 / signal_power
    spectrum = scipy.fft.fft2(y, axes=(1, 2))
    estimate = spectrum * np.conj(transfer) / (np.abs(transfer) ** 2 + nsr + 1e-6)
    return np.real(scipy.fft.ifft2(estimate, axes=(1, 2)))


def blur_fill(y, observed, sigma=1.0, size=5):
    """AmbientGAN's "blur" unmeasure: blur each channel that has missing pixels (5×5, σ = 1).

    Channels with nothing missing are returned unchanged. With inverted-dropout rescaling the
    blurred, rescaled measurement approximates a local mean of the image.
    """
    kernel = gaussian_kernel(sigma, size)[None, :, :, None]
    blurred = scipy.ndimage.convolve(y, kernel, mode="constant", cval=0.0)
    has_holes = (~observed).any(axis=(1, 2), keepdims=True)
    return np.where(has_holes, blurred, y)


def inpaint(x_known, observed):
    """Fills pixels missing in any channel with ``skimage.restoration.inpaint_biharmonic``."""
    out = np.array(x_known, dtype=np.float64)
    missing = ~np.broadcast_to(observed, out.shape).all(axis=-1)  # a pixel is unknown if any of its channels is
    for i in range(out.shape[0]):  # skimage inpaints one image at a time
        if missing[i].any() and not missing[i].all():
            out[i] = inpaint_biharmonic(out[i], missing[i], channel_axis=-1)
    return out
