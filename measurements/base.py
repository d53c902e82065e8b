"""Base classes of the operator library: :class:`Operator` and :class:`LinearOperator`.

A measurement operator maps a batch of images ``x`` (``(N, H, W, C)``, float, in [0, 1]) and
per-example parameters ``θ`` to measurements ``y = noise(A_θ(x))``. It is a
``keras.layers.Layer``: it can hold weights (learned measurements), is saved inside ``.keras``
models, and works on eager and symbolic tensors, inside ``tf.function`` and under XLA.

Subclassing:
    Implement ``forward(x, theta)`` (the clean map, differentiable in ``x``; cast any constant to
    ``x.dtype``), plus ``draw_theta(batch_size, seed, image_shape)`` if the operator is random
    (``seed`` is a shape-``[2]`` stateless seed; return a dict of per-example tensors and list its
    keys in ``theta_keys``), plus ``get_config`` if the constructor has arguments. Nothing else:
    validation, θ drawing (the public ``sample_theta``, which must not be overridden with another
    signature: the class definition raises ``TypeError`` then), noise, seeding, serialisation and
    ``measurement_shape`` (inferred from ``forward``; override it where a closed form is natural)
    come from the base class. A
    linear operator subclasses :class:`LinearOperator` and gets ``adjoint`` (by autodiff) and
    ``pseudo_inverse`` (conjugate gradients) for free; override them with closed forms where
    natural. Check a linear operator with ``measurements.testing.check_adjoint``.

Example:
    >>> class Darken(Operator):            # y = x / 2, a deterministic operator
    ...     def forward(self, x, theta):
    ...         return 0.5 * x
    >>> Darken()(tf.ones((1, 4, 4, 1))).shape
    TensorShape([1, 4, 4, 1])
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import tensorflow as tf

from . import validation
from .noise import NoiseModel
from .seeding import draw_seed, split_seed


def _batch_dim(x):
    """Static batch size if known, else the dynamic one."""
    return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]


def _per_example_dot(a, b):
    """⟨a_i, b_i⟩ for each example i: sums over every axis but the first."""
    return tf.reduce_sum(tf.reshape(a * b, [tf.shape(a)[0], -1]), axis=1)


def _check_sample_theta_override(cls):
    """Refuses, when the class is defined, an override of ``sample_theta`` the library cannot use.

    The library calls ``operator.sample_theta(n, seed=..., image_shape=...)`` (``seed`` an int, or a
    shape-``[2]`` tensor inside training steps), and ``op(x)`` / ``measure`` draw θ through
    ``draw_theta``: an override such as ``sample_theta(self, batch_size, seed)`` would fail deep in
    training, or be bypassed. Random operators implement ``draw_theta`` instead.
    """
    if "sample_theta" not in cls.__dict__:
        return
    raw = cls.__dict__["sample_theta"]
    try:
        signature = inspect.signature(getattr(cls, "sample_theta"))
    except (TypeError, ValueError):  # not introspectable: trust it
        return
    args = (1,) if isinstance(raw, (staticmethod, classmethod)) else (None, 1)
    try:
        signature.bind(*args, seed=0, image_shape=(1, 1, 1))
    except TypeError:
        problem = (f"received sample_theta{signature}, which cannot take the call "
                   f"sample_theta(batch_size, seed=..., image_shape=...) the library makes")
    else:
        if not (cls.theta_keys and cls.draw_theta is Operator.draw_theta):
            return
        problem = ("received an override of sample_theta and no draw_theta, which op(x), measure() "
                   "and the trainers call to draw θ")
    raise TypeError(
        f"{cls.__name__}: expected a random operator to implement draw_theta(self, batch_size, seed, "
        f"image_shape) and to inherit sample_theta; {problem}. Rename the method draw_theta and add "
        f"the image_shape argument: seed is then a shape-[2] integer tensor for "
        f"tf.random.stateless_* ops (the inherited sample_theta turns an int or None into it), "
        f"and the result a dict of per-example tensors keyed as theta_keys."
    )


class Operator(keras.layers.Layer):
    """A (possibly non-linear, possibly random) measurement operator ``y = noise(A_θ(x))``.

    Args:
        noise: an optional :class:`~measurements.noise.NoiseModel` applied after ``forward`` in
            ``call`` (e.g. ``GaussianNoise(0.1)``).
        seed: seed of the operator's generator, which draws θ and the noise when ``call`` is not
            given them. The same seed gives the same sequence of measurements.
        image_shape: optional ``(H, W, C)`` of the images; needed by ``sample_theta`` before the
            operator has seen any image, and fixed once weights depend on it.
        **kwargs: ``name``, ``dtype`` (e.g. ``"float64"``) and other ``keras.layers.Layer`` arguments.

    Attributes:
        theta_keys: names of the tensors ``sample_theta`` returns (empty: deterministic operator).
        is_linear: whether ``forward`` is linear in ``x`` (then ``adjoint`` exists).
        exposes_theta: whether a discriminator should see θ (``theta_features``) next to ``y``.
        is_mask: whether ``forward`` keeps some entries of ``x`` and zeroes the others
            (``y = m_θ ⊙ x``, up to a per-entry factor); such an operator provides
            ``observed(theta, image_shape) → bool (N, H, W, C)``. Trainers that learn from masked
            data (``ambient_dcs.models.AmbientDiffusion``) accept exactly these operators.
        fixed_image_shape: whether the image shape is fixed once the operator is built (operators
            with shape-dependent weights or masks); others accept any image size.
        theta_needs_image_shape: whether θ depends on the image shape (a mask does, rotation angles
            do not). When false, ``sample_theta`` works without knowing it and ``draw_theta`` may
            receive ``image_shape=None``.
    """

    theta_keys: tuple = ()
    is_linear = False
    exposes_theta = False
    is_mask = False
    fixed_image_shape = False
    theta_needs_image_shape = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _check_sample_theta_override(cls)

    def __init__(self, noise=None, seed=None, image_shape=None, **kwargs):
        super().__init__(**kwargs)
        if noise is not None and not isinstance(noise, NoiseModel):
            raise ValueError(
                f"{type(self).__name__}: expected noise to be a NoiseModel such as "
                f"GaussianNoise(std) or None; received {noise!r}."
            )
        self.noise = noise
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)
        # Weights are created on the first call, or by ensure_built() from this shape.
        self.image_shape = None if image_shape is None else tuple(int(d) for d in image_shape)
        self._inferred_measurement_shapes = {}  # image shape -> measurement shape, see measurement_shape

    # ------------------------------------------------------------------ shapes and building
    @property
    def _owner(self):
        return type(self).__name__

    def build(self, input_shape):
        image_shape = tuple(int(d) if d is not None else None for d in tuple(input_shape)[1:])
        if len(image_shape) != 3:
            raise ValueError(
                f"{self._owner}: expected images of rank 4 (N, H, W, C); received shape "
                f"{tuple(input_shape)}."
            )
        self.check_image_shape(image_shape)
        if self.image_shape is None:
            self.image_shape = image_shape
        self.build_weights(self.image_shape if self.fixed_image_shape else image_shape)
        super().build(input_shape)

    def ensure_built(self, image_shape=None):
        """Builds the operator (creates its weights) for ``image_shape`` if not built yet."""
        if not self.built:
            self.build((None, *self._resolve_image_shape(image_shape)))

    def build_weights(self, image_shape):
        """Creates weights that depend on the image shape (learned or fixed matrices)."""

    def check_image_shape(self, image_shape):
        """Raises ``ValueError`` if the operator cannot measure images of this ``(H, W, C)``.

        Subclasses extend it (e.g. a block larger than the image); call ``super()`` first.
        """
        if self.fixed_image_shape and self.image_shape is not None:
            if tuple(image_shape) != tuple(self.image_shape):
                raise ValueError(
                    f"{self._owner}: expected images of shape (H, W, C) = {tuple(self.image_shape)} "
                    f"(the operator was built for it); received {tuple(image_shape)}."
                )

    def _resolve_image_shape(self, image_shape):
        shape = image_shape if image_shape is not None else self.image_shape
        if shape is None:
            raise ValueError(
                f"{self._owner}: the image shape is unknown; pass image_shape=(H, W, C) to the "
                f"constructor or to sample_theta, or call the operator on a batch first."
            )
        shape = tuple(int(d) for d in shape)
        self.check_image_shape(shape)
        return shape

    def measurement_shape(self, image_shape):
        """Shape of one measurement of an image of shape ``(H, W, C)``.

        By default it is inferred from ``forward``: traced (nothing is computed) on a batch of one
        image of that shape, with θ drawn for it, once per image shape. Operators whose output shape
        has a closed form override it (every built-in operator does).

        Example:
            >>> class AbsProjection(Operator):          # y = |A vec(x)|, A fixed (64 × 784)
            ...     def forward(self, x, theta):
            ...         return tf.abs(tf.reshape(x, [-1, 784]) @ tf.cast(A.T, x.dtype))
            >>> AbsProjection().measurement_shape((28, 28, 1))
            (64,)
        """
        image_shape = tuple(None if d is None else int(d) for d in image_shape)
        cache = self.__dict__.get("_inferred_measurement_shapes")
        if cache is None:  # a subclass that skipped Operator.__init__
            cache = {}
        if image_shape not in cache:
            cache[image_shape] = self._infer_measurement_shape(image_shape)
        return cache[image_shape]

    def _infer_measurement_shape(self, image_shape):
        """Traces ``forward`` on one image of ``image_shape``; returns its output shape less the batch."""
        if None not in image_shape:
            with tf.init_scope():  # weights that forward reads are created eagerly, not in the trace
                self.ensure_built(image_shape)

        def trace(x):
            theta = self.draw_theta(1, tf.zeros([2], tf.int64), image_shape) if self.is_random else {}
            return self.forward(x, theta)

        spec = tf.TensorSpec((1, *image_shape), self.compute_dtype)
        try:
            y = tf.function(trace, autograph=False).get_concrete_function(spec).structured_outputs
        except Exception as err:
            raise ValueError(
                f"{self._owner}: could not infer measurement_shape from forward on a batch of one "
                f"image of shape (H, W, C) = {image_shape}; forward raised {type(err).__name__}: {err}. "
                f"Override measurement_shape(image_shape) if forward cannot be traced."
            ) from err
        shape = tuple(y.shape) if tf.is_tensor(y) else ()
        if len(shape) < 1 or shape[0] not in (1, None) or (None in shape[1:] and None not in image_shape):
            raise ValueError(
                f"{self._owner}: could not infer measurement_shape from forward: expected forward to "
                f"return one tensor of static shape (1, ...) for a batch of one image of shape "
                f"{image_shape}; received {type(y).__name__} of shape {shape}. Override "
                f"measurement_shape(image_shape)."
            )
        return tuple(None if d is None else int(d) for d in shape[1:])

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return (input_shape[0], *self.measurement_shape(tuple(input_shape)[1:]))

    # ------------------------------------------------------------------ θ
    @property
    def is_random(self):
        """Whether the operator draws per-example parameters θ."""
        return bool(self.theta_keys)

    def sample_theta(self, batch_size, seed=None, image_shape=None):
        """Draws per-example parameters θ.

        Args:
            batch_size: number of examples (a Python int or a scalar tensor).
            seed: ``None`` to draw from the operator's generator, or an int (same int, same θ).
            image_shape: ``(H, W, C)``; defaults to the operator's image shape. Operators whose θ
                does not depend on it (``theta_needs_image_shape`` false, e.g. ``PadRotateProject``)
                do not need it.

        Returns:
            A dict of tensors whose first axis is ``batch_size`` (``{}`` if deterministic).

        Example:
            >>> PadRotateProject(num_angles=2).sample_theta(4, seed=0)["angles"].shape
            TensorShape([4, 2])
        """
        if not self.is_random:
            return {}
        if image_shape is None and self.image_shape is None and not self.theta_needs_image_shape:
            shape = None
        else:
            shape = self._resolve_image_shape(image_shape)
        return self.draw_theta(batch_size, draw_seed(seed, self._generator), shape)

    def draw_theta(self, batch_size, seed, image_shape):
        """Draws θ. Random operators implement this (and not ``sample_theta``).

        Args:
            batch_size: number of examples (a Python int or a scalar tensor).
            seed: a shape-``[2]`` integer tensor for ``tf.random.stateless_*`` ops.
            image_shape: ``(H, W, C)``; ``None`` only when ``theta_needs_image_shape`` is false.
        """
        raise NotImplementedError(f"{self._owner} lists theta_keys but does not implement draw_theta.")

    def theta_features(self, theta):
        """θ as a ``(N, k)`` float tensor for a discriminator (``None`` unless ``exposes_theta``)."""
        return None

    # ------------------------------------------------------------------ applying
    def __call__(self, x, theta=None, seed=None, **kwargs):
        x = self._check_input(x)
        theta = validation.check_theta(theta, x.shape[0], self._owner, self.theta_keys)
        return super().__call__(x, theta=theta, seed=seed, **kwargs)

    def _check_input(self, x):
        if isinstance(x, keras.KerasTensor):  # symbolic: static checks only
            if len(x.shape) != 4 or not keras.backend.is_float_dtype(x.dtype):
                raise ValueError(
                    f"{self._owner}: expected float images of rank 4 (N, H, W, C); received a "
                    f"{x.dtype} tensor of shape {x.shape}."
                )
            return x
        x = validation.check_images(x, self._owner)
        self.check_image_shape(tuple(x.shape[1:]))
        return x

    def call(self, x, theta=None, seed=None):
        """Noisy measurement ``noise(forward(x, θ))``; θ is drawn when not given.

        Args:
            x: images ``(N, H, W, C)`` in [0, 1].
            theta: per-example parameters from ``sample_theta`` (drawn fresh when ``None``).
            seed: optional int making this call's θ and noise reproducible.
        """
        seeds = split_seed(draw_seed(seed, self._generator), 2)
        if theta is None:
            theta = {}
            if self.is_random:
                theta = self.draw_theta(_batch_dim(x), seeds[0], tuple(x.shape[1:]))
        y = self.forward(x, theta)
        if self.noise is not None:
            y = self.noise(y, seed=seeds[1])
        return y

    def forward(self, x, theta):
        """The clean map ``A_θ(x)``, differentiable in ``x``. Every operator implements it."""
        raise NotImplementedError(f"{self._owner} must implement forward(x, theta).")

    def measure(self, x, seed=None):
        """Measures ``x`` and returns ``(y, θ)``, θ being what an instrument would record.

        Example:
            >>> y, theta = PixelDrop(0.5).measure(images, seed=0)
        """
        x = self._check_input(x)
        if not self.built:
            self.build(x.shape)
        root = draw_seed(seed, self._generator)
        theta = {}
        if self.is_random:
            theta = self.draw_theta(_batch_dim(x), split_seed(root, 2)[0], tuple(x.shape[1:]))
        # call() splits the same root seed the same way, so op(x, theta, seed=root) draws this noise.
        return self(x, theta=theta, seed=root), theta

    def check_measurements(self, y, image_shape=None):
        """Validates measurements ``y`` against ``measurement_shape``; returns them as a tensor."""
        shape = self._resolve_image_shape(image_shape)
        return validation.check_measurements(y, self._owner, self.measurement_shape(shape))

    # ------------------------------------------------------------------ serialisation
    def get_config(self):
        config = super().get_config()
        config.update(
            noise=keras.saving.serialize_keras_object(self.noise) if self.noise is not None else None,
            seed=self.seed,
            image_shape=list(self.image_shape) if self.image_shape is not None else None,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("noise"), dict):
            config["noise"] = keras.saving.deserialize_keras_object(config["noise"])
        return cls(**config)


class LinearOperator(Operator):
    """An operator linear in ``x`` for every θ: adds ``adjoint`` and ``pseudo_inverse``.

    The defaults work for any linear ``forward``: the adjoint by automatic differentiation
    (``Aᵀy = ∇ₓ⟨A x, y⟩``) and the pseudo-inverse by conjugate gradients on ``A Aᵀ w = y``
    (``x = Aᵀ w`` is the minimum-norm least-squares solution). Subclasses override them with
    closed forms where natural; ``autodiff_adjoint`` stays available to check them.
    """

    is_linear = True

    def _theta_for(self, theta, what):
        if theta is None:
            if self.is_random:
                raise ValueError(
                    f"{self._owner}: {what} needs the θ that produced the measurements "
                    f"(keys {list(self.theta_keys)}); received theta=None."
                )
            return {}
        return theta

    def adjoint(self, y, theta=None):
        """``Aᵀ y``: measurements ``(N, *measurement_shape)`` → images ``(N, H, W, C)``."""
        return self.autodiff_adjoint(y, theta)

    def autodiff_adjoint(self, y, theta=None):
        """``Aᵀ y`` by automatic differentiation of ``⟨A x, y⟩`` (needs the image shape)."""
        theta = self._theta_for(theta, "adjoint")
        image_shape = self._resolve_image_shape(None)
        y = tf.convert_to_tensor(y)
        x0 = tf.zeros(tf.concat([[tf.shape(y)[0]], image_shape], axis=0), dtype=y.dtype)
        with tf.GradientTape() as tape:
            tape.watch(x0)
            inner = tf.reduce_sum(self.forward(x0, theta) * y)
        return tape.gradient(inner, x0)

    def pseudo_inverse(self, y, theta=None, max_iterations=500, tolerance=1e-6):
        """``A⁺ y``, the minimum-norm least-squares solution, by conjugate gradients.

        Solves ``A Aᵀ w = y`` per example (batched CG) and returns ``Aᵀ w``. Stops after
        ``max_iterations`` or when every example's relative residual is below ``tolerance``.
        """
        theta = self._theta_for(theta, "pseudo_inverse")
        y = tf.convert_to_tensor(y)

        def normal(w):
            return self.forward(self.adjoint(w, theta), theta)

        w = tf.zeros_like(y)
        r = y
        p = r
        rs = _per_example_dot(r, r)
        stop = tf.cast(tolerance, y.dtype) ** 2 * tf.maximum(_per_example_dot(y, y), 1e-30)

        def expand(v):
            return tf.reshape(v, [-1] + [1] * (y.shape.rank - 1))

        def cond(i, w, r, p, rs):
            return tf.logical_and(i < max_iterations, tf.reduce_any(rs > stop))

        def body(i, w, r, p, rs):
            ap = normal(p)
            pap = _per_example_dot(p, ap)
            alpha = tf.where(pap > 0, rs / tf.where(pap > 0, pap, 1), tf.zeros_like(rs))
            w = w + expand(alpha) * p
            r = r - expand(alpha) * ap
            rs_new = _per_example_dot(r, r)
            beta = tf.where(rs > 0, rs_new / tf.where(rs > 0, rs, 1), tf.zeros_like(rs))
            p = r + expand(beta) * p
            return i + 1, w, r, p, rs_new

        _, w, _, _, _ = tf.while_loop(cond, body, (tf.constant(0), w, r, p, rs))
        return self.adjoint(w, theta)


def as_numpy_dict(theta):
    """θ as a dict of NumPy arrays (e.g. for ``np.savez``)."""
    return {k: np.asarray(v) for k, v in (theta or {}).items()}
