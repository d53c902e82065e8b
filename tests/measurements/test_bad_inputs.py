"""Bad input raises ValueError naming the operator, what it expected and what it received."""

import numpy as np
import pytest
import tensorflow as tf

import measurements as M

from .cases import IMAGE_SHAPE, OPERATORS, images, params


@params(OPERATORS)
def test_wrong_rank(make):
    with pytest.raises(ValueError, match=r"rank 4 \(N, H, W, C\).*received shape \(12, 12, 2\)"):
        make()(images()[0])


@params(OPERATORS)
def test_integer_images(make):
    with pytest.raises(ValueError, match="floating-point.*received dtype uint8"):
        make()((images() * 255).astype(np.uint8))


@params(OPERATORS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_images(make, bad):
    x = images()
    x[1, 2, 3, 0] = bad
    with pytest.raises(ValueError, match="finite images; received 1 NaN/Inf"):
        make()(x)


@params([(n, m) for n, m in OPERATORS if m().is_random])
def test_theta_batch_differs_from_images(make):
    op = make()
    theta = op.sample_theta(5, seed=0, image_shape=IMAGE_SHAPE)
    with pytest.raises(ValueError, match=r"one entry per example \(leading size 3"):
        op(images(batch=3), theta=theta)


@params([(n, m) for n, m in OPERATORS if m().fixed_image_shape])
def test_wrong_image_size_for_a_built_operator(make):
    op = make()
    op(images())
    with pytest.raises(ValueError, match=r"expected images of shape .*12, 12, 2.*received \(10, 12, 2\)"):
        op(images(shape=(10, 12, 2)))


def test_missing_theta_keys():
    with pytest.raises(ValueError, match=r"missing key\(s\) \['mask'\]"):
        M.PixelDrop(0.5)(images(), theta={"angles": np.zeros((3, 1))})


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, "a lot"])
@pytest.mark.parametrize("cls", [M.PixelDrop, M.RowDrop, M.ColumnDrop, M.RowColumnDrop])
def test_drop_probability_out_of_range(cls, p):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected p .*\[0, 1\)"):
        cls(p)


@pytest.mark.parametrize("cls", [M.BlockDrop, M.KeepPatch, M.ExtractPatch])
def test_square_larger_than_the_image(cls):
    with pytest.raises(ValueError, match=r"size=13 for images of shape \(12, 12, 2\)"):
        cls(13)(images())
    with pytest.raises(ValueError, match="integer >= 1"):
        cls(0)


@pytest.mark.parametrize("m", [0, -3, 2.5])
@pytest.mark.parametrize("cls", [M.GaussianProjection, M.LearnedLinear, M.LearnedNetwork])
def test_num_measurements_below_one(cls, m):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected num_measurements to be an integer >= 1"):
        cls(m)


def test_other_nonsense_parameters():
    with pytest.raises(ValueError, match="sigma > 0"):
        M.GaussianBlur(sigma=0)
    with pytest.raises(ValueError, match="divisible by factor=5"):
        M.SuperResolution(5)(images())
    with pytest.raises(ValueError, match="std >= 0"):
        M.GaussianNoise(-1)
    with pytest.raises(ValueError, match="NoiseModel"):
        M.PixelDrop(0.5, noise=0.1)
    with pytest.raises(ValueError, match="noise-free parts"):
        M.Compose(M.Identity(noise=M.GaussianNoise(0.1)), M.Identity())
    with pytest.raises(ValueError, match="mask of shape"):
        M.Inpainting(np.ones(5))
    with pytest.raises(ValueError, match=r"expected images of shape \(12, 12, C\)"):
        M.Inpainting(np.ones((12, 12)))(images(shape=(10, 10, 1)))


def test_sample_theta_without_an_image_shape():
    with pytest.raises(ValueError, match="image shape is unknown; pass image_shape"):
        M.PixelDrop(0.5).sample_theta(4)


def test_adjoint_of_a_random_operator_needs_theta():
    op = M.PixelDrop(0.5)
    op(images())
    with pytest.raises(ValueError, match="needs the θ"):
        op.adjoint(images())


def test_adjoint_of_a_nonlinear_composition():
    op = M.Compose(M.LearnedNetwork(4, hidden=(3,)), M.Identity())
    op(images())
    assert not op.is_linear
    with pytest.raises(TypeError, match="LearnedNetwork is not linear"):
        op.adjoint(tf.zeros((1, 4)))


def test_measurements_of_the_wrong_shape():
    op = M.GaussianProjection(10, image_shape=IMAGE_SHAPE)
    with pytest.raises(ValueError, match=r"expected measurements of shape \(N, 10\); received shape \(4, 11\)"):
        op.check_measurements(np.zeros((4, 11), np.float32))
    with pytest.raises(ValueError, match="finite measurements"):
        op.check_measurements(np.full((4, 10), np.nan, np.float32))


@pytest.mark.parametrize("value", [True, np.bool_(True), 2.0, "3", -1, None])
def test_the_one_integer_check_refuses_bools_floats_strings_and_small_values(value):
    from measurements.validation import check_int

    with pytest.raises(ValueError, match=rf"Owner: expected n to be an integer >= 0; received {value!r}"):
        check_int(value, "Owner", "n", 0)


def test_the_one_integer_check_accepts_numpy_integers():
    from measurements.validation import check_int, check_positive_int

    assert check_int(np.int64(3), "Owner", "n", 1) == 3 and type(check_int(np.uint8(0), "Owner", "n")) is int
    with pytest.raises(ValueError, match="integer >= 1; received 0"):
        check_positive_int(0, "Owner", "n")


def test_noise_std_of_reads_the_gaussian_noise_model_and_refuses_others():
    assert M.noise_std_of(M.GaussianBlur(1.0)) == 0.0
    assert M.noise_std_of(M.PixelDrop(0.5, noise=M.GaussianNoise(0.25))) == 0.25
    with pytest.raises(ValueError, match="GaussianBlur.*received PoissonNoise"):
        M.noise_std_of(M.GaussianBlur(1.0, noise=M.PoissonNoise(10.0)))
