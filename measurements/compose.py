"""Composition of two operators: ``A = outer ∘ inner``.

Example:
    >>> op = Compose(GaussianProjection(50, seed=0), SuperResolution(2))   # 28×28 → 14×14 → 50
    >>> y = op(images)
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .base import LinearOperator, Operator
from .seeding import split_seed


@keras.saving.register_keras_serializable(package="measurements")
class Compose(LinearOperator):
    """``y = noise(outer(inner(x)))``; linear when both parts are.

    θ is one flat dict whose keys carry the part's name: ``"inner/mask"``, ``"outer/matrix"``.
    When both parts are linear, ``adjoint`` applies the adjoints in reverse order and
    ``is_linear`` is true; otherwise ``adjoint`` raises ``TypeError``. The parts must be
    noise-free: give ``noise=`` to ``Compose`` itself.

    Args:
        outer: the operator applied second; it measures ``inner``'s output.
        inner: the operator applied first, to the images.
    """

    def __init__(self, outer, inner, **kwargs):
        for role, part in (("outer", outer), ("inner", inner)):
            if not isinstance(part, Operator):
                raise ValueError(f"Compose: expected {role} to be an Operator; received {part!r}.")
            if part.noise is not None:
                raise ValueError(
                    f"Compose: expected noise-free parts (give noise= to Compose); received {role} "
                    f"{type(part).__name__} with noise {type(part.noise).__name__}."
                )
        super().__init__(**kwargs)
        self.outer, self.inner = outer, inner
        self.is_linear = outer.is_linear and inner.is_linear
        self.exposes_theta = outer.exposes_theta or inner.exposes_theta
        self.theta_keys = tuple(f"inner/{k}" for k in inner.theta_keys) + tuple(
            f"outer/{k}" for k in outer.theta_keys)
        self.fixed_image_shape = outer.fixed_image_shape or inner.fixed_image_shape
        self.theta_needs_image_shape = any(p.is_random and p.theta_needs_image_shape for p in (outer, inner))

    def check_image_shape(self, image_shape):
        super().check_image_shape(image_shape)
        self.inner.check_image_shape(image_shape)
        self.outer.check_image_shape(self.inner.measurement_shape(image_shape))

    def build_weights(self, image_shape):
        if not self.inner.built:
            self.inner.build((None, *image_shape))
        if not self.outer.built:
            self.outer.build((None, *self.inner.measurement_shape(image_shape)))

    def measurement_shape(self, image_shape):
        return self.outer.measurement_shape(self.inner.measurement_shape(image_shape))

    @staticmethod
    def _part(theta, role):
        prefix = role + "/"
        return {k[len(prefix):]: v for k, v in (theta or {}).items() if k.startswith(prefix)}

    def draw_theta(self, batch_size, seed, image_shape):
        s = split_seed(seed, 2)
        theta = {}
        if self.inner.is_random:
            theta.update({f"inner/{k}": v for k, v in self.inner.draw_theta(batch_size, s[0], image_shape).items()})
        if self.outer.is_random:
            mid = None if image_shape is None else self.inner.measurement_shape(image_shape)
            theta.update({f"outer/{k}": v for k, v in self.outer.draw_theta(batch_size, s[1], mid).items()})
        return theta

    def theta_features(self, theta):
        parts = [f for f in (self.inner.theta_features(self._part(theta, "inner")),
                             self.outer.theta_features(self._part(theta, "outer"))) if f is not None]
        return tf.concat(parts, axis=-1) if parts else None

    def forward(self, x, theta):
        return self.outer.forward(self.inner.forward(x, self._part(theta, "inner")), self._part(theta, "outer"))

    def _require_linear(self, what):
        if not self.is_linear:
            nonlinear = [type(p).__name__ for p in (self.outer, self.inner) if not p.is_linear]
            raise TypeError(f"Compose: {what} needs linear parts; {', '.join(nonlinear)} is not linear.")

    def adjoint(self, y, theta=None):
        self._require_linear("adjoint")
        theta = self._theta_for(theta, "adjoint")
        return self.inner.adjoint(self.outer.adjoint(y, self._part(theta, "outer")), self._part(theta, "inner"))

    def autodiff_adjoint(self, y, theta=None):
        self._require_linear("autodiff_adjoint")
        return super().autodiff_adjoint(y, theta)

    def pseudo_inverse(self, y, theta=None, **kwargs):
        self._require_linear("pseudo_inverse")
        return super().pseudo_inverse(y, theta, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(outer=keras.saving.serialize_keras_object(self.outer),
                      inner=keras.saving.serialize_keras_object(self.inner))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for role in ("outer", "inner"):
            if isinstance(config.get(role), dict):
                config[role] = keras.saving.deserialize_keras_object(config[role])
        return super().from_config(config)
