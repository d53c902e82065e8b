"""Seeds for the stateless random ops every operator and noise model uses.

Operators draw θ and noise with TensorFlow's *stateless* random ops, which take a shape-``[2]``
integer seed. That seed comes either from an integer the caller gives (the same integer gives the
same draw, eagerly, in a ``tf.function`` and under XLA) or, when none is given, from the layer's
own ``keras.random.SeedGenerator`` (a fresh draw per call, reproducible from the layer's ``seed``).
"""

from __future__ import annotations

import tensorflow as tf


def draw_seed(seed, generator):
    """Returns a shape-``[2]`` int64 seed tensor.

    Args:
        seed: ``None`` (draw from ``generator``), a Python int, or a shape-``[2]`` integer tensor.
        generator: a ``keras.random.SeedGenerator`` used when ``seed`` is ``None``.
    """
    if seed is None:
        return tf.cast(generator.next(), tf.int64)
    if isinstance(seed, int):
        return tf.constant([seed, 0], dtype=tf.int64)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank == 0:
        return tf.stack([seed, tf.zeros_like(seed)])
    return seed


def split_seed(seed, num: int):
    """Splits one shape-``[2]`` seed into ``num`` independent seeds (a ``[num, 2]`` tensor)."""
    return tf.random.experimental.stateless_split(seed, num=num)
