"""Network builders: generators, critics / discriminators and VAE encoders / decoders.

Every builder returns a functional ``keras.Model``. Images are NHWC float32 in **[0, 1]** at
every boundary: generators end in a sigmoid (the original CelebA DCGAN and DCS generators end in
tanh in [-1, 1]; ``sigmoid(2a) = (tanh(a) + 1) / 2``, so a sigmoid head is the same family of
functions mapped to [0, 1]). Discriminators output unbounded scores (WGAN critic values or
logits).

Seeding: ``seed=None`` draws fresh random weights; an int gives every layer its own initialiser
seed derived from it, so the same seed builds the same weights (including the power-iteration
vectors of ``keras.layers.SpectralNormalization``). Biases start at zero.

Summary (defaults in brackets):

==========================  ==============================================================
builder                     origin
==========================  ==============================================================
``mnist_wgan_generator``    AmbientGAN / igul222 MNIST WGAN-GP generator, z(128) → 28×28×1
``conv_critic``             AmbientGAN MNIST WGAN-GP critic, any (H, W, C)
``mlp_generator``           DCS ``MLPGeneratorNet``, z(100) → 500 → 500 → 784
``mlp_discriminator``       DCS ``MLPMetricNet`` (measurement net / discriminator / classifier)
``vae_encoder`` / ``_decoder``  CSGM ``mnist-vae``, 784 → 500 → 500 → 20 and back
``dcgan_generator`` / ``dcgan_discriminator``  carpedm20 / Bora et al. CelebA DCGAN (64×64×3, 32×32×3)
``vector_discriminator``    AmbientGAN ``discriminator_fc`` for vector measurements (+ θ)
``discriminator_for``       picks the discriminator for an operator's measurements
==========================  ==============================================================

Example:
    >>> import measurements as M
    >>> G = mnist_wgan_generator(seed=0)
    >>> x = G(keras.random.normal((8, 128), seed=1))          # (8, 28, 28, 1) in [0, 1]
    >>> op = M.PixelDrop(p=0.9)
    >>> D = discriminator_for(op, (28, 28, 1), seed=0)        # a conv critic
    >>> D(op(x)).shape
    TensorShape([8, 1])
"""

from __future__ import annotations

import math

import keras
import numpy as np

from measurements.validation import check_int

__all__ = [
    "mnist_wgan_generator",
    "conv_critic",
    "mlp_generator",
    "mlp_discriminator",
    "vae_encoder",
    "vae_decoder",
    "dcgan_generator",
    "dcgan_discriminator",
    "vector_discriminator",
    "discriminator_for",
    "mlp_bn_generator",
]

_LEAK = 0.2  # LeakyReLU slope of every original network (tf.nn.leaky_relu default, carpedm20 lrelu)
_BN = dict(momentum=0.9, epsilon=1e-5)  # carpedm20 batch_norm(decay=0.9, epsilon=1e-5, scale=True)


# --------------------------------------------------------------------------- #
# Helpers                                                                     #
# --------------------------------------------------------------------------- #


class _Seeds:
    """Distinct, reproducible initialiser seeds derived from one model seed (None → None)."""

    def __init__(self, seed):
        self.seed = None if seed is None else check_int(seed, "network builder", "seed", 0)
        self._count = 0

    def __call__(self):
        if self.seed is None:
            return None
        self._count += 1
        state = np.random.SeedSequence([self.seed, self._count]).generate_state(1)[0]
        return int(state & 0x7FFFFFFF)


def _image_shape(shape, what):
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise ValueError(f"{what}: expected an image shape (H, W, C); received {shape!r}.") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{what}: expected an image shape (H, W, C) of positive sizes; received {shape!r}.")
    return shape


def _positive_int(value, what, name):
    return check_int(value, what, name, 1)


def _hidden(hidden, what):
    try:
        hidden = tuple(_positive_int(h, what, "every hidden width") for h in hidden)
    except TypeError:
        raise ValueError(f"{what}: expected hidden to be a sequence of positive ints; received {hidden!r}.") from None
    return hidden


def _widths(channels, width, what):
    """``channels`` scaled by ``width`` (> 0), at least one channel each."""
    try:
        width = float(width)
    except (TypeError, ValueError):
        width = float("nan")
    if not (math.isfinite(width) and width > 0):
        raise ValueError(f"{what}: expected width to be a positive number (channel multiplier); received {width!r}.")
    return tuple(max(1, int(round(c * width))) for c in channels)


