"""Operators by name, for command lines and configuration files.

Example:
    >>> op = get("PixelDrop", p=0.9, noise={"GaussianNoise": {"std": 0.1}})
    >>> op2 = from_config(config_of(op))        # a JSON-able dict round trip
"""

from __future__ import annotations

import difflib
import inspect

import keras

from . import blur, compose, identity, masks, noise, patches, projection, resolution, tomography
from .base import Operator

OPERATORS = {
    cls.__name__: cls
    for module in (masks, projection, blur, tomography, resolution, identity, patches, compose)
    for cls in vars(module).values()
    if inspect.isclass(cls) and issubclass(cls, Operator) and not cls.__name__.startswith("_")
    and cls.__module__ == module.__name__ and cls.__name__ not in ("MaskOperator",)
}
NOISE_MODELS = {"GaussianNoise": noise.GaussianNoise, "PoissonNoise": noise.PoissonNoise}


def _unknown(kind, name, known):
    close = difflib.get_close_matches(str(name), list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}; expected one of {sorted(known)}.{hint}")


def _noise(spec):
    if spec is None or isinstance(spec, noise.NoiseModel):
        return spec
    if isinstance(spec, dict) and len(spec) == 1:
        (name, args), = spec.items()
        if name not in NOISE_MODELS:
            raise _unknown("noise model", name, NOISE_MODELS)
        return NOISE_MODELS[name](**(args or {}))
    raise ValueError(f"expected noise as {{'GaussianNoise': {{'std': 0.1}}}} or a NoiseModel; received {spec!r}.")


def get(name, **kwargs):
    """Builds the operator called ``name`` with ``kwargs``; ``noise`` may be a ``{name: args}`` dict.

    Unknown names and arguments raise ``ValueError`` listing what is accepted.
    """
    if name not in OPERATORS:
        raise _unknown("operator", name, OPERATORS)
    cls = OPERATORS[name]
    if "noise" in kwargs:
        kwargs["noise"] = _noise(kwargs["noise"])
    accepted = _accepted_arguments(cls)
    bad = sorted(set(kwargs) - accepted)
    if bad:
        raise ValueError(f"{name}: unknown argument(s) {bad}; expected some of {sorted(accepted)}.")
    try:
        return cls(**kwargs)
    except TypeError as err:  # e.g. a missing required argument
        raise ValueError(f"{name}: {err}") from None


def _accepted_arguments(cls):
    names = set()
    for klass in cls.__mro__:
        if klass is keras.layers.Layer:
            break
        params = inspect.signature(klass.__init__).parameters
        names.update(p for p, v in params.items() if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL))
    return names | {"name", "dtype"}


def config_of(op):
    """A JSON-able description of ``op`` (``keras.saving.serialize_keras_object``)."""
    return keras.saving.serialize_keras_object(op)


def from_config(config):
    """The operator described by :func:`config_of`."""
    return keras.saving.deserialize_keras_object(config)
