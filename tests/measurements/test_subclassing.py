"""What a user subclassing ``Operator`` gets from the base class, and the mistakes it refuses early."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import measurements as M

from .cases import IMAGE_SHAPE, OPERATORS, RANDOM, images, params

A = np.random.default_rng(0).standard_normal((64, int(np.prod(IMAGE_SHAPE)))).astype("float32") / 8


class AbsProjection(M.Operator):
    """``y = |A vec(x)|`` with a fixed 64 × n matrix; implements only ``forward``."""

    def forward(self, x, theta):
        return tf.abs(tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), tf.cast(A.T, x.dtype)))


class RandomRowSum(M.Operator):
    """A random operator whose output is not image-shaped: θ-weighted sums of the rows, ``(W, C)``."""

    theta_keys = ("weights",)

    def draw_theta(self, batch_size, seed, image_shape):
        return {"weights": tf.random.stateless_uniform([batch_size, image_shape[0]], seed)}

    def forward(self, x, theta):
        return tf.einsum("nhwc,nh->nwc", x, tf.cast(theta["weights"], x.dtype))


# ---------------------------------------------------------------- sample_theta overrides (item 1)
def test_a_sample_theta_override_without_image_shape_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"MyNoise: expected a random operator to implement draw_theta\(self, "
                                        r"batch_size, seed, image_shape\).*received sample_theta\(self, "
                                        r"batch_size, seed\)"):
        class MyNoise(M.Operator):  # the natural guess of a Keras user
            theta_keys = ("scale",)

            def sample_theta(self, batch_size, seed):
                return {"scale": tf.random.stateless_uniform([batch_size], [seed, 0])}

            def forward(self, x, theta):
                return x * theta["scale"][:, None, None, None]


def test_a_sample_theta_override_without_draw_theta_is_refused():
    with pytest.raises(TypeError, match=r"Sneaky: .*override of sample_theta and no draw_theta"):
        class Sneaky(M.Operator):
            theta_keys = ("scale",)

            def sample_theta(self, batch_size, seed=None, image_shape=None):
                return {"scale": tf.ones([batch_size])}

            def forward(self, x, theta):
                return x * theta["scale"][:, None, None, None]


def test_a_sample_theta_override_with_the_full_signature_and_draw_theta_is_allowed():
    class Logged(M.Operator):
        theta_keys = ("scale",)
        calls = []

        def sample_theta(self, batch_size, seed=None, image_shape=None):
            self.calls.append(batch_size)
            return super().sample_theta(batch_size, seed=seed, image_shape=image_shape)

        def draw_theta(self, batch_size, seed, image_shape):
            return {"scale": tf.random.stateless_uniform([batch_size], seed)}

        def forward(self, x, theta):
            return x * tf.cast(theta["scale"], x.dtype)[:, None, None, None]

    op = Logged(seed=0)
    theta = op.sample_theta(3, seed=1, image_shape=IMAGE_SHAPE)
    assert Logged.calls == [3] and theta["scale"].shape == (3,)
    assert op(images(), theta=theta).shape == (3, *IMAGE_SHAPE)


# ---------------------------------------------------------------- θ without an image shape (item 2)
def test_pad_rotate_project_samples_theta_without_an_image_shape():
    op = M.PadRotateProject(num_angles=2, seed=0)
    theta = op.sample_theta(4, seed=1)
    assert theta["angles"].shape == (4, 2)
    np.testing.assert_array_equal(theta["angles"], op.sample_theta(4, seed=1, image_shape=(28, 28, 1))["angles"])
    np.testing.assert_array_equal(theta["angles"], op.sample_theta(4, 1)["angles"])  # positional seed


@params(RANDOM)
def test_theta_that_does_not_depend_on_the_image_shape_does_not_need_it(make):
    op = make()
    if op.theta_needs_image_shape:
        with pytest.raises(ValueError, match="image shape is unknown; pass image_shape"):
            op.sample_theta(2, seed=0)
        return
    a, b = op.sample_theta(2, seed=0), op.sample_theta(2, seed=0, image_shape=IMAGE_SHAPE)
    assert sorted(a) == sorted(op.theta_keys)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_a_composition_needs_the_image_shape_only_if_a_random_part_does():
    shape_free = M.Compose(M.Identity(), M.PadRotateProject(num_angles=1), seed=0)
    assert shape_free.sample_theta(3, seed=0)["inner/angles"].shape == (3, 1)
    assert M.Compose(M.PadRotateProject(), M.PixelDrop(0.5)).theta_needs_image_shape
    assert M.Compose(M.PixelDrop(0.5), M.PadRotateProject()).theta_needs_image_shape


# ---------------------------------------------------------------- measurement_shape from forward (item 3)
def test_measurement_shape_is_inferred_from_forward():
    op = AbsProjection()
    assert op.measurement_shape(IMAGE_SHAPE) == (64,)
    assert op.measurement_shape(list(IMAGE_SHAPE)) == (64,)  # cached per shape, any sequence
    y = op(images(batch=4))
    assert tuple(y.shape) == (4, 64)
    assert tuple(op.check_measurements(y, IMAGE_SHAPE).shape) == (4, 64)
    with pytest.raises(ValueError, match=r"AbsProjection: expected measurements of shape \(N, 64\); "
                                         r"received shape \(4, 12, 12, 2\)"):
        op.check_measurements(images(batch=4), IMAGE_SHAPE)


def test_measurement_shape_of_a_random_operator_is_inferred_with_a_drawn_theta():
    op = RandomRowSum(seed=0)
    assert op.measurement_shape(IMAGE_SHAPE) == (IMAGE_SHAPE[1], IMAGE_SHAPE[2])
    assert op.measurement_shape((5, 7, 3)) == (7, 3)
    assert tuple(op(images()).shape) == (3, IMAGE_SHAPE[1], IMAGE_SHAPE[2])


@params(OPERATORS)
def test_the_inferred_measurement_shape_equals_every_closed_form(make):
    op = make()
    assert op._infer_measurement_shape(IMAGE_SHAPE) == tuple(op.measurement_shape(IMAGE_SHAPE))


def test_inferred_measurement_shape_in_a_keras_model_and_a_tf_function():
    op = AbsProjection()
    inputs = keras.Input(IMAGE_SHAPE)
    assert tuple(keras.Model(inputs, op(inputs)).output_shape) == (None, 64)

    fresh = AbsProjection()  # not built, nothing cached: inferred while tracing

    @tf.function(autograph=False)
    def flat(x):
        return tf.reshape(fresh(x), [-1, *fresh.measurement_shape(IMAGE_SHAPE)])

    assert tuple(flat(tf.constant(images())).shape) == (3, 64)


def test_an_untraceable_forward_names_the_operator_and_the_fix():
    class Broken(M.Operator):
        def forward(self, x, theta):
            return tf.reshape(x, [-1, 7])  # 12·12·2 is not a multiple of 7

    with pytest.raises(ValueError, match=r"Broken: could not infer measurement_shape from forward on a batch of "
                                         r"one image of shape \(H, W, C\) = \(12, 12, 2\).*Override "
                                         r"measurement_shape"):
        Broken().measurement_shape(IMAGE_SHAPE)