def _he_uniform(seeds):
    """wganlib "he" init: uniform with std sqrt(4 / (fan_in + fan_out))."""
    return keras.initializers.VarianceScaling(2.0, mode="fan_avg", distribution="uniform", seed=seeds())


def _sonnet_default(fan_in, seeds):
    """Sonnet 1 default: truncated normal (±2σ) with σ = 1/sqrt(fan_in)."""
    return keras.initializers.TruncatedNormal(stddev=1.0 / math.sqrt(fan_in), seed=seeds())


def _maybe_sn(layer, spectral_norm):
    return keras.layers.SpectralNormalization(layer) if spectral_norm else layer


def _seed_spectral_norm(model, seeds):
    """Redraws each SpectralNormalization power-iteration vector ``u`` from the model seed.

    Keras initialises ``u`` with an unseeded TruncatedNormal(0.02); this makes it reproducible.
    """
    if seeds.seed is None:
        return model
    for layer in model.layers:
        if isinstance(layer, keras.layers.SpectralNormalization):
            u = layer.vector_u
            u.assign(keras.random.truncated_normal(u.shape, stddev=0.02, dtype=u.dtype, seed=seeds()))
    return model


def _dense(units, init, name=None, spectral_norm=False, **kwargs):
    return _maybe_sn(keras.layers.Dense(units, kernel_initializer=init, name=name, **kwargs), spectral_norm)


# --------------------------------------------------------------------------- #
# AmbientGAN MNIST WGAN-GP                                                    #
# --------------------------------------------------------------------------- #


UPSAMPLINGS = ("transpose", "nearest", "bilinear")
#: Initial pre-sigmoid bias of the resize-convolution generator's output: sigmoid(−2) ≈ 0.12, about MNIST's mean.
RESIZE_OUTPUT_BIAS = -2.0


