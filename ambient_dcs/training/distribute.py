"""Training on several devices with ``tf.distribute``: strategies, loss scaling, random draws.

Keras 3 does the distribution: build and ``compile`` a trainer inside ``strategy.scope()`` and
``fit`` splits every global batch across the replicas (replica ``r`` gets rows
``[r·n, (r+1)·n)``) and sums the gradients across them. A custom ``train_step`` must then do two
things, and the trainers of this package do them through this module:

* **scale its losses**: the gradients of the replicas are *summed*, so each replica
  differentiates ``loss / replicas`` (:func:`scale_loss`); the metrics track the unscaled loss,
  which Keras averages over replicas;
* **draw random numbers for the global batch**: every replica sees the same seeds (the seed
  generator is a mirrored variable), so ``z``, θ and the gradient-penalty α are drawn for the
  whole global batch and each replica keeps its own rows (:func:`replica_rows`). The same seed
  then gives the same numbers with 1 or 2 replicas. Noise drawn inside an operator has the shape
  of the local batch, so its seed is folded with the replica id instead (:func:`replica_seed`):
  independent across replicas, but not bit-identical to a one-device run.

With one device (the default strategy) every function here is the identity.

Example:
    >>> strategy = make_strategy("mirrored")       # all local GPUs (or the CPU)
    >>> with strategy.scope():
    ...     gan = AmbientGAN(G, D, op); gan.compile(...)
    >>> gan.fit(dataset_of_global_batches, ...)
"""

from __future__ import annotations

import os

import tensorflow as tf

__all__ = ["STRATEGIES", "PRECISIONS", "make_strategy", "set_precision", "loss_scaled", "num_replicas", "scale_loss", "replica_rows", "replica_seed", "replica_mean", "gather_replicas"]

#: Names accepted by :func:`make_strategy` (and by the recipes' ``--strategy``, ``recipes.names``).
STRATEGIES = ("default", "mirrored", "multiworker")
#: Names accepted by :func:`set_precision` (and by the recipes' ``--precision``, ``recipes.names``).
PRECISIONS = {"float32": "float32", "mixed-float16": "mixed_float16", "mixed-bfloat16": "mixed_bfloat16"}


def make_strategy(name="default", devices=None):
    """A ``tf.distribute`` strategy by name.

    Args:
        name: ``"default"`` (one device: the current strategy), ``"mirrored"`` (synchronous
            data parallelism over the local devices: all GPUs, or the CPU when there is none) or
            ``"multiworker"`` (``MultiWorkerMirroredStrategy``; the cluster comes from the
            ``TF_CONFIG`` environment variable, one process per worker).
        devices: for ``"mirrored"``, the device names to use (default: all GPUs, else the CPU).

    Raises:
        ValueError: an unknown name, or ``devices`` with another strategy.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}; received {name!r}.")
    if devices is not None and name != "mirrored":
        raise ValueError(f"strategy: devices= is only used by 'mirrored'; received it with {name!r}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if "TF_CONFIG" not in os.environ:
        print("strategy 'multiworker': TF_CONFIG is not set, so this process is a cluster of one worker.")
    return tf.distribute.MultiWorkerMirroredStrategy()


def set_precision(name="float32"):
    """Sets Keras' global dtype policy before networks are built: ``"float32"``, ``"mixed-float16"``
    or ``"mixed-bfloat16"`` (Keras mixed precision: low-precision compute, float32 variables).

    Trainers wrap their optimizers with :func:`loss_scaled` when they are compiled, so float16
    gradients do not underflow. Returns the Keras policy name.
    """
    import keras

    if name not in PRECISIONS:
        raise ValueError(f"precision: expected one of {list(PRECISIONS)}; received {name!r}.")
    keras.mixed_precision.set_global_policy(PRECISIONS[name])
    return PRECISIONS[name]


def loss_scaled(optimizer):
    """``optimizer`` wrapped in a ``keras.optimizers.LossScaleOptimizer`` when the global policy is
    ``mixed_float16`` (dynamic loss scaling), else unchanged."""
    import keras

    if (optimizer is None or keras.mixed_precision.global_policy().name != "mixed_float16"
            or isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def num_replicas():
    """Replicas training in sync under the current strategy (1 outside any strategy)."""
    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def _replica_id():
    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context: no replica of its own
        return tf.constant(0, tf.int32)
    return tf.cast(context.replica_id_in_sync_group, tf.int32)


def scale_loss(loss, optimizer=None):
    """What a replica differentiates: ``loss / replicas`` (the summed gradients are then the mean's),
    times the optimizer's loss scale under float16 mixed precision (``optimizer.scale_loss``; a
    ``keras.optimizers.LossScaleOptimizer`` unscales the gradients when it applies them)."""
    replicas = num_replicas()
    if replicas > 1:
        loss = loss / tf.cast(replicas, loss.dtype)
    return loss if optimizer is None else optimizer.scale_loss(loss)


def replica_rows(draw, n):
    """This replica's rows of a draw made for the global batch.

    Args:
        draw: ``draw(rows) → tensor, or dict of tensors, with leading size rows`` (or ``None``,
            passed through); it must be
            deterministic given its seed (a stateless draw).
        n: rows of the local batch (a Python int or scalar tensor).

    Returns:
        ``draw(n)`` on one device; with ``R`` replicas, rows ``[r·n, (r+1)·n)`` of ``draw(R·n)``
        on replica ``r``.
    """
    replicas = num_replicas()
    if replicas == 1:
        return draw(n)
    full = draw(n * replicas)
    if full is None:
        return None
    start = _replica_id() * tf.cast(n, tf.int32)
    pick = lambda t: t[start:start + tf.cast(n, tf.int32)]  # noqa: E731
    return {k: pick(v) for k, v in full.items()} if isinstance(full, dict) else pick(full)


def replica_seed(seed):
    """A stateless seed ``(2,)`` made distinct per replica (unchanged with one replica)."""
    if num_replicas() == 1:
        return seed
    return tf.random.experimental.stateless_fold_in(seed, _replica_id())


def replica_mean(value):
    """The mean of ``value`` over the replicas (an all-reduce; unchanged with one replica).

    For losses normalised by a count that differs between replicas (e.g. the labelled images of a
    batch): dividing each replica's sum by the replicas' mean count makes the mean of the
    replicas' losses the loss of the global batch.
    """
    replicas = num_replicas()
    context = tf.distribute.get_replica_context()
    if replicas == 1 or context is None:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, value)


def gather_replicas(value):
    """The rows of every replica's ``value`` in replica order (an all-gather on axis 0; unchanged with
    one replica): what each replica writes into a state shared by all of them (e.g. a sample pool)."""
    context = tf.distribute.get_replica_context()
    if num_replicas() == 1 or context is None:
        return value
    return context.all_gather(value, axis=0)
