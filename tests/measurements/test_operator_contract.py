"""Generic tests: every operator in ``cases.OPERATORS`` must honour the operator contract."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import measurements as M
from measurements.testing import check_adjoint, check_pseudo_inverse

from .cases import IMAGE_SHAPE, LINEAR, OPERATORS, RANDOM, images, params


@params(OPERATORS)
def test_output_shape_is_measurement_shape(make):
    op = make()
    y = op(images())
    assert tuple(y.shape) == (3, *op.measurement_shape(IMAGE_SHAPE))
    assert np.all(np.isfinite(y))


@params(OPERATORS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_preserved(make, dtype):
    op = make(dtype=dtype)
    x = images(dtype=dtype)
    y = op(x)
    assert y.dtype == dtype
    theta = op.sample_theta(3, seed=1, image_shape=IMAGE_SHAPE)
    assert op.forward(tf.constant(x), theta).dtype == dtype


@params(RANDOM)
def test_theta_is_reproducible_from_a_seed(make):
    op = make()
    a = op.sample_theta(4, seed=7, image_shape=IMAGE_SHAPE)
    b = op.sample_theta(4, seed=7, image_shape=IMAGE_SHAPE)
    c = op.sample_theta(4, seed=8, image_shape=IMAGE_SHAPE)
    assert sorted(a) == sorted(op.theta_keys)
    for key in a:
        assert a[key].shape[0] == 4
        np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a[k], c[k]) for k in a)


@params(RANDOM)
def test_theta_is_drawn_fresh_on_each_call(make):
    op = make()
    x = images(batch=4)
    y1, y2 = op(x), op(x)
    assert not np.allclose(y1, y2)
    # ... and the draws differ between examples of one batch.
    theta = op.sample_theta(8, image_shape=IMAGE_SHAPE)
    key = op.theta_keys[0]
    assert any(not np.array_equal(theta[key][0], theta[key][i]) for i in range(1, 8))


@params(OPERATORS)
def test_a_call_seed_makes_the_measurement_reproducible(make):
    op = make()
    x = images()
    np.testing.assert_array_equal(op(x, seed=5), op(x, seed=5))
    y, theta = op.measure(x, seed=11)
    y_again, theta_again = op.measure(x, seed=11)
    np.testing.assert_array_equal(y, y_again)
    for key in theta:
        np.testing.assert_array_equal(theta[key], theta_again[key])
    if op.noise is None:  # a given θ reproduces the clean measurement exactly
        np.testing.assert_allclose(op(x, theta=theta), y, rtol=1e-6, atol=1e-6)


@params(OPERATORS)
def test_gradients_are_finite(make):
    op = make()
    x = tf.constant(images())
    theta = op.sample_theta(3, seed=0, image_shape=IMAGE_SHAPE)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.square(op(x, theta=theta)))
    grads = tape.gradient(loss, [x, *op.trainable_variables])
    assert grads[0] is not None and np.all(np.isfinite(grads[0]))
    assert float(tf.reduce_sum(tf.abs(grads[0]))) > 0
    for g in grads[1:]:  # learned measurements train
        assert g is not None and np.all(np.isfinite(g))


def test_learned_operators_have_trainable_weights():
    for op in (M.LearnedLinear(5), M.LearnedNetwork(5, hidden=(8,))):
        op(images())
        assert op.trainable_variables
    fixed = M.GaussianProjection(5)
    fixed(images())
    assert not fixed.trainable_variables and fixed.non_trainable_variables


@params(LINEAR)
def test_dot_test(make):
    assert check_adjoint(make(), image_shape=IMAGE_SHAPE, batch_size=3) < 1e-5


@params(LINEAR)
def test_closed_form_adjoint_equals_autodiff_adjoint(make):
    op = make(dtype="float64")
    op.ensure_built(IMAGE_SHAPE)
    theta = op.sample_theta(2, seed=3, image_shape=IMAGE_SHAPE)
    y = tf.constant(np.random.default_rng(1).standard_normal((2, *op.measurement_shape(IMAGE_SHAPE))))
    np.testing.assert_allclose(op.adjoint(y, theta), op.autodiff_adjoint(y, theta), atol=1e-10)


@pytest.mark.slow  # 8.6 s
@params(LINEAR)
def test_pseudo_inverse_recovers_the_row_space(make):
    op = make()
    # Closed forms are exact; the conjugate-gradient fallback (blur, rotation) converges to ~1e-4.
    assert check_pseudo_inverse(op, image_shape=IMAGE_SHAPE) < 1e-3


@pytest.mark.slow  # 14.7 s
@params(LINEAR)
def test_pseudo_inverse_fits_the_measurements(make):
    """A A⁺ y = y for y in the range of A (consistency of the least-squares solution)."""
    op = make(dtype="float64")
    op.ensure_built(IMAGE_SHAPE)
    x = tf.constant(images(batch=2, dtype="float64"))
    theta = op.sample_theta(2, seed=0, image_shape=IMAGE_SHAPE)
    y = op.forward(x, theta)
    np.testing.assert_allclose(op.forward(op.pseudo_inverse(y, theta), theta), y, atol=2e-3 * float(tf.reduce_max(tf.abs(y))))


@params(OPERATORS)
def test_config_round_trip(make):
    op = make()
    op.ensure_built(IMAGE_SHAPE)
    config = M.config_of(op)
    clone = M.from_config(config)
    assert type(clone) is type(op)
    assert clone.get_config() == op.get_config()
    clone.ensure_built(IMAGE_SHAPE)
    clone.set_weights(op.get_weights())
    x = tf.constant(images())
    theta = op.sample_theta(3, seed=0, image_shape=IMAGE_SHAPE)
    np.testing.assert_allclose(clone.forward(x, theta), op.forward(x, theta), rtol=1e-6, atol=1e-6)


@params(OPERATORS)
def test_saved_inside_a_keras_model(make, tmp_path):
    op = make()
    inputs = keras.Input(IMAGE_SHAPE)
    model = keras.Model(inputs, op(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = loaded.layers[-1]
    assert type(restored) is type(op)
    x = tf.constant(images())
    theta = op.sample_theta(3, seed=0, image_shape=IMAGE_SHAPE)
    np.testing.assert_allclose(restored.forward(x, theta), op.forward(x, theta), rtol=1e-6, atol=1e-6)
    assert tuple(loaded(x).shape) == (3, *op.measurement_shape(IMAGE_SHAPE))


@pytest.mark.slow  # 22.2 s
@params(OPERATORS)
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_works_inside_tf_function(make, jit_compile):
    op = make()
    x = tf.constant(images())
    op.ensure_built(IMAGE_SHAPE)
    theta = op.sample_theta(3, seed=0, image_shape=IMAGE_SHAPE)

    @tf.function(jit_compile=jit_compile)
    def measure(x, theta):
        return op.forward(x, theta), op(x)  # a given θ, and θ drawn inside the graph

    clean, drawn = measure(x, theta)
    np.testing.assert_allclose(clean, op.forward(x, theta), rtol=1e-5, atol=1e-5)
    assert tuple(drawn.shape) == (3, *op.measurement_shape(IMAGE_SHAPE))
    assert np.all(np.isfinite(drawn))
