"""Floating-point operations of Keras networks, counted from their layers.

Only the layers that carry the work are counted (one multiply-add = 2 FLOPs); activations, biases,
resizes and reshapes are a few per cent and left out, so the ratios against the matmul peak err
on the low side.

* ``Dense``: ``2 · fan_in · units`` per example;
* ``Conv2D``: ``2 · H_out · W_out · kh · kw · C_in · C_out`` per example;
* ``Conv2DTranspose``: ``2 · H_in · W_in · kh · kw · C_in · C_out`` per example.

A backward pass costs one forward for the gradient with respect to the layer inputs and one more
for the gradient with respect to the weights, so:

* CSGM (gradient with respect to ``z`` only): forward + input-backward = ``2 ×`` forward;
* training a network: forward + both backward products = ``3 ×`` forward.

Example:
    >>> forward_flops(vae_decoder())           # 20-500-500-784
    1304000
"""

from __future__ import annotations

import keras
import numpy as np


def _layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def forward_flops(model):
    """FLOPs of one example's forward pass through ``model`` (Dense and convolution layers)."""
    total = 0
    for layer in _layers(model):
        if isinstance(layer, keras.layers.Dense):
            total += 2 * int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            kh, kw, c_out, c_in = (int(d) for d in layer.kernel.shape)
            h_in, w_in = (int(d) for d in layer.input.shape[1:3])
            total += 2 * h_in * w_in * kh * kw * c_in * c_out
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, c_in, c_out = (int(d) for d in layer.kernel.shape)
            h_out, w_out = (int(d) for d in layer.output.shape[1:3])
            total += 2 * h_out * w_out * kh * kw * c_in * c_out
    return int(total)


def csgm_flops_per_row_step(generator, operator_flops=0):
    """FLOPs of one CSGM step for one latent: generator forward + backward to ``z``.

    ``operator_flops``: forward FLOPs of the measurement (e.g. ``2·m·n`` for a Gaussian matrix),
    counted twice as well (forward and adjoint).
    """
    return 2 * (forward_flops(generator) + int(operator_flops))


def dense_operator_flops(m, n):
    """Forward FLOPs of a dense ``m × n`` measurement matrix on one example."""
    return 2 * int(m) * int(np.prod(n))
