"""Losses shared by the trainers: the GAN losses (AmbientGAN, CS-GAN, CS-SGAN) and the diffusion
denoising losses (EDM's, Ambient Diffusion's further corruption).

A discriminator here returns *scores*: one unbounded value per example (a WGAN critic value or
a logit). Each loss is a small object with two functions of the scores of a batch:

====================  ==========================================  ===================================
name                  discriminator loss                          generator loss
====================  ==========================================  ===================================
``"wgan-gp"``         ``E[D(fake)] − E[D(real)]`` (+ λ·GP)        ``−E[D(fake)]``
``"dcgan"``           ``CE(D(real), 1) + CE(D(fake), 0)``         ``CE(D(fake), 1)`` (non-saturating)
``"lsgan"``           ``½E[(D(real) − 1)²] + ½E[D(fake)²]``       ``½E[(D(fake) − 1)²]``
``"hinge"``           ``E[relu(1 − D(real))] + E[relu(1 + D(fake))]``  ``−E[D(fake)]``
====================  ==========================================  ===================================

``CE`` is the sigmoid cross-entropy on logits (``"non-saturating"`` is another name of
``"dcgan"``). A two-way softmax discriminator (logits ``(N, 2)``, index 1 = real, the CS-GAN
original) is the same model as a sigmoid one on ``l₁ − l₀``: :func:`real_logit` converts it.

Example:
    >>> loss = GAN_LOSSES["wgan-gp"]
    >>> d_loss = loss.discriminator(real_scores, fake_scores) + 10.0 * gradient_penalty(critic, real, fake, alpha)
    >>> g_loss = loss.generator(fake_scores)
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf

__all__ = ["GANLoss", "GAN_LOSSES", "gradient_penalty", "real_logit", "sigmoid_ce", "denoising_loss",
           "ambient_loss"]


def sigmoid_ce(logits, label):
    """Per-example sigmoid cross-entropy of ``logits`` against a constant label (0 or 1)."""
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), float(label)), logits=logits)


def real_logit(logits):
    """The logit of "real" per example: ``(N,)`` or ``(N, 1)`` as is, ``(N, 2)`` softmax as ``l₁ − l₀``."""
    logits = tf.cast(logits, tf.float32)
    if logits.shape.rank == 2 and logits.shape[-1] == 2:
        return logits[:, 1] - logits[:, 0]
    return tf.reshape(logits, [-1])


@dataclasses.dataclass(frozen=True)
class GANLoss:
    """A GAN objective: ``discriminator(real, fake)`` and ``generator(fake)`` on score vectors ``(N,)``.

    Attributes:
        name: the loss' name in :data:`GAN_LOSSES`.
        discriminator: ``(real_scores, fake_scores) → scalar`` the discriminator minimises.
        generator: ``fake_scores → scalar`` the generator minimises.
        gradient_penalty: whether the trainer adds the WGAN-GP penalty to the discriminator loss.
    """

    name: str
    discriminator: Callable
    generator: Callable
    gradient_penalty: bool = False


_mean = tf.reduce_mean

GAN_LOSSES = {
    "wgan-gp": GANLoss("wgan-gp", lambda r, f: _mean(f) - _mean(r), lambda f: -_mean(f), gradient_penalty=True),
    "dcgan": GANLoss("dcgan", lambda r, f: _mean(sigmoid_ce(r, 1)) + _mean(sigmoid_ce(f, 0)),
                     lambda f: _mean(sigmoid_ce(f, 1))),
    "lsgan": GANLoss("lsgan", lambda r, f: 0.5 * _mean(tf.square(r - 1.0)) + 0.5 * _mean(tf.square(f)),
                     lambda f: 0.5 * _mean(tf.square(f - 1.0))),
    "hinge": GANLoss("hinge", lambda r, f: _mean(tf.nn.relu(1.0 - r)) + _mean(tf.nn.relu(1.0 + f)),
                     lambda f: -_mean(f)),
}
GAN_LOSSES["non-saturating"] = dataclasses.replace(GAN_LOSSES["dcgan"], name="non-saturating")


def gradient_penalty(score_fn, real, fake, alpha):
    """``mean((‖∇D(x̂)‖₂ − 1)²)`` at ``x̂ = real + α(fake − real)`` (Gulrajani et al. 2017).

    Args:
        score_fn: ``inputs → (N,)`` scores (the discriminator, called with ``training=False``).
        real, fake: the discriminator's inputs: a tensor ``(N, ...)`` or a list of tensors (e.g.
            measurements and θ features), interpolated with the same α; the norm is over all of them.
        alpha: ``(N,)`` interpolation weights in [0, 1].

    An input the discriminator ignores (e.g. the θ features of a critic that does not use them)
    has no gradient: it counts as zero, not as an error.
    """
    reals = real if isinstance(real, list) else [real]
    fakes = fake if isinstance(fake, list) else [fake]
    mixed = []
    for r, f in zip(reals, fakes):
        a = tf.reshape(tf.cast(alpha, r.dtype), [-1] + [1] * (r.shape.rank - 1))
        mixed.append(r + a * (f - r))
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = score_fn(mixed if isinstance(real, list) else mixed[0])
    grads = tape.gradient(scores, mixed, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    # float32 whatever the compute dtype (mixed precision): the penalty is a sum of many squares.
    squares = tf.add_n([tf.reduce_sum(tf.reshape(tf.square(tf.cast(g, "float32")), [tf.shape(g)[0], -1]), axis=1)
                        for g in grads])
    return tf.reduce_mean(tf.square(tf.sqrt(squares + 1e-12) - 1.0))


def denoising_loss(denoise, x, noisy, sigma, weight):
    """EDM's denoising loss of a batch: the batch mean of ``λ(σ) · mean_pixels (D(x_σ; σ) − x)²``.

    Args:
        denoise: ``(x_σ, σ) → D`` (the network in training mode).
        x: clean images ``(N, H, W, C)``.
        noisy: ``x_σ = x + σ n`` ``(N, H, W, C)``.
        sigma: ``(N, 1, 1, 1)`` noise levels.
        weight: ``λ(σ)`` ``(N, 1, 1, 1)``.

    Returns:
        The scalar loss.
    """
    err = tf.reduce_mean(tf.square(denoise(noisy, sigma) - x), axis=[1, 2, 3])
    return tf.reduce_mean(tf.reshape(weight, [-1]) * err)


def ambient_loss(denoise, x_observed, kept, further_kept, sigma, noise, weight, measurement_std=0.0,
                 held_out_only=False):
    """Ambient Diffusion's further-corruption loss for one batch (:class:`~ambient_dcs.models.AmbientDiffusion`).

    Args:
        denoise: ``(x, σ, condition) → D``.
        x_observed: ``(N, H, W, C)``: the measured pixels in image units (zeros where not kept).
        kept: ``A`` ``(N, H, W, C)`` in {0, 1}: the pixels the measurement kept.
        further_kept: ``Ã = A ⊙ B``: the pixels the network sees.
        sigma: ``(N, 1, 1, 1)`` diffusion noise levels (≥ ``measurement_std``).
        noise: ``(N, H, W, C)`` standard normals.
        weight: the loss weight, ``(N, 1, 1, 1)`` (EDM's ``λ(σ)``) or per pixel ``(N, H, W, C)``.
        measurement_std: σ_y in image units (a float or scalar tensor): the input's noise already in
            ``x_observed``; only ``√(σ² − σ_y²)`` more is added.
        held_out_only: take the loss on ``A ⊙ (1 − B)`` only (for noisy measurements: pixels whose
            noise the input has not seen).

    Returns:
        The scalar loss: the batch mean of ``Σ target ⊙ weight ⊙ (D − x)² / Σ target``.
    """
    extra = tf.sqrt(tf.maximum(tf.square(sigma) - measurement_std ** 2, 0.0))
    x_sigma = x_observed + extra * noise
    estimate = denoise(further_kept * x_sigma, sigma, further_kept)
    target = kept * (1.0 - further_kept) if held_out_only else kept
    per_example = (tf.reduce_sum(target * weight * tf.square(estimate - x_observed), axis=[1, 2, 3])
                   / tf.maximum(tf.reduce_sum(target, axis=[1, 2, 3]), 1.0))
    return tf.reduce_mean(per_example)
