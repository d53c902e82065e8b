"""Tests for ambient_dcs.networks: shapes, ranges, seeding, spectral norm, discriminator_for, .keras."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import measurements as M
from ambient_dcs import networks as N

RNG = np.random.default_rng(0)


def _z(dim, n=3):
    return RNG.standard_normal((n, dim)).astype("float32")


def _x(shape, n=3):
    return RNG.random((n, *shape)).astype("float32")


# name -> (builder of a seed, inputs, expected output shapes, outputs in [0, 1]?)
CASES = {
    "wgan_g_28": (lambda s: N.mnist_wgan_generator(seed=s), _z(128), [(3, 28, 28, 1)], True),
    "wgan_g_32x3": (lambda s: N.mnist_wgan_generator(16, (32, 32, 3), seed=s), _z(16), [(3, 32, 32, 3)], True),
    "critic_28": (lambda s: N.conv_critic(seed=s), _x((28, 28, 1)), [(3, 1)], False),
    "critic_14": (lambda s: N.conv_critic((14, 14, 1), seed=s), _x((14, 14, 1)), [(3, 1)], False),
    "critic_32x3_sn_11": (lambda s: N.conv_critic((32, 32, 3), seed=s, spectral_norm=True, outputs=11),
                          _x((32, 32, 3)), [(3, 11)], False),
    "mlp_g_28": (lambda s: N.mlp_generator(seed=s), _z(100), [(3, 28, 28, 1)], True),
    "mlp_g_32x3": (lambda s: N.mlp_generator(8, (32, 32, 3), hidden=(32,), seed=s), _z(8), [(3, 32, 32, 3)],
                   True),
    "mlp_d_28_11": (lambda s: N.mlp_discriminator((28, 28, 1), outputs=11, seed=s), _x((28, 28, 1)), [(3, 11)],
                    False),
    "mlp_d_32x3": (lambda s: N.mlp_discriminator((32, 32, 3), hidden=(16, 16), seed=s), _x((32, 32, 3)), [(3, 1)],
                   False),
    "mlp_d_vector": (lambda s: N.mlp_discriminator((25,), outputs=25, seed=s), _z(25), [(3, 25)], False),
    "vae_enc_28": (lambda s: N.vae_encoder(seed=s), _x((28, 28, 1)), [(3, 20), (3, 20)], False),
    "vae_enc_32x3": (lambda s: N.vae_encoder((32, 32, 3), 8, (64,), seed=s), _x((32, 32, 3)), [(3, 8), (3, 8)],
                     False),
    "vae_dec_28": (lambda s: N.vae_decoder(seed=s), _z(20), [(3, 28, 28, 1)], True),
    "vae_dec_32x3": (lambda s: N.vae_decoder(8, (32, 32, 3), (64,), seed=s), _z(8), [(3, 32, 32, 3)], True),
    "dcgan_g_64x3": (lambda s: N.dcgan_generator(seed=s), _z(100), [(3, 64, 64, 3)], True),
    "dcgan_g_32x3": (lambda s: N.dcgan_generator(100, (32, 32, 3), seed=s), _z(100), [(3, 32, 32, 3)], True),
    "dcgan_d_64x3": (lambda s: N.dcgan_discriminator(seed=s), _x((64, 64, 3)), [(3, 1)], False),
    "dcgan_d_32x3": (lambda s: N.dcgan_discriminator((32, 32, 3), seed=s), _x((32, 32, 3)), [(3, 1)], False),
    "dcgan_d_64x3_sn": (lambda s: N.dcgan_discriminator(spectral_norm=True, seed=s), _x((64, 64, 3)), [(3, 1)], False),
    "dcgan_d_32x3_sn": (lambda s: N.dcgan_discriminator((32, 32, 3), True, seed=s), _x((32, 32, 3)), [(3, 1)], False),
    "vector_d": (lambda s: N.vector_discriminator(40, seed=s), _z(40), [(3, 1)], False),
    "vector_d_theta": (lambda s: N.vector_discriminator(40, theta_dim=2, seed=s), [_z(40), _z(2)], [(3, 1)], False),
    "vector_d_theta_sn": (lambda s: N.vector_discriminator(40, 1, (16,), seed=s, spectral_norm=True),
                          [_z(40), _z(1)], [(3, 1)], False),
}


def _outputs(model, inputs):
    out = model(inputs, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.fixture(scope="module")
def built():
    """Each case built once with seed 0 (building the big DCGANs is the slow part)."""
    return {name: case[0](0) for name, case in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_shapes_and_ranges(built, name):
    _, inputs, shapes, unit_range = CASES[name]
    outs = _outputs(built[name], inputs)
    assert [o.shape for o in outs] == shapes
    for o in outs:
        assert o.dtype == np.float32 and np.all(np.isfinite(o))
        if unit_range:
            assert o.min() >= 0.0 and o.max() <= 1.0


@pytest.mark.slow  # 13.5 s
@pytest.mark.parametrize("name", list(CASES))
def test_same_seed_same_weights_and_keras_round_trip(built, name, tmp_path):
    builder, inputs, _, _ = CASES[name]
    model = built[name]
    again = builder(0)
    for a, b in zip(model.weights, again.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    other = builder(1)
    kernels = [w for w in model.trainable_weights if len(w.shape) >= 2]
    assert any(not np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(kernels, [w for w in other.trainable_weights if len(w.shape) >= 2]))

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    for a, b in zip(_outputs(model, inputs), _outputs(loaded, inputs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # identical up to CPU-kernel round-off


def test_unseeded_builds_differ():
    a, b = N.mlp_generator(4, hidden=(8,)), N.mlp_generator(4, hidden=(8,))
    assert not np.array_equal(np.asarray(a.weights[0]), np.asarray(b.weights[0]))


def test_layers_of_one_model_get_distinct_seeds():
    enc = N.vae_encoder(seed=0)  # mu and log_var heads have the same shape
    assert not np.array_equal(np.asarray(enc.get_layer("mu").kernel), np.asarray(enc.get_layer("log_var").kernel))


def test_spectral_norm_variants():
    def kinds(model):
        return {type(layer).__name__ for layer in model.layers}

    sn = N.dcgan_discriminator((32, 32, 3), spectral_norm=True, seed=0)
    assert "SpectralNormalization" in kinds(sn) and "BatchNormalization" not in kinds(sn)
    wrapped = [l for l in sn.layers if isinstance(l, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 4  # 3 convolutions (32 -> 16 -> 8 -> 4) and the Dense
    plain = N.dcgan_discriminator((32, 32, 3), seed=0)
    assert "SpectralNormalization" not in kinds(plain)
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in plain.layers) == 2  # not on the first conv
    critic = N.conv_critic(seed=0, spectral_norm=True)
    assert sum(isinstance(l, keras.layers.SpectralNormalization) for l in critic.layers) == 4
    assert "SpectralNormalization" in kinds(N.vector_discriminator(10, seed=0, spectral_norm=True))
    # Power-iteration vectors are seeded too.
    again = N.dcgan_discriminator((32, 32, 3), spectral_norm=True, seed=0)
    np.testing.assert_array_equal(np.asarray(wrapped[0].vector_u),
                                  np.asarray([l for l in again.layers if hasattr(l, "vector_u")][0].vector_u))
    # A training-mode call normalises the weights and stays finite.
    assert np.all(np.isfinite(np.asarray(sn(_x((32, 32, 3)), training=True))))


def test_architecture_details():
    g = N.mnist_wgan_generator(seed=0)
    assert g.count_params() == 1_554_177  # igul222 MNIST generator
    crop = [l for l in g.layers if isinstance(l, keras.layers.Cropping2D)]
    assert len(crop) == 1 and tuple(map(tuple, crop[0].cropping)) == ((0, 1), (0, 1))
    assert g.get_layer("fc").units == 4096
    d = N.conv_critic(seed=0)
    assert d.get_layer("score").kernel.shape == (4096, 1)  # 4·4·256 features, as the original
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in g.layers + d.layers)
    dg = N.dcgan_generator(seed=0)
    bns = [l for l in dg.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 4 and all(l.momentum == 0.9 and l.epsilon == 1e-5 for l in bns)
    assert [l.filters for l in dg.layers if isinstance(l, keras.layers.Conv2DTranspose)] == [256, 128, 64, 3]
    dg32 = N.dcgan_generator(image_shape=(32, 32, 3), seed=0)
    assert [l.filters for l in dg32.layers if isinstance(l, keras.layers.Conv2DTranspose)] == [256, 128, 3]
    dd = N.dcgan_discriminator(seed=0)
    assert [l.filters for l in dd.layers if isinstance(l, keras.layers.Conv2D)] == [64, 128, 256, 512]
    dd32 = N.dcgan_discriminator((32, 32, 3), seed=0)
    assert [l.filters for l in dd32.layers if isinstance(l, keras.layers.Conv2D)] == [64, 128, 256]
    enc, dec = N.vae_encoder(seed=0), N.vae_decoder(seed=0)
    assert [l.units for l in enc.layers if isinstance(l, keras.layers.Dense)] == [500, 500, 20, 20]
    assert [l.units for l in dec.layers if isinstance(l, keras.layers.Dense)] == [500, 500, 784]
    assert dec.get_layer("logits").output.shape[1:] == (28, 28, 1)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="power of two"):
        N.dcgan_generator(image_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="multiples of 4"):
        N.mnist_wgan_generator(image_shape=(30, 30, 1))
    with pytest.raises(ValueError, match="seed"):
        N.mlp_generator(seed=-1)
    with pytest.raises(ValueError, match="image shape"):
        N.conv_critic((28, 28))
    with pytest.raises(ValueError, match="theta_dim"):
        N.vector_discriminator(10, theta_dim=-1)


def test_discriminator_for_pixel_drop_is_conv_critic():
    op = M.PixelDrop(p=0.5, seed=0)
    d = N.discriminator_for(op, (28, 28, 1), seed=0)
    assert d.name == "conv_critic" and len(d.inputs) == 1 and tuple(d.inputs[0].shape) == (None, 28, 28, 1)
    assert d(op(_x((28, 28, 1)))).shape == (3, 1)


def test_discriminator_for_gaussian_projection_is_vector():
    op = M.GaussianProjection(25, seed=0)
    d = N.discriminator_for(op, (28, 28, 1), seed=0)
    assert d.name == "vector_discriminator" and len(d.inputs) == 1 and tuple(d.inputs[0].shape) == (None, 25)
    assert d(op(_x((28, 28, 1)))).shape == (3, 1)


@pytest.mark.parametrize("num_angles", [1, 3])
def test_discriminator_for_pad_rotate_project_with_theta(num_angles):
    op = M.PadRotateProject(num_angles=num_angles, expose_theta=True, seed=0)
    d = N.discriminator_for(op, (28, 28, 1), seed=0)
    assert [tuple(i.shape) for i in d.inputs] == [(None, num_angles * 40), (None, num_angles)]
    x = _x((28, 28, 1))
    y, theta = op.measure(x, seed=1)
    out = d([tf.reshape(y, [3, -1]), op.theta_features(theta)])  # the trainer's calling convention
    assert out.shape == (3, 1)
    hidden = N.discriminator_for(M.PadRotateProject(seed=0), (28, 28, 1), seed=0)
    assert len(hidden.inputs) == 1


def test_width_and_bilinear_upsampling():
    import keras.layers as L

    g = N.mnist_wgan_generator(16, seed=0, width=0.25, upsampling="bilinear")
    z = np.random.default_rng(0).standard_normal((3, 16)).astype("float32")
    x = np.asarray(g(z))
    assert x.shape == (3, 28, 28, 1) and x.min() >= 0 and x.max() <= 1
    assert not any(isinstance(layer, L.Conv2DTranspose) for layer in g.layers)
    assert [layer.filters for layer in g.layers if isinstance(layer, L.Conv2D)] == [32, 16, 1]
    assert sum(isinstance(layer, L.UpSampling2D) for layer in g.layers) == 3
    # A quarter of the channels: about 1/16 of the weights of the paper's network.
    full = N.mnist_wgan_generator(16, seed=0).count_params()
    assert g.count_params() < full / 8
    assert [layer.filters for layer in N.conv_critic(seed=0, width=0.5).layers if isinstance(layer, L.Conv2D)] == [32, 64, 128]
    with pytest.raises(ValueError, match="upsampling"):
        N.mnist_wgan_generator(upsampling="bicubic")
    with pytest.raises(ValueError, match="width"):
        N.conv_critic(width=0)


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
def test_resize_generator_starts_dark_and_unsaturated(upsampling):
    # Why: started at 0.5 grey, the critic's first updates drive the sigmoid into saturation at 0.
    g = N.mnist_wgan_generator(32, seed=0, width=0.25, upsampling=upsampling)
    x = np.asarray(g(np.random.default_rng(0).standard_normal((64, 32)).astype("float32")))
    expected = 1 / (1 + np.exp(-N.RESIZE_OUTPUT_BIAS))
    assert abs(np.median(x) - expected) < 0.05
    assert np.mean((x < 1e-3) | (x > 1 - 1e-3)) < 0.01
    assert np.std(x, axis=0).mean() > 1e-3  # samples differ from each other
