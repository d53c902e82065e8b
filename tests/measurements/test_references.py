"""Operators against independent references (SciPy, NumPy) and their defining statistics."""

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

import measurements as M
from measurements.blur import gaussian_kernel

from .cases import images


@pytest.mark.parametrize("sigma,size", [(1.0, 5), (0.7, 3), (2.0, 7)])
def test_gaussian_blur_matches_scipy_with_zero_padding(sigma, size):
    x = images(batch=2, shape=(15, 13, 3), dtype="float64")
    y = M.GaussianBlur(sigma, size, dtype="float64")(x).numpy()
    # Independent kernel: a sampled Gaussian on the same taps, truncated at the same size.
    r = np.arange(size) - (size - 1) / 2
    k = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    k /= k.sum()
    ref = scipy.ndimage.convolve(x, k[None, :, :, None], mode="constant", cval=0.0)
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_super_resolution_is_a_block_mean():
    x = images(batch=2, shape=(12, 8, 3))
    y = M.SuperResolution(4)(x).numpy()
    ref = x.reshape(2, 3, 4, 2, 4, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(y, ref, atol=1e-6)


def _padded(x, pad):
    return np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def test_pad_rotate_project_at_angle_zero_is_a_row_sum():
    x = images(batch=2, shape=(10, 10, 2), dtype="float64")
    op = M.PadRotateProject(num_angles=1, pad=3, dtype="float64")
    y = op.forward(tf.constant(x), {"angles": tf.zeros((2, 1), tf.float64)}).numpy()
    ref = _padded(x, 3).sum(axis=2).reshape(2, -1)
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_pad_rotate_project_default_padding_is_the_originals():
    assert M.PadRotateProject().padding((28, 28, 1)) == 6
    assert M.PadRotateProject().padding((64, 64, 3)) == 14
    assert M.PadRotateProject(num_angles=2).measurement_shape((28, 28, 1)) == (80,)


@pytest.mark.parametrize("angle", [0.4, -1.3, 2.9])
def test_pad_rotate_project_matches_scipy_rotate(angle):
    rng = np.random.default_rng(0)
    img = scipy.ndimage.gaussian_filter(rng.random((16, 16)), 1.0)
    x = img[None, :, :, None]
    op = M.PadRotateProject(num_angles=1, pad=5, dtype="float64")
    y = op.forward(tf.constant(x), {"angles": tf.constant([[angle]], tf.float64)}).numpy()[0]
    rotated = scipy.ndimage.rotate(_padded(x, 5)[0, :, :, 0], np.degrees(angle), reshape=False, order=1,
                                   mode="constant", cval=0.0, prefilter=False)
    ref = rotated.sum(axis=1)
    # Bilinear on both sides: agreement to interpolation round-off, relative to the projection.
    assert np.max(np.abs(y - ref)) < 1e-3 * np.max(np.abs(ref))


def test_two_views_see_different_angles():
    op = M.PadRotateProject(num_angles=2, pad=3)
    theta = op.sample_theta(64, seed=0, image_shape=(10, 10, 1))
    angles = theta["angles"].numpy()
    assert angles.shape == (64, 2)
    assert angles.min() >= -np.pi and angles.max() < np.pi
    assert not np.allclose(angles[:, 0], angles[:, 1])
    assert op.theta_features(theta) is None
    exposed = M.PadRotateProject(num_angles=2, pad=3, expose_theta=True)
    assert exposed.exposes_theta
    np.testing.assert_array_equal(exposed.theta_features(theta), angles)


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9])
def test_pixel_drop_keeps_the_right_fraction_and_rescales(p):
    op = M.PixelDrop(p, seed=0)
    theta = op.sample_theta(200, seed=1, image_shape=(16, 16, 1))
    mask = theta["mask"].numpy()
    kept = mask > 0
    n = kept.size
    # Binomial(n, 1 - p): five standard deviations.
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n) + 1e-12
    np.testing.assert_allclose(mask[kept], 1 / (1 - p), rtol=1e-6)
    x = np.full((200, 16, 16, 1), 0.5, np.float32)
    y = op(x, theta=theta).numpy()
    assert abs(y.mean() - 0.5) < 0.01  # inverted dropout: E[y] = x
    unscaled = M.PixelDrop(p, rescale=False).sample_theta(4, seed=1, image_shape=(16, 16, 1))["mask"].numpy()
    assert set(np.unique(unscaled)) <= {0.0, 1.0}


def test_per_channel_and_shared_pixel_masks():
    x = np.ones((50, 8, 8, 3), np.float32)
    shared = M.PixelDrop(0.5, per_channel=False, seed=0)(x).numpy()
    assert np.all(shared.min(axis=-1) == shared.max(axis=-1))  # a pixel drops in every channel
    per_channel = M.PixelDrop(0.5, per_channel=True, seed=0)(x).numpy()
    assert np.any(per_channel.min(axis=-1) != per_channel.max(axis=-1))


