"""Input checks shared by every operator.

All checks raise :class:`ValueError` naming the operator, what it expected and what it received,
before any work is done. Shape and dtype checks are static, so they also run while tracing a
``tf.function``; the finiteness check needs concrete values and only runs eagerly (inside a traced
training step it would cost a host synchronisation per step, and the data entering the step has
already been checked at the boundary).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _shape_str(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def check_float_tensor(x, owner: str, what: str = "images"):
    """Converts ``x`` to a tensor and checks it is floating point.

    Returns the tensor. Integer, boolean and string inputs raise: images are float in [0, 1]
    (divide uint8 images by 255 first).
    """
    if not tf.is_tensor(x):
        arr = np.asarray(x)
        if arr.dtype.kind not in "f":
            raise ValueError(
                f"{owner}: expected floating-point {what} (float32 or float64, images in [0, 1]); "
                f"received dtype {arr.dtype}. Convert with x.astype('float32') / 255 for uint8 images."
            )
        x = tf.convert_to_tensor(arr)
    elif not x.dtype.is_floating:
        raise ValueError(
            f"{owner}: expected floating-point {what} (float32 or float64, images in [0, 1]); "
            f"received dtype {x.dtype.name}. Cast with tf.cast(x, 'float32') / 255 for uint8 images."
        )
    return x


def check_finite(x, owner: str, what: str = "images"):
    """Raises if an eager tensor holds NaN or Inf (no-op on symbolic tensors)."""
    if not (tf.executing_eagerly() and hasattr(x, "numpy")):
        return
    values = x.numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{owner}: expected finite {what}; received {int(bad.sum())} NaN/Inf value(s) "
            f"in a tensor of shape {_shape_str(values.shape)}."
        )


def check_images(x, owner: str, image_shape=None):
    """Checks a batch of NHWC images: rank 4, floating dtype, finite, and (if given) size.

    Args:
        x: the batch, ``(N, H, W, C)``.
        owner: a name for error messages (the operator's class name).
        image_shape: optional expected ``(H, W, C)``; ``None`` entries are not checked.

    Returns:
        ``x`` as a tensor.
    """
    x = check_float_tensor(x, owner)
    if x.shape.rank != 4:
        raise ValueError(
            f"{owner}: expected a batch of images of rank 4 (N, H, W, C); received shape "
            f"{_shape_str(x.shape)} (rank {x.shape.rank}). Add a batch axis with x[None] or a "
            f"channel axis with x[..., None]."
        )
    if image_shape is not None:
        got = tuple(x.shape[1:])
        for want, have in zip(image_shape, got):
            if want is not None and have is not None and want != have:
                raise ValueError(
                    f"{owner}: expected images of shape (H, W, C) = {_shape_str(image_shape)}; "
                    f"received {_shape_str(got)}."
                )
    check_finite(x, owner)
    return x


def check_theta(theta, batch_size, owner: str, required_keys=()):
    """Checks that θ is a dict of per-example tensors whose leading size matches the batch.

    Returns a dict of tensors (``{}`` for deterministic operators).
    """
    if theta is None:
        return None
    if not isinstance(theta, dict):
        raise ValueError(
            f"{owner}: expected theta as a dict of per-example tensors (as returned by "
            f"sample_theta); received {type(theta).__name__}."
        )
    missing = [k for k in required_keys if k not in theta]
    if missing:
        raise ValueError(
            f"{owner}: theta is missing key(s) {missing}; expected keys {sorted(required_keys)}, "
            f"received keys {sorted(theta)}."
        )
    out = {}
    for key, value in theta.items():
        value = tf.convert_to_tensor(value)
        n = value.shape[0] if value.shape.rank else None
        if value.shape.rank == 0 or (n is not None and batch_size is not None and n != batch_size):
            raise ValueError(
                f"{owner}: theta['{key}'] must have one entry per example (leading size "
                f"{batch_size}, the batch size of x); received shape {_shape_str(value.shape)}."
            )
        out[key] = value
    return out


def check_measurements(y, owner: str, expected_shape):
    """Checks a batch of measurements against ``measurement_shape`` (one measurement's shape)."""
    y = check_float_tensor(y, owner, what="measurements")
    expected_shape = tuple(expected_shape)
    if y.shape.rank != len(expected_shape) + 1:
        raise ValueError(
            f"{owner}: expected measurements of shape (N, {', '.join(map(str, expected_shape))}); "
            f"received shape {_shape_str(y.shape)}."
        )
    got = tuple(y.shape[1:])
    if any(h is not None and h != w for h, w in zip(got, expected_shape)):
        raise ValueError(
            f"{owner}: expected measurements of shape (N, {', '.join(map(str, expected_shape))}); "
            f"received shape {_shape_str(y.shape)}."
        )
    check_finite(y, owner, what="measurements")
    return y


def check_probability(p, owner: str, name: str = "p"):
    """``p`` must be a number in [0, 1)."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: expected {name} to be a number in [0, 1); received {p!r}.") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: expected {name} in [0, 1); received {p!r}.")
    return value


def check_int(value, owner: str, name: str, minimum: int = 0):
    """``value`` must be an integer (Python or NumPy, not a bool) ``>= minimum``; returns it as an ``int``.

    Example:
        >>> check_int(np.int64(3), "CSGM", "restarts", 1)
        3
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: expected {name} to be an integer >= {minimum}; received {value!r}.")
    return int(value)


def check_positive_int(value, owner: str, name: str):
    """``value`` must be an integer >= 1 (:func:`check_int` with ``minimum=1``)."""
    return check_int(value, owner, name, 1)


def check_positive(value, owner: str, name: str, allow_zero=False):
    """``value`` must be a positive (or, with ``allow_zero``, non-negative) finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: expected {name} to be a number; received {value!r}.") from None
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: expected {name} {bound}; received {value!r}.")
    return v
