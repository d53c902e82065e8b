"""Unmeasure inverses (against independent references) and operators by name."""

import json

import numpy as np
import pytest
import scipy.ndimage
from skimage.restoration import inpaint_biharmonic

import measurements as M
from measurements.unmeasure import MNIST_SIGNAL_POWER, wiener_deconvolution

from .cases import images


def _wiener_reference(y, kernel, noise_std, signal_power):
    """Independent NumPy version: loops over images and channels, builds H with fftshift."""
    n, h, w, c = y.shape
    k = kernel.shape[0]
    psf = np.zeros((h, w))
    top, left = h // 2 - k // 2, w // 2 - k // 2
    psf[top:top + k, left:left + k] = kernel
    big_h = np.fft.fft2(np.fft.ifftshift(psf))
    out = np.empty_like(y)
    for i in range(n):
        for j in range(c):
            spectrum = np.fft.fft2(y[i, :, :, j])
            est = spectrum * np.conj(big_h) / (np.abs(big_h) ** 2 + noise_std**2 / signal_power + 1e-6)
            out[i, :, :, j] = np.real(np.fft.ifft2(est))
    return out


@pytest.mark.parametrize("shape", [(16, 16, 1), (15, 12, 3)])
def test_wiener_matches_an_independent_numpy_implementation(shape):
    op = M.GaussianBlur(1.0, 5, noise=M.GaussianNoise(0.1, seed=0))
    y = op(images(batch=2, shape=shape)).numpy().astype(np.float64)
    ours = wiener_deconvolution(y, op.kernel(), 0.1, MNIST_SIGNAL_POWER)
    np.testing.assert_allclose(ours, _wiener_reference(y, op.kernel(), 0.1, MNIST_SIGNAL_POWER), atol=1e-10)
    auto = M.unmeasure(op, y)
    np.testing.assert_allclose(auto, np.clip(ours, 0, 1), atol=1e-6)


@pytest.mark.parametrize("std", [0.0, 0.1])
def test_wiener_sharpens_a_blurred_digit_like_image(std):
    # A smooth blob on a zero border, as MNIST digits are (circular and zero padding then agree).
    x = np.zeros((4, 28, 28, 1), np.float32)
    x[:, 8:20, 10:18] = 1.0
    x = scipy.ndimage.gaussian_filter(x, (0, 0.7, 0.7, 0))
    op = M.GaussianBlur(1.0, 5, noise=M.GaussianNoise(std, seed=0))
    y = op(x).numpy()
    err_blurred = np.square(y - x).sum()
    err_wiener = np.square(M.unmeasure(op, y) - x).sum()
    # Noiseless: an (almost) exact inverse. Noisy (AmbientGAN's σ = 0.1): still half the error.
    assert err_wiener < (1e-3 if std == 0 else 0.6) * err_blurred


def test_blur_fill_is_a_gaussian_blur_of_the_rescaled_measurement():
    op = M.PixelDrop(0.8, seed=0)
    x = images(batch=2, shape=(10, 10, 1))
    y, theta = op.measure(x, seed=0)
    ours = M.unmeasure(op, y, theta)  # "blur" is the default for PixelDrop
    ref = scipy.ndimage.convolve(y.numpy(), M.blur.gaussian_kernel(1.0, 5)[None, :, :, None], mode="constant")
    np.testing.assert_allclose(ours, np.clip(ref, 0, 1), atol=1e-6)


def test_inpaint_matches_skimage_on_the_unscaled_known_pixels():
    op = M.BlockDrop(4, seed=0)
    x = images(batch=2, shape=(12, 12, 1))
    y, theta = op.measure(x, seed=1)
    ours = M.unmeasure(op, y, theta)
    missing = theta["mask"].numpy()[..., 0] == 0
    for i in range(2):
        ref = inpaint_biharmonic(np.where(missing[i][..., None], 0, x[i]).astype(np.float64), missing[i],
                                 channel_axis=-1)
        np.testing.assert_allclose(ours[i], np.clip(ref, 0, 1), atol=1e-5)
    observed = ~missing[..., None]
    np.testing.assert_allclose(ours[observed], x[observed], atol=1e-6)


def test_auto_methods_and_errors():
    assert M.available_methods(M.GaussianBlur()) == ["wiener", "pinv"]
    assert M.available_methods(M.PixelDrop(0.5)) == ["blur", "inpaint", "pinv"]
    assert M.available_methods(M.BlockDrop(3)) == ["inpaint", "pinv"]
    assert M.available_methods(M.ExtractPatch(3)) == []
    assert M.available_methods(M.LearnedNetwork(3)) == []
    op = M.ExtractPatch(3)
    y, theta = op.measure(images())
    with pytest.raises(ValueError, match="ExtractPatch.*location is hidden"):
        M.unmeasure(op, y, theta)
    with pytest.raises(ValueError, match=r"'wiener' does not fit PixelDrop"):
        M.unmeasure(M.PixelDrop(0.5, image_shape=(12, 12, 2)), images(), {"mask": np.ones((3, 12, 12, 2))},
                    method="wiener")
    with pytest.raises(ValueError, match="is random; pass the θ"):
        M.unmeasure(M.PixelDrop(0.5, image_shape=(12, 12, 2)), images())
    with pytest.raises(ValueError, match="expected method 'auto' or one of"):
        M.unmeasure(M.Identity(image_shape=(12, 12, 2)), images(), method="magic")


def test_pinv_unmeasure_of_superresolution_repeats_blocks():
    op = M.SuperResolution(2, image_shape=(4, 4, 1))
    y = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1) / 4
    np.testing.assert_allclose(M.unmeasure(op, y)[0, :, :, 0], np.kron(y[0, :, :, 0], np.ones((2, 2))))


def test_get_builds_operators_by_name_with_noise():
    op = M.get("PixelDrop", p=0.9, noise={"GaussianNoise": {"std": 0.1}}, seed=2)
    assert isinstance(op, M.PixelDrop) and op.p == 0.9 and op.noise.std == 0.1
    clone = M.from_config(json.loads(json.dumps(M.config_of(op))))
    assert clone.get_config() == op.get_config()


def test_get_refuses_unknown_names_and_arguments():
    with pytest.raises(ValueError, match="unknown operator 'PixelDorp'.*Did you mean 'PixelDrop'"):
        M.get("PixelDorp", p=0.5)
    with pytest.raises(ValueError, match=r"PixelDrop: unknown argument\(s\) \['q'\]"):
        M.get("PixelDrop", q=0.5)
    with pytest.raises(ValueError, match="unknown noise model 'Salt'"):
        M.get("Identity", noise={"Salt": {}})
    with pytest.raises(ValueError, match="PixelDrop: .*missing 1 required positional argument: 'p'"):
        M.get("PixelDrop")