def test_row_and_column_drops_drop_whole_lines():
    x = np.ones((20, 10, 9, 1), np.float32)
    rows = M.RowDrop(0.5, seed=0)(x).numpy()
    assert np.all(rows.min(axis=2) == rows.max(axis=2))
    cols = M.ColumnDrop(0.5, seed=0)(x).numpy()
    assert np.all(cols.min(axis=1) == cols.max(axis=1))
    both = M.RowColumnDrop(0.5, seed=0)(x).numpy()
    assert set(np.unique(both)) <= {0.0, 4.0}  # kept pixels scaled by 1/(1-p)^2


@pytest.mark.parametrize("cls,inside", [(M.BlockDrop, 0.0), (M.KeepPatch, 1.0)])
def test_square_masks_cover_every_position(cls, inside):
    op = cls(3)
    theta = op.sample_theta(2000, seed=0, image_shape=(6, 6, 1))
    mask = theta["mask"].numpy()[..., 0]
    square = mask == inside
    assert np.all(square.sum(axis=(1, 2)) == 9)
    corners = {tuple(np.argwhere(s).min(axis=0)) for s in square}
    # Corners 0..3 on both axes: 16 positions, the last one (3, 3) included (the original missed it).
    assert corners == {(i, j) for i in range(4) for j in range(4)}


def test_extract_patch_is_the_crop_centred_in_zeros():
    x = images(batch=1, shape=(9, 9, 1))
    op = M.ExtractPatch(4)
    y = op.forward(tf.constant(x), {"corner": tf.constant([[5, 2]])}).numpy()
    expected = np.zeros_like(x)
    expected[0, 2:6, 2:6] = x[0, 5:9, 2:6]
    np.testing.assert_array_equal(y, expected)
    corners = op.sample_theta(2000, seed=0, image_shape=(9, 9, 1))["corner"].numpy()
    assert corners.min() == 0 and corners.max() == 5


def test_inpainting_centered_square_hides_the_centre():
    op = M.Inpainting.centered_square((28, 28, 1), 10)
    y = op(np.ones((1, 28, 28, 1), np.float32)).numpy()[0, ..., 0]
    assert y.sum() == 28 * 28 - 100
    assert np.all(y[9:19, 9:19] == 0)


def test_gaussian_projection_is_normalised_and_seeded():
    op = M.GaussianProjection(400, seed=3, image_shape=(10, 10, 1))
    a = op.matrix().numpy()
    assert a.shape == (400, 100)
    assert abs(a.var() - 1 / 400) < 0.05 / 400
    np.testing.assert_array_equal(a, M.GaussianProjection(400, seed=3, image_shape=(10, 10, 1)).matrix())
    x = images(batch=1, shape=(10, 10, 1)).reshape(1, -1)
    np.testing.assert_allclose(op(x.reshape(1, 10, 10, 1)).numpy(), x @ a.T, rtol=1e-4, atol=1e-5)


def test_gaussian_blur_kernel_is_the_originals():
    # AmbientGAN's get_gaussian_filter: np.mgrid[-(s-1)/2 : s/2] taps, normalised.
    s, r = 5, 1.0
    xx, yy = np.mgrid[-(s - 1) / 2:s / 2, -(s - 1) / 2:s / 2]
    g = np.exp(-(xx**2 + yy**2) / (2 * r**2))
    np.testing.assert_allclose(gaussian_kernel(r, s), g / g.sum(), atol=1e-15)


def test_gaussian_noise_moments_and_seeds():
    noise = M.GaussianNoise(0.3, seed=0)
    y = noise(tf.zeros((200, 100))).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 0.3) < 0.01
    np.testing.assert_array_equal(noise(tf.zeros((3, 4)), seed=1), noise(tf.zeros((3, 4)), seed=1))
    assert not np.array_equal(noise(tf.zeros((3, 4))), noise(tf.zeros((3, 4))))


@pytest.mark.parametrize("level", [0.05, 0.4, 2.0])
def test_poisson_noise_moments(level):
    scale = 40.0  # rates 2, 16 and 80: the exact branch and the Gaussian one
    noise = M.PoissonNoise(scale, seed=0)
    y = noise(tf.fill((100000,), level)).numpy()
    counts = y * scale
    rate = level * scale
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)
    assert abs(counts.mean() - rate) < 5 * np.sqrt(rate / counts.size)
    assert abs(counts.var() / rate - 1) < 0.03


def test_poisson_noise_refuses_negative_signals():
    with pytest.raises(ValueError, match="non-negative"):
        M.PoissonNoise(10.0)(tf.constant([[-0.5, 0.2]]))
