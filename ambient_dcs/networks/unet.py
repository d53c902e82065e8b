"""A small U-Net for denoisers ``F(x, c_noise)`` (the score networks of :mod:`ambient_dcs.models.diffusion`).

Residual blocks (two 3×3 convolutions, SiLU, group norm) conditioned on the noise level through a
Fourier embedding added to each block (the DDPM / EDM pattern, scaled down); average-pool down,
nearest up, skip connections by concatenation. The input has the image's channels plus
``condition_channels`` (Ambient Diffusion feeds the mask of the further-corrupted image there).

Example:
    >>> net = unet((28, 28, 1), channels=(16, 32), condition_channels=1, seed=0)
    >>> out = net([tf.zeros((8, 28, 28, 2)), tf.zeros((8,))])     # (8, 28, 28, 1)
"""

from __future__ import annotations

import math

import keras
import numpy as np

__all__ = ["unet", "NoiseEmbedding"]


@keras.saving.register_keras_serializable(package="ambient_dcs")
class NoiseEmbedding(keras.layers.Layer):
    """Fixed Fourier features of a scalar per example: ``(N,)`` → ``(N, 2·frequencies)`` (sin, cos)."""

    def __init__(self, frequencies=16, max_period=1000.0, **kwargs):
        super().__init__(**kwargs)
        self.frequencies, self.max_period = int(frequencies), float(max_period)
        self._freqs = np.exp(-math.log(self.max_period) * np.arange(self.frequencies) / self.frequencies)

    def call(self, c):
        c = keras.ops.reshape(keras.ops.cast(c, self.compute_dtype), (-1, 1))
        # c_noise = ln(σ)/4 is O(1): scale it to the range of positional embeddings first.
        angles = 250.0 * c * keras.ops.convert_to_tensor(self._freqs[None], self.compute_dtype)
        return keras.ops.concatenate([keras.ops.sin(angles), keras.ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * self.frequencies)

    def get_config(self):
        return {**super().get_config(), "frequencies": self.frequencies, "max_period": self.max_period}


def _groups(channels):
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


def _res_block(h, channels, emb, init, name):
    skip = h if h.shape[-1] == channels else keras.layers.Conv2D(channels, 1, kernel_initializer=init(),
                                                                  name=f"{name}_skip")(h)
    h = keras.layers.GroupNormalization(_groups(h.shape[-1]), name=f"{name}_norm1")(h)
    h = keras.layers.Conv2D(channels, 3, padding="same", activation=None, kernel_initializer=init(),
                            name=f"{name}_conv1")(keras.layers.Activation("silu")(h))
    bias = keras.layers.Dense(channels, kernel_initializer=init(), name=f"{name}_emb")(emb)
    h = h + keras.layers.Reshape((1, 1, channels))(bias)
    h = keras.layers.GroupNormalization(_groups(channels), name=f"{name}_norm2")(h)
    h = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=init(0.2),
                            name=f"{name}_conv2")(keras.layers.Activation("silu")(h))
    return skip + h


def unet(image_shape=(28, 28, 1), channels=(16, 32), condition_channels=0, embedding=64, seed=None):
    """A U-Net ``[x (N, H, W, C + condition_channels), c_noise (N,)] → (N, H, W, C)``.

    Args:
        image_shape: ``(H, W, C)``; ``H`` and ``W`` divisible by ``2 ** (len(channels) − 1)``.
        channels: channels per resolution (one residual block per level down and up, one in the
            middle); its length is the depth.
        condition_channels: extra input channels (e.g. a mask).
        embedding: width of the noise-level embedding.
        seed: seed of the initial weights.

    Returns:
        A functional ``keras.Model`` whose output layer starts at zero (the denoiser starts as its
        skip connection).
    """
    h_, w_, c = (int(d) for d in image_shape)
    factor = 2 ** (len(channels) - 1)
    if not channels or h_ % factor or w_ % factor:
        raise ValueError(f"unet: expected image sides divisible by 2**(len(channels) - 1) = {factor}; received "
                         f"image_shape {tuple(image_shape)} and channels {tuple(channels)}.")
    rng = np.random.default_rng(seed)

    def init(scale=1.0):
        return keras.initializers.VarianceScaling(scale, "fan_avg", "uniform", seed=int(rng.integers(2**31)))

    x_in = keras.Input((h_, w_, c + int(condition_channels)), name="x")
    c_in = keras.Input((), name="c_noise")
    emb = NoiseEmbedding(embedding // 2, name="noise_embedding")(c_in)
    emb = keras.layers.Dense(embedding, activation="silu", kernel_initializer=init(), name="emb_1")(emb)
    emb = keras.layers.Dense(embedding, activation="silu", kernel_initializer=init(), name="emb_2")(emb)
    h = keras.layers.Conv2D(channels[0], 3, padding="same", kernel_initializer=init(), name="stem")(x_in)
    skips = []
    for i, ch in enumerate(channels):
        h = _res_block(h, ch, emb, init, f"down{i}")
        skips.append(h)
        if i < len(channels) - 1:
            h = keras.layers.AveragePooling2D(2, name=f"pool{i}")(h)
    h = _res_block(h, channels[-1], emb, init, "middle")
    for i in reversed(range(len(channels))):
        if i < len(channels) - 1:
            h = keras.layers.UpSampling2D(2, name=f"up{i}")(h)
        h = _res_block(keras.layers.Concatenate(name=f"cat{i}")([h, skips[i]]), channels[i], emb, init, f"upblock{i}")
    h = keras.layers.Activation("silu")(keras.layers.GroupNormalization(_groups(channels[0]), name="out_norm")(h))
    out = keras.layers.Conv2D(c, 3, padding="same", kernel_initializer="zeros", name="out")(h)
    return keras.Model([x_in, c_in], out, name="unet")
