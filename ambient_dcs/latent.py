"""Latent optimisation, in one place, for CSGM and the Deep Compressed Sensing family.

Two regimes share this module:

* :func:`minimise_latents` — many first-order steps (Adam, momentum or SGD) on a batch of latents,
  as CSGM does (1000 steps × 10 restarts). The whole loop is one ``tf.while_loop`` with a
  hand-written optimiser update on tensors, so it runs inside a single ``tf.function`` (and under
  XLA) with no per-step Python or host transfer. Each row of ``z`` is its own problem: the
  optimiser minimises the *sum* of the per-row losses, so a row's gradient does not depend on the
  batch size (restarts and images are just rows).
* :func:`optimise_latents` — a few unrolled gradient steps ``z ← z − s·∂E/∂z`` with a step size
  ``s`` that is itself learned, differentiable end to end (second order) so an outer loss can train
  the generator, the measurement and ``s`` through the inner loop (Wu et al., 2019).

Example:
    >>> z, losses, steps = minimise_latents(lambda z: tf.reduce_sum(z**2, 1), tf.ones((4, 2)), 100)
"""

from __future__ import annotations

import math

import tensorflow as tf

OPTIMIZERS = ("adam", "momentum", "sgd")
PROJECTIONS = ("norm", "clip", None)


def project_latents(z, method="norm"):
    """Projects latents: ``"norm"`` onto the unit sphere, ``"clip"`` into [−1, 1], ``None``: as is."""
    if method == "norm":
        return tf.math.l2_normalize(z, axis=-1)
    if method == "clip":
        return tf.clip_by_value(z, -1.0, 1.0)
    if method is None:
        return z
    raise ValueError(f"project: expected one of {PROJECTIONS}; received {method!r}.")


def _check_optimizer(optimizer):
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {OPTIMIZERS}; received {optimizer!r}.")


def minimise_latents(loss_fn, z0, steps, learning_rate=0.01, optimizer="adam", *, beta_1=0.9,
                     beta_2=0.999, epsilon=1e-8, momentum=0.9, tolerance=None):
    """Minimises per-row losses over latents with a first-order method, inside one graph loop.

    Args:
        loss_fn: ``z (B, k) → losses (B,)``, differentiable; rows are independent problems.
        z0: initial latents ``(B, k)``.
        steps: maximum number of updates (a Python int or scalar tensor).
        learning_rate: step size.
        optimizer: ``"adam"`` (TF1 defaults: β₁ 0.9, β₂ 0.999, ε 1e-8, as the original CSGM),
            ``"momentum"`` (TF1 ``MomentumOptimizer``: ``a ← μa + g; z ← z − lr·a``) or ``"sgd"``.
        tolerance: optional early stop: the loop ends once every row's loss is ``<= tolerance``.

    Returns:
        ``(z, losses, steps_run)``: the final latents, the loss of each row at the final latents,
        and the number of updates made.
    """
    _check_optimizer(optimizer)
    z0 = tf.convert_to_tensor(z0)
    dtype = z0.dtype
    lr = tf.cast(learning_rate, dtype)
    steps = tf.cast(steps, tf.int32)
    tol = None if tolerance is None else tf.cast(tolerance, dtype)

    def value_and_grad(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            losses = loss_fn(z)
            total = tf.reduce_sum(losses)
        return losses, tape.gradient(total, z)

    def cond(t, z, m, v, losses):
        go = t < steps
        if tol is not None:
            go = tf.logical_and(go, tf.reduce_any(losses > tol))
        return go

    def body(t, z, m, v, _):
        losses, g = value_and_grad(z)
        t1 = t + 1
        if optimizer == "adam":
            m = beta_1 * m + (1 - beta_1) * g
            v = beta_2 * v + (1 - beta_2) * tf.square(g)
            tf_t = tf.cast(t1, dtype)
            m_hat = m / (1 - tf.pow(tf.cast(beta_1, dtype), tf_t))
            v_hat = v / (1 - tf.pow(tf.cast(beta_2, dtype), tf_t))
            z = z - lr * m_hat / (tf.sqrt(v_hat) + epsilon)
        elif optimizer == "momentum":
            m = momentum * m + g
            z = z - lr * m
        else:
            z = z - lr * g
        return t1, z, m, v, losses

    init_losses = tf.fill(tf.shape(z0)[:1], tf.constant(math.inf, dtype))
    zeros = tf.zeros_like(z0)
    t, z, _, _, _ = tf.while_loop(cond, body, (tf.constant(0), z0, zeros, zeros, init_losses))
    return z, loss_fn(z), t


def optimise_latents(error_fn, z0, steps, step_size, project="norm", second_order=True):
    """``steps`` unrolled gradient steps on the latents, differentiable end to end.

    ``z`` is projected (``project``) before the first step and after every step; each step is
    ``z ← z − s·∂E/∂z`` with ``E = Σ_rows error_fn(z)`` (so each row moves by its own error's
    gradient). With ``second_order=True`` an outer ``GradientTape`` differentiates through the
    steps, including the second-order term through ``∂E/∂z`` (MAML-style); ``second_order=False``
    stops the gradient of ``∂E/∂z`` (first-order approximation, cheaper).

    Args:
        error_fn: ``z (B, k) → errors (B,)`` (e.g. the measurement error of ``G(z)``).
        z0: initial latents ``(B, k)``.
        steps: number of steps ``T`` (a Python int: the loop is unrolled). ``T = 0`` returns ``z0``
            untouched (no projection), as the original.
        step_size: ``s``, typically ``tf.exp(log_step_size)`` of a trainable variable.
        project: ``"norm"`` (unit sphere, the default of Wu et al.), ``"clip"`` or ``None``.
        second_order: differentiate through the inner gradient.

    Returns:
        The latents after ``steps`` steps, ``(B, k)``.
    """
    if int(steps) == 0:
        return z0
    z = project_latents(z0, project)
    for _ in range(int(steps)):
        with tf.GradientTape() as tape:
            tape.watch(z)
            error = tf.reduce_sum(error_fn(z))
        grad = tape.gradient(error, z)
        if not second_order:
            grad = tf.stop_gradient(grad)
        z = project_latents(z - tf.cast(step_size, z.dtype) * grad, project)
    return z