def mnist_wgan_generator(latent_dim=128, image_shape=(28, 28, 1), seed=None, width=1.0, upsampling="transpose"):
    """AmbientGAN / igul222 MNIST WGAN-GP generator ``z → x``.

    Dense 4·4·256, ReLU, reshape (4, 4, 256); Conv2DTranspose 5×5 s2 → 128 ch 8×8, ReLU; crop to
    7×7 (the first 7 rows and columns, as ``output[:, :, :7, :7]`` in the original); Conv2DTranspose
    5×5 s2 → 64 ch 14×14, ReLU; Conv2DTranspose 5×5 s2 → C ch 28×28, sigmoid. No normalisation.
    Init as wganlib: Dense Glorot uniform, transposed convolutions uniform with std
    ``sqrt(4 / (fan_in + fan_out))`` (Keras counts fans without the stride factor).

    Other sizes work when H and W are multiples of 4: the first stage starts at
    ``ceil(H/8) × ceil(W/8)`` and is cropped to ``H/4 × W/4`` when needed (32×32: 4 → 8 → 16 → 32,
    no crop).

    Args:
        latent_dim: size of ``z`` (the original requires 128).
        image_shape: ``(H, W, C)`` of the output images, H and W multiples of 4.
        seed: initialiser seed (None: random).
        width: channel multiplier (1.0: the original 256/128/64 channels; 0.25: 64/32/16, about
            16× fewer FLOPs, which is what a CPU can train in minutes).
        upsampling: ``"transpose"`` (the original: 5×5 transposed convolutions, stride 2), or a
            resize-convolution: ``"nearest"`` or ``"bilinear"`` ×2 upsampling then a 5×5
            convolution, the same channels. Transposed convolutions start with checkerboard
            patterns; a measurement that removes high frequencies (a blur) gives the generator no
            gradient against them, so they can stay. Resize-convolutions start smooth and stay
            smooth there (Odena et al., 2016, "Deconvolution and checkerboard artifacts").
            ``"nearest"`` is 3× cheaper than ``"bilinear"`` on a CPU (the bilinear resize's
            gradient is slow there). Their output layer starts dark and unsaturated
            (Glorot-uniform kernel, bias ``RESIZE_OUTPUT_BIAS`` = −2, sigmoid ≈ 0.12):
            started at 0.5 grey with He initialisation, a critic that sees noisy blurred digits
            first pushes the brightness down so hard that the sigmoid saturates at 0 and every
            sample stays black (``docs/results/lab_notes.md``).

    Shapes:
        input ``(N, latent_dim)``, output ``(N, H, W, C)`` float32 in [0, 1].

    Example:
        >>> G = mnist_wgan_generator(seed=0)
        >>> G(np.zeros((2, 128), "float32")).shape
        TensorShape([2, 28, 28, 1])
    """
    what = "mnist_wgan_generator"
    latent_dim = _positive_int(latent_dim, what, "latent_dim")
    h, w, c = _image_shape(image_shape, what)
    if h % 4 or w % 4:
        raise ValueError(f"{what}: expected H and W to be multiples of 4; received image_shape {image_shape!r}.")
    channels = _widths((256, 128, 64), width, what)
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"{what}: expected upsampling in {UPSAMPLINGS}; received {upsampling!r}.")
    seeds = _Seeds(seed)
    h4, w4 = h // 4, w // 4
    h0, w0 = -(-h4 // 2), -(-w4 // 2)

    def deconv(ch, activation, name):
        if upsampling != "transpose":
            up = keras.layers.UpSampling2D(2, interpolation=upsampling, name=f"{name}_up")
            init = dict(kernel_initializer=_he_uniform(seeds))
            if activation == "sigmoid":  # the output layer: start dark, unsaturated (see the docstring)
                init = dict(kernel_initializer=keras.initializers.GlorotUniform(seeds()),
                            bias_initializer=keras.initializers.Constant(RESIZE_OUTPUT_BIAS))
            conv = keras.layers.Conv2D(ch, 5, padding="same", activation=activation, name=name, **init)
            return lambda t: conv(up(t))
        return keras.layers.Conv2DTranspose(
            ch, 5, strides=2, padding="same", activation=activation,
            kernel_initializer=_he_uniform(seeds), name=name)

    z = keras.Input((latent_dim,), name="z")
    t = keras.layers.Dense(h0 * w0 * channels[0], activation="relu", name="fc",
                           kernel_initializer=keras.initializers.GlorotUniform(seeds()))(z)
    t = keras.layers.Reshape((h0, w0, channels[0]))(t)
    t = deconv(channels[1], "relu", "deconv1")(t)
    if (2 * h0, 2 * w0) != (h4, w4):
        t = keras.layers.Cropping2D(((0, 2 * h0 - h4), (0, 2 * w0 - w4)), name="crop")(t)
    t = deconv(channels[2], "relu", "deconv2")(t)
    x = deconv(c, "sigmoid", "deconv3")(t)
    return keras.Model(z, x, name=what)


def conv_critic(input_shape=(28, 28, 1), seed=None, spectral_norm=False, outputs=1, width=1.0):
    """AmbientGAN MNIST WGAN-GP critic, for any image-like input ``(H, W, C)``.

    Conv 5×5 s2 64, LeakyReLU 0.2; Conv 5×5 s2 128, LeakyReLU; Conv 5×5 s2 256, LeakyReLU;
    flatten; Dense(outputs). "same" padding, so 28×28 → 14 → 7 → 4 (4·4·256 = 4096 features as in
    the original), 14×14 → 7 → 4 → 2, 32×32 → 16 → 8 → 4. No normalisation (WGAN-GP needs none);
    ``spectral_norm=True`` wraps every Conv / Dense in ``keras.layers.SpectralNormalization``.

    Args:
        input_shape: ``(H, W, C)`` of the (measured) images.
        seed: initialiser seed (None: random).
        spectral_norm: wrap the weight layers in spectral normalisation.
        outputs: number of outputs (1 for a critic; K + 1 for a classifier head).
        width: channel multiplier (1.0: the original 64/128/256 channels).

    Shapes:
        input ``(N, H, W, C)``, output ``(N, outputs)`` unbounded scores.

    Example:
        >>> D = conv_critic((14, 14, 1), seed=0)
        >>> D(np.zeros((3, 14, 14, 1), "float32")).shape
        TensorShape([3, 1])
    """
    what = "conv_critic"
    shape = _image_shape(input_shape, what)
    outputs = _positive_int(outputs, what, "outputs")
    channels = _widths((64, 128, 256), width, what)
    seeds = _Seeds(seed)
    x = keras.Input(shape, name="x")
    t = x
    for i, ch in enumerate(channels, start=1):
        conv = keras.layers.Conv2D(ch, 5, strides=2, padding="same",
                                   kernel_initializer=_he_uniform(seeds), name=f"conv{i}")
        t = _maybe_sn(conv, spectral_norm)(t)
        t = keras.layers.LeakyReLU(_LEAK)(t)
    t = keras.layers.Flatten()(t)
    out = _dense(outputs, keras.initializers.GlorotUniform(seeds()), "score", spectral_norm)(t)
    return _seed_spectral_norm(keras.Model(x, out, name=what), seeds)


# --------------------------------------------------------------------------- #
# Deep Compressed Sensing MLPs                                                #
# --------------------------------------------------------------------------- #


def mlp_generator(latent_dim=100, image_shape=(28, 28, 1), hidden=(500, 500), seed=None):
    """DCS MNIST generator (``MLPGeneratorNet``): ``z → x`` through an MLP.

    Dense layers of widths ``hidden`` with LeakyReLU 0.2, a linear layer of ``prod(image_shape)``
    units, a **sigmoid** and a reshape. The original ends in tanh with images in [-1, 1]; here
    images are in [0, 1] (``sigmoid(2a) = (tanh(a) + 1)/2``, the same model up to a scale of the
    last layer). Init as Sonnet 1: truncated normal with std ``1/sqrt(fan_in)``. No BN.

    Args:
        latent_dim: size of ``z``.
        image_shape: ``(H, W, C)`` of the output.
        hidden: widths of the hidden layers.
        seed: initialiser seed (None: random).

    Shapes:
        input ``(N, latent_dim)``, output ``(N, H, W, C)`` float32 in [0, 1].

    Example:
        >>> G = mlp_generator(seed=0)
        >>> G(np.zeros((4, 100), "float32")).shape
        TensorShape([4, 28, 28, 1])
    """
    what = "mlp_generator"
    latent_dim = _positive_int(latent_dim, what, "latent_dim")
    shape = _image_shape(image_shape, what)
    hidden = _hidden(hidden, what)
    seeds = _Seeds(seed)
    z = keras.Input((latent_dim,), name="z")
    t, fan_in = z, latent_dim
    for i, units in enumerate(hidden, start=1):
        t = keras.layers.Dense(units, kernel_initializer=_sonnet_default(fan_in, seeds), name=f"fc{i}")(t)
        t = keras.layers.LeakyReLU(_LEAK)(t)
        fan_in = units
    t = keras.layers.Dense(int(np.prod(shape)), kernel_initializer=_sonnet_default(fan_in, seeds), name="logits")(t)
    t = keras.layers.Activation("sigmoid")(t)
    x = keras.layers.Reshape(shape, name="image")(t)
    return keras.Model(z, x, name=what)


def mlp_discriminator(input_shape, hidden=(500, 500), outputs=1, seed=None):
    """DCS ``MLPMetricNet``: flatten, MLP with LeakyReLU 0.2, linear outputs.

    Used as a discriminator (1 or 2 logits), a learned measurement (``outputs = m``) or a
    classifier (K + 1 outputs). Init as Sonnet 1: truncated normal with std ``1/sqrt(fan_in)``.

    Args:
        input_shape: shape of one input, e.g. ``(28, 28, 1)`` or ``(m,)``.
        hidden: widths of the hidden layers.
        outputs: number of linear outputs.
        seed: initialiser seed (None: random).

    Shapes:
        input ``(N, *input_shape)``, output ``(N, outputs)`` unbounded.

    Example:
        >>> D = mlp_discriminator((28, 28, 1), outputs=2, seed=0)
        >>> D(np.zeros((5, 28, 28, 1), "float32")).shape
        TensorShape([5, 2])
    """
    what = "mlp_discriminator"
    try:
        shape = tuple(_positive_int(d, what, "every input dimension") for d in input_shape)
    except TypeError:
        raise ValueError(f"{what}: expected input_shape to be a shape tuple; received {input_shape!r}.") from None
    if not shape:
        raise ValueError(f"{what}: expected a non-empty input_shape; received {input_shape!r}.")
    hidden = _hidden(hidden, what)
    outputs = _positive_int(outputs, what, "outputs")
    seeds = _Seeds(seed)
    x = keras.Input(shape, name="x")
    t, fan_in = keras.layers.Flatten()(x), int(np.prod(shape))
    for i, units in enumerate(hidden, start=1):
        t = keras.layers.Dense(units, kernel_initializer=_sonnet_default(fan_in, seeds), name=f"fc{i}")(t)
        t = keras.layers.LeakyReLU(_LEAK)(t)
        fan_in = units
    out = keras.layers.Dense(outputs, kernel_initializer=_sonnet_default(fan_in, seeds), name="outputs")(t)
    return keras.Model(x, out, name=what)


# --------------------------------------------------------------------------- #
# CSGM MNIST VAE                                                              #
# --------------------------------------------------------------------------- #


def vae_encoder(image_shape=(28, 28, 1), latent_dim=20, hidden=(500, 500), seed=None):
    """CSGM ``mnist-vae`` encoder: ``x ↦ (mu, log_var)`` of a diagonal Gaussian ``q(z | x)``.

    Flatten, Dense layers of widths ``hidden`` with softplus, then two linear heads of
    ``latent_dim`` units (784 → 500 → 500 → 20 by default). Glorot-uniform init, zero biases.

    Args:
        image_shape: ``(H, W, C)`` of the input images.
        latent_dim: size of ``z``.
        hidden: widths of the hidden layers.
        seed: initialiser seed (None: random).

    Shapes:
        input ``(N, H, W, C)`` in [0, 1]; outputs ``[mu, log_var]``, each ``(N, latent_dim)``.

    Example:
        >>> mu, log_var = vae_encoder(seed=0)(np.zeros((2, 28, 28, 1), "float32"))
        >>> mu.shape, log_var.shape
        (TensorShape([2, 20]), TensorShape([2, 20]))
    """
    what = "vae_encoder"
    shape = _image_shape(image_shape, what)
    latent_dim = _positive_int(latent_dim, what, "latent_dim")
    hidden = _hidden(hidden, what)
    seeds = _Seeds(seed)
    x = keras.Input(shape, name="x")
    t = keras.layers.Flatten()(x)
    for i, units in enumerate(hidden, start=1):
        t = keras.layers.Dense(units, activation="softplus", name=f"fc{i}",
                               kernel_initializer=keras.initializers.GlorotUniform(seeds()))(t)
    mu = keras.layers.Dense(latent_dim, name="mu", kernel_initializer=keras.initializers.GlorotUniform(seeds()))(t)
    log_var = keras.layers.Dense(latent_dim, name="log_var",
                                 kernel_initializer=keras.initializers.GlorotUniform(seeds()))(t)
    return keras.Model(x, [mu, log_var], name=what)


def vae_decoder(latent_dim=20, image_shape=(28, 28, 1), hidden=(500, 500), seed=None):
    """CSGM ``mnist-vae`` decoder: ``z ↦`` Bernoulli means, i.e. an image in [0, 1].

    Dense layers of widths ``hidden`` with softplus, a linear layer of ``prod(image_shape)``
    units reshaped to the image (the layer named ``"logits"``), then a sigmoid. The decoder is
    itself a generator (``z ~ N(0, I)``). :class:`ambient_dcs.models.vae.VAE` reads the ``"logits"``
    layer to compute a numerically stable cross-entropy. Glorot-uniform init, zero biases.

    Args:
        latent_dim: size of ``z``.
        image_shape: ``(H, W, C)`` of the output images.
        hidden: widths of the hidden layers.
        seed: initialiser seed (None: random).

    Shapes:
        input ``(N, latent_dim)``, output ``(N, H, W, C)`` float32 in [0, 1].

    Example:
        >>> G = vae_decoder(seed=0)
        >>> G(np.zeros((2, 20), "float32")).shape
        TensorShape([2, 28, 28, 1])
    """
    what = "vae_decoder"
    latent_dim = _positive_int(latent_dim, what, "latent_dim")
    shape = _image_shape(image_shape, what)
    hidden = _hidden(hidden, what)
    seeds = _Seeds(seed)
    z = keras.Input((latent_dim,), name="z")
    t = z
    for i, units in enumerate(hidden, start=1):
        t = keras.layers.Dense(units, activation="softplus", name=f"fc{i}",
                               kernel_initializer=keras.initializers.GlorotUniform(seeds()))(t)
    t = keras.layers.Dense(int(np.prod(shape)), name="fc_out",
                           kernel_initializer=keras.initializers.GlorotUniform(seeds()))(t)
    logits = keras.layers.Reshape(shape, name="logits")(t)
    x = keras.layers.Activation("sigmoid", name="image")(logits)
    return keras.Model(z, x, name=what)


# --------------------------------------------------------------------------- #
# carpedm20 / Bora et al. DCGAN                                               #
# --------------------------------------------------------------------------- #


def _dcgan_stages(shape, what):
    h, w, _ = shape
    if h != w or h < 8 or h & (h - 1):
        raise ValueError(
            f"{what}: expected square images whose side is a power of two >= 8 (e.g. 32×32 for "
            f"CIFAR-10, 64×64 for CelebA); received image shape {shape!r}."
        )
    return int(round(math.log2(h // 4)))  # stride-2 stages between 4×4 and H×W


def dcgan_generator(latent_dim=100, image_shape=(64, 64, 3), seed=None):
    """carpedm20 / Bora et al. CelebA DCGAN generator ``z → x``.

    Dense 4·4·512 → BN → ReLU → reshape (4, 4, 512); Conv2DTranspose 5×5 s2 to 256, 128, 64
    channels (each BN momentum 0.9, eps 1e-5, ReLU); final Conv2DTranspose 5×5 s2 to C channels
    and a **sigmoid**, so images are in [0, 1] (the original ends in tanh, images in [-1, 1]).
    64×64 has four stride-2 stages (4 → 8 → 16 → 32 → 64); 32×32 (CIFAR-10) one fewer
    (4 → 8 → 16 → 32, channels 256, 128, C); in general log2(H/4) stages with 512/2^i channels.
    Init N(0, 0.02), zero biases; BN gamma 1, beta 0.

    Args:
        latent_dim: size of ``z``.
        image_shape: ``(H, H, C)``, H a power of two >= 8.
        seed: initialiser seed (None: random).

    Shapes:
        input ``(N, latent_dim)``, output ``(N, H, H, C)`` float32 in [0, 1].

    Example:
        >>> G = dcgan_generator(image_shape=(32, 32, 3), seed=0)
        >>> G(np.zeros((2, 100), "float32")).shape
        TensorShape([2, 32, 32, 3])
    """
    what = "dcgan_generator"
    latent_dim = _positive_int(latent_dim, what, "latent_dim")
    shape = _image_shape(image_shape, what)
    stages = _dcgan_stages(shape, what)
    seeds = _Seeds(seed)

    def normal():
        return keras.initializers.RandomNormal(stddev=0.02, seed=seeds())

    z = keras.Input((latent_dim,), name="z")
    t = keras.layers.Dense(4 * 4 * 512, kernel_initializer=normal(), name="fc")(z)
    t = keras.layers.Reshape((4, 4, 512))(t)
    t = keras.layers.BatchNormalization(**_BN, name="bn0")(t)
    t = keras.layers.ReLU()(t)
    for i in range(1, stages):
        t = keras.layers.Conv2DTranspose(512 >> i, 5, strides=2, padding="same",
                                         kernel_initializer=normal(), name=f"deconv{i}")(t)
        t = keras.layers.BatchNormalization(**_BN, name=f"bn{i}")(t)
        t = keras.layers.ReLU()(t)
    x = keras.layers.Conv2DTranspose(shape[-1], 5, strides=2, padding="same", activation="sigmoid",
                                     kernel_initializer=normal(), name=f"deconv{stages}")(t)
    return keras.Model(z, x, name=what)


def dcgan_discriminator(input_shape=(64, 64, 3), spectral_norm=False, seed=None):
    """carpedm20 / Bora et al. CelebA DCGAN discriminator ``x → logit``.

    Conv 5×5 s2 64, LeakyReLU 0.2 (no BN); Conv 5×5 s2 128, 256, 512, each BN (momentum 0.9,
    eps 1e-5) + LeakyReLU; flatten; Dense 1. For 32×32 inputs it stops at 256 channels (always
    down to 4×4: log2(H/4) convolutions with 64·2^i channels). ``spectral_norm=True`` wraps every
    Conv / Dense in ``keras.layers.SpectralNormalization`` and drops the BN layers (SN-GAN style).
    Init as carpedm20: convolutions truncated normal (±2σ) σ = 0.02, Dense N(0, 0.02), zero biases.

    Note that BN couples the examples of a batch: do not use the BN variant with a per-example
    gradient penalty (WGAN-GP); use ``spectral_norm=True`` or :func:`conv_critic` there.

    Args:
        input_shape: ``(H, H, C)``, H a power of two >= 8.
        spectral_norm: spectral normalisation instead of batch normalisation.
        seed: initialiser seed (None: random).

    Shapes:
        input ``(N, H, H, C)`` in [0, 1], output ``(N, 1)`` logits.

    Example:
        >>> D = dcgan_discriminator((32, 32, 3), spectral_norm=True, seed=0)
        >>> D(np.zeros((2, 32, 32, 3), "float32")).shape
        TensorShape([2, 1])
    """
    what = "dcgan_discriminator"
    shape = _image_shape(input_shape, what)
    stages = _dcgan_stages(shape, what)
    seeds = _Seeds(seed)
    x = keras.Input(shape, name="x")
    t = x
    for i in range(stages):
        conv = keras.layers.Conv2D(
            64 << i, 5, strides=2, padding="same", name=f"conv{i}",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02, seed=seeds()))
        t = _maybe_sn(conv, spectral_norm)(t)
        if i > 0 and not spectral_norm:
            t = keras.layers.BatchNormalization(**_BN, name=f"bn{i}")(t)
        t = keras.layers.LeakyReLU(_LEAK)(t)
    t = keras.layers.Flatten()(t)
    out = _dense(1, keras.initializers.RandomNormal(stddev=0.02, seed=seeds()), "logit", spectral_norm)(t)
    return _seed_spectral_norm(keras.Model(x, out, name=what), seeds)


# --------------------------------------------------------------------------- #
# Discriminators for vector measurements                                      #
# --------------------------------------------------------------------------- #


def vector_discriminator(measurement_dim, theta_dim=0, hidden=(100, 100), seed=None, spectral_norm=False):
    """AmbientGAN ``discriminator_fc`` for vector measurements, optionally seeing θ.

    Dense layers of widths ``hidden`` with LeakyReLU 0.2, then Dense 1. The original also had BN
    after each hidden layer; it is omitted because BN mixes the examples of a batch, which breaks
    WGAN-GP's per-example gradient penalty. With ``theta_dim > 0`` the model takes two inputs
    ``[y, theta_features]`` and concatenates them first (AmbientGAN's
    ``pad_rotate_project_with_theta`` appended θ to the measurement). Init N(0, 0.02).

    Args:
        measurement_dim: length of a (flattened) measurement.
        theta_dim: width of the θ features (0: no θ input).
        hidden: widths of the hidden layers.
        seed: initialiser seed (None: random).
        spectral_norm: wrap every Dense in ``keras.layers.SpectralNormalization``.

    Shapes:
        input ``(N, measurement_dim)``, or ``[(N, measurement_dim), (N, theta_dim)]``;
        output ``(N, 1)``.

    Example:
        >>> D = vector_discriminator(40, theta_dim=1, seed=0)
        >>> D([np.zeros((3, 40), "float32"), np.zeros((3, 1), "float32")]).shape
        TensorShape([3, 1])
    """
    what = "vector_discriminator"
    measurement_dim = _positive_int(measurement_dim, what, "measurement_dim")
    theta_dim = check_int(theta_dim, what, "theta_dim", 0)
    hidden = _hidden(hidden, what)
    seeds = _Seeds(seed)

    def normal():
        return keras.initializers.RandomNormal(stddev=0.02, seed=seeds())

    y = keras.Input((measurement_dim,), name="y")
    inputs, t = y, y
    if theta_dim:
        theta = keras.Input((int(theta_dim),), name="theta")
        inputs, t = [y, theta], keras.layers.Concatenate()([y, theta])
    for i, units in enumerate(hidden, start=1):
        t = _dense(units, normal(), f"fc{i}", spectral_norm)(t)
        t = keras.layers.LeakyReLU(_LEAK)(t)
    out = _dense(1, normal(), "score", spectral_norm)(t)
    return _seed_spectral_norm(keras.Model(inputs, out, name=what), seeds)


def discriminator_for(operator, image_shape, seed=None, spectral_norm=False, width=1.0):
    """The discriminator for the measurements of ``operator`` on images of ``image_shape``.

    * image-like measurements (``operator.measurement_shape(image_shape)`` of rank 3):
      :func:`conv_critic` of that shape;
    * anything else: :func:`vector_discriminator` of ``prod(shape)`` inputs, with a second input of
      ``k`` θ features when ``operator.exposes_theta`` (``k`` is the width of
      ``operator.theta_features(theta)``).

    Calling convention (the AmbientGAN trainer relies on it): ``D(y)``, or, when the operator
    exposes θ, ``D([flatten(y), operator.theta_features(theta)])``.

    Args:
        operator: a ``measurements.Operator``.
        image_shape: ``(H, W, C)`` of the clean images.
        seed: initialiser seed (None: random).
        spectral_norm: spectral normalisation of the weight layers.
        width: channel multiplier of the conv critic (see :func:`conv_critic`).

    Example:
        >>> import measurements as M
        >>> D = discriminator_for(M.PadRotateProject(expose_theta=True), (28, 28, 1), seed=0)
        >>> [tuple(i.shape) for i in D.inputs]
        [(None, 40), (None, 1)]
    """
    shape = _image_shape(image_shape, "discriminator_for")
    m_shape = tuple(int(d) for d in operator.measurement_shape(shape))
    if len(m_shape) == 3:
        return conv_critic(m_shape, seed=seed, spectral_norm=spectral_norm, width=width)
    theta_dim = 0
    if getattr(operator, "exposes_theta", False):
        theta = operator.sample_theta(1, seed=0, image_shape=shape)
        features = operator.theta_features(theta)
        if features is not None:
            theta_dim = int(features.shape[-1])
    return vector_discriminator(int(np.prod(m_shape)), theta_dim=theta_dim, seed=seed, spectral_norm=spectral_norm)


def mlp_bn_generator(latent_dim=100, image_shape=(28, 28, 1), hidden=(256, 512, 1024), seed=None):
    """An MLP generator with batch normalisation: ``z → x`` in [0, 1], for GANs on small images.

    Dense layers of widths ``hidden``, each followed by BatchNormalization and LeakyReLU 0.2, then
    a Dense layer of ``prod(image_shape)`` units, a sigmoid and a reshape; Glorot-uniform weights.

    Why it exists: the DCS MLP generator (:func:`mlp_generator`, no
    normalisation) collapses to a single image as a GAN generator on the embedded MNIST split, for
    every number of latent steps we tried within a CPU budget (0, 3 with step 0.01 or 0.5, 3 with
    a ×10 input scale; 500-2,000 steps). BN also makes the generator insensitive to the scale of its
    input: latents on the unit sphere (T > 0) and raw ``N(0, I)`` samples (T = 0) give activations of
    the same scale, as in the original's batch-normalised CIFAR generator.

    Shapes:
        input ``(N, latent_dim)``, output ``(N, *image_shape)`` float32 in [0, 1].

    Example:
        >>> G = mlp_bn_generator(seed=0)
        >>> G(np.zeros((2, 100), "float32")).shape
        TensorShape([2, 28, 28, 1])
    """
    owner = "mlp_bn_generator"
    latent_dim = _positive_int(latent_dim, owner, "latent_dim")
    try:
        shape = tuple(int(d) for d in image_shape)
        hidden = tuple(_positive_int(h, owner, "every hidden width") for h in hidden)
    except TypeError:
        raise ValueError(f"{owner}: expected image_shape (H, W, C) and hidden as sequences of ints; received "
                         f"{image_shape!r} and {hidden!r}.") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{owner}: expected image_shape (H, W, C) of positive sizes; received {image_shape!r}.")
    seeds = np.random.SeedSequence(seed).generate_state(len(hidden) + 1) if seed is not None else [None] * (
        len(hidden) + 1)

    def init(i):
        return keras.initializers.GlorotUniform(None if seeds[i] is None else int(seeds[i]) & 0x7FFFFFFF)

    z = keras.Input((latent_dim,), name="z")
    h = z
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, kernel_initializer=init(i), name=f"fc{i + 1}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i + 1}")(h)
        h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.Dense(int(np.prod(shape)), activation="sigmoid", kernel_initializer=init(len(hidden)),
                           name="pixels")(h)
    return keras.Model(z, keras.layers.Reshape(shape, name="image")(h), name=owner)
