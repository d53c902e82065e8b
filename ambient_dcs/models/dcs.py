"""Deep Compressed Sensing: meta-learned latent optimisation with a trained generator and measurement.

Wu, Rosca & Lillicrap, "Deep Compressed Sensing", ICML 2019 (Algorithms 1 and 2). A generator ``G``
and, optionally, the measurement ``F`` are trained so that a *few* (``T = 3``) gradient steps on the
latent reconstruct a signal from its measurement::

    m = F(x)                                    # the measurement of a training image
    z ← project(z0),  z0 ~ N(0, I)
    repeat T times:  z ← project(z − s · ∂E/∂z),  E(z) = Σ_j (m_j − F(G(z))_j)²
    L_G = mean_b E(ẑ)                           # measurement error at the optimised latent
    L_F = mean_b [(r(x̂, x₀) + r(x̂, x) + r(x₀, x)) / 3]     # RIP / triplet loss, x̂ = G(ẑ), x₀ = G(z₀)
    r(a, b) = (‖a − b‖ − ‖F(a − b)‖)²   for a linear F       (Eq. 12)
    r(a, b) = (‖a − b‖ − ‖F(a) − F(b)‖)² for a non-linear F  (the original code; its issue #155)

The outer loss is differentiated through the ``T`` unrolled steps, including the second-order term
through ``∂E/∂z`` (MAML-style; :func:`ambient_dcs.latent.optimise_latents`), and the step size
``s = exp(log_s)`` is a trained variable (initialised to ``log 0.01``).

* **Algorithm 1** — ``operator`` a fixed :class:`measurements.GaussianProjection` (or any operator
  without trainable weights, e.g. a frozen random :class:`measurements.LearnedNetwork`): G and s are
  trained on ``L_G + rip_weight · L_F``.
* **Algorithm 2** — ``operator`` a :class:`measurements.LearnedLinear` ("LINEAR(L)") or
  :class:`measurements.LearnedNetwork` ("NN(L)"): its weights are trained too, either jointly
  (``update="joint"``: one optimiser, G, s and F on ``L_G + rip_weight · L_F``) or alternating
  (``update="alternating"``: G and s on ``L_G``, F on ``rip_weight · L_F``, each with its own
  optimiser; both gradients come from the same forward pass, as Algorithm 2's option 2).

Reconstruction is the same ``T``-step optimisation from a fresh ``z0 ~ N(0, I)``: the fast path,
orders of magnitude cheaper than CSGM's 10 × 1000 Adam steps, made from the trained model by
:meth:`ambient_dcs.reconstruction.LearnedLatentReconstructor.from_trainer`.

Differences from the original code (``deepmind-research/cs_gan``), on purpose:

* images are in [0, 1] (the original maps them to [-1, 1]): errors are in the project's unit, the
  per-image ``Σ (x̂ − x)²`` with pixels in [0, 1], as the paper's Table 2;
* the RIP loss uses ``F(a − b)`` for a linear ``F`` (Eq. 12; identical to ``F(a) − F(b)`` in exact
  arithmetic) and ``F(a) − F(b)`` otherwise;
* ``x₀`` in the RIP loss is ``G`` at the *projected* ``z0``, the start of the latent optimisation as
  the paper describes it (the original used the unprojected sample, far off the unit sphere the
  generator is trained on). With ``latent_steps=0`` nothing is projected and ``x₀ = x̂``;
* measurements used in training are noise-free (``operator.forward``), as in the paper.

Example:
    >>> import measurements as M
    >>> from ambient_dcs.networks import mlp_generator
    >>> dcs = DeepCompressedSensing(mlp_generator(seed=0), M.LearnedLinear(25, seed=0), seed=0)
    >>> dcs.compile()                                   # Adam(1e-4), as the original
    >>> dcs.fit(as_tf_dataset(x_train, batch_size=64, repeat=True), steps_per_epoch=1000, epochs=5)
    >>> fast = LearnedLatentReconstructor.from_trainer(dcs)      # 3 learned latent steps, one start
    >>> rec = fast.reconstruct(dcs.measure(x_test))
    >>> rec.x.shape, rec.measurement_error.shape        # (N, 28, 28, 1) in [0, 1], (N,)

Saving: ``dcs.generator.save("dcs_generator.keras")`` stores the generator (a plain Keras model);
``dcs.save("dcs.keras")`` stores the whole model (generator, operator, learned step size, settings,
optimisers); load it with ``keras.saving.load_model`` after ``import ambient_dcs``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import measurements

from ..latent import optimise_latents, project_latents
from .base import (GenerativeTrainer, _check_batch_images, _check_common, _check_float, _image_shape_from,
                   _latent_dim_of, _log_step_weight, _norm, _per_example_sum_sq)

__all__ = ["DeepCompressedSensing", "UPDATES", "rip_loss", "distance_scale", "calibrate_measurement"]

UPDATES = ("joint", "alternating")


# ---------------------------------------------------------------------- the RIP loss
def rip_loss(operator, a, b, theta=None):
    """Per-example ``(‖a − b‖ − ‖F(a − b)‖)²`` (linear ``F``) or ``(‖a − b‖ − ‖F(a) − F(b)‖)²``.

    Args:
        operator: a :class:`measurements.Operator`; its noise-free ``forward`` is ``F``.
        a, b: images ``(N, H, W, C)`` (any values: differences of images are not in [0, 1]).
        theta: the operator's per-example parameters (``{}`` / ``None`` if deterministic).

    Returns:
        ``(N,)`` float tensor.

    Example:
        >>> op = measurements.GaussianProjection(25, seed=0)
        >>> rip_loss(op, x1, x2)        # ≈ 0 when F nearly preserves the distance of x1 and x2
    """
    theta = theta or {}
    if operator.is_linear:
        measured = operator.forward(a - b, theta)  # Eq. 12: ‖F(x1 − x2)‖ (the original's issue #155)
    else:
        measured = operator.forward(a, theta) - operator.forward(b, theta)
    return tf.square(_norm(a - b) - _norm(measured))


# ---------------------------------------------------------------------- measurement scale
def distance_scale(operator, images, pairs=2000, seed=0):
    """``√(mean ‖a − b‖² / mean ‖F(a) − F(b)‖²)`` over random pairs of images (1 for an isometry on average).

    Args:
        operator: a deterministic :class:`measurements.Operator` (its noise-free ``forward`` is ``F``).
        images: ``(N, H, W, C)`` in [0, 1], ``N >= 2``.
        pairs: number of random pairs ``(a, b)``, ``a ≠ b``.
        seed: which pairs.

    Returns:
        A float.
    """
    x = np.asarray(images, np.float32)
    if x.ndim != 4 or len(x) < 2:
        raise ValueError(f"distance_scale: expected images (N >= 2, H, W, C); received shape {x.shape}.")
    if operator.is_random:
        raise ValueError(f"distance_scale: expected a deterministic operator; {type(operator).__name__} is random.")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(x), pairs)
    j = (i + rng.integers(1, len(x), pairs)) % len(x)  # j ≠ i
    fx = np.concatenate([np.asarray(operator.forward(tf.constant(x[k:k + 1000]), {}))
                         for k in range(0, len(x), 1000)]).reshape(len(x), -1)
    measured = np.sum((fx[i] - fx[j]) ** 2)
    if not measured > 0:
        raise ValueError("distance_scale: the operator maps every image pair to the same measurement.")
    return float(np.sqrt(np.sum((x[i] - x[j]).reshape(pairs, -1) ** 2) / measured))


def calibrate_measurement(operator, images, pairs=2000, seed=0):
    """Rescales a network or matrix measurement so that it preserves distances between images on average.

    A Gaussian projection with ``N(0, 1/m)`` entries keeps ``E‖F(a − b)‖² = ‖a − b‖²``; a randomly
    initialised MLP (:class:`measurements.LearnedNetwork`) does not — with 1/√fan_in weights it
    shrinks distances between digits about 20-fold, so its measurement error is negligible next to
    the RIP loss, and a *fixed* one ("NN" in Table 2) cannot learn its way out. This multiplies the
    output layer (or matrix) by :func:`distance_scale`, so the distances of the given images are
    preserved on average. Supports ``LearnedNetwork``, ``LearnedLinear`` and a fixed
    ``GaussianProjection``.

    Returns:
        The factor applied (a float).

    Example:
        >>> op = measurements.LearnedNetwork(10, seed=0, trainable=False)
        >>> calibrate_measurement(op, x_train[:1000])     # ≈ 20
    """
    operator.ensure_built(tuple(np.shape(images)[1:]))
    if isinstance(operator, measurements.LearnedNetwork):
        weights = [operator.dense_layers[-1].kernel, operator.dense_layers[-1].bias]
    elif isinstance(operator, measurements.GaussianProjection) and not operator.resample:
        weights = [operator.kernel]
    else:
        raise ValueError(f"calibrate_measurement: expected a LearnedNetwork, LearnedLinear or fixed GaussianProjection; "
                         f"received {type(operator).__name__}.")
    factor = distance_scale(operator, images, pairs=pairs, seed=seed)
    for w in weights:
        w.assign(w * factor)
    return factor


# ---------------------------------------------------------------------- the model
@keras.saving.register_keras_serializable(package="ambient_dcs")
class DeepCompressedSensing(GenerativeTrainer):
    """DCS: a generator, a measurement and a learned ``T``-step latent optimiser, trained together.

    Args:
        generator: a Keras model ``z (N, k) → images (N, H, W, C)`` in [0, 1]
            (e.g. :func:`ambient_dcs.networks.mlp_generator`, z dimension 100 as the original).
        operator: the measurement ``F`` (a :class:`measurements.Operator` with an output per
            example). Trainable weights (``LearnedLinear``, ``LearnedNetwork``) are trained
            (Algorithm 2); an operator without trainable weights is fixed (Algorithm 1). Freeze a
            random ``LearnedNetwork`` with ``trainable=False`` for the paper's "NN" row.
        latent_steps: ``T``, gradient steps on ``z`` (paper: 3). ``0`` uses ``z0`` as is.
        rip_weight: weight of the RIP loss ``L_F`` (original: 1).
        update: ``"joint"`` or ``"alternating"`` (Algorithm 2's options; alternating needs an
            operator with trainable weights).
        step_size: initial latent step size ``s`` (learned as ``log s``; original: 0.01).
        project: ``"norm"`` (unit sphere, the original), ``"clip"`` or ``None``.
        second_order: differentiate through ``∂E/∂z`` in the unrolled steps (MAML); ``False``
            is the cheaper first-order approximation.
        seed: seed of the model's random stream (``z0`` and θ during training).
        **kwargs: ``keras.Model`` arguments (``name``).

    Shapes:
        training batches: images ``(N, H, W, C)`` in [0, 1], or ``(images, anything)`` tuples;
        :meth:`measure`: images ``(N, H, W, C)`` → ``(N, *operator.measurement_shape((H, W, C)))``.

    Raises:
        ValueError: bad arguments (named, with what was expected and received), before any work.

    Attributes:
        log_step_size: the trained ``log s`` (a scalar variable); ``step_size()`` gives ``s``.
        image_shape, latent_dim, measurement_shape: read from the parts.
    """

    OPTIMIZERS = ("optimizer", "measurement_optimizer")
    PARTS = ("generator", "operator")

    def __init__(self, generator, operator, latent_steps=3, rip_weight=1.0, update="joint", step_size=0.01,
                 project="norm", second_order=True, seed=None, **kwargs):
        owner = "DeepCompressedSensing"
        latent_steps, step_size = _check_common(owner, latent_steps, step_size, project, seed)
        rip_weight = _check_float(rip_weight, owner, "rip_weight")
        if update not in UPDATES:
            raise ValueError(f"{owner}: expected update in {list(UPDATES)}; received {update!r}.")
        if not isinstance(operator, measurements.Operator):
            raise ValueError(f"{owner}: expected operator to be a measurements.Operator; "
                             f"received {type(operator).__name__}.")
        super().__init__(seed=seed, metric_names=(
            "loss", "measurement_error", "rip_loss", "reconstruction_error", "latent_shift", "step_size"), **kwargs)
        self.latent_dim = _latent_dim_of(generator, owner)
        self.image_shape = _image_shape_from(generator, self.latent_dim, owner)
        operator.ensure_built(self.image_shape)
        if update == "alternating" and not operator.trainable_weights:
            raise ValueError(f"{owner}: update='alternating' trains the measurement on its own, so it needs an "
                             f"operator with trainable weights (LearnedLinear, LearnedNetwork); "
                             f"{type(operator).__name__} has none. Use update='joint'.")
        self.measurement_shape = tuple(int(d) for d in operator.measurement_shape(self.image_shape))
        self.generator = generator
        self.operator = operator
        self.latent_steps = latent_steps
        self.rip_weight = rip_weight
        self.update = update
        self.initial_step_size = step_size
        self.project = project
        self.second_order = bool(second_order)
        self.log_step_size = _log_step_weight(self, step_size)
        self.built = True

    # ------------------------------------------------------------------ the contract
    def settings(self):
        return {"latent_steps": self.latent_steps, "rip_weight": self.rip_weight, "update": self.update,
                "step_size": self.initial_step_size, "project": self.project, "second_order": self.second_order}

    def default_optimizer(self, name):
        return keras.optimizers.Adam(1e-4)  # the original: Adam(1e-4), TF default betas, for both

    def uses_optimizer(self, name):
        # "optimizer" trains G and s (and, joint, the measurement); "measurement_optimizer" trains the
        # measurement on its own with update="alternating" only.
        return name == "optimizer" or self.update == "alternating"

    def optimizer_variables(self, name):
        if name == "measurement_optimizer":
            return list(self.operator.trainable_variables)
        own = list(self.generator.trainable_variables)
        if self.latent_steps > 0:  # with T = 0, s has no effect and would get no gradient
            own.append(self.log_step_size)
        if self.update == "joint":
            own += list(self.operator.trainable_variables)
        return own

    def step_size(self):
        """The learned latent step size ``s = exp(log_step_size)`` (a float)."""
        return float(np.exp(keras.ops.convert_to_numpy(self.log_step_size)))

    # ------------------------------------------------------------------ the pieces
    def _measurement_error_fn(self, y, theta, training):
        """``z ↦ Σ_j (y_j − F(G(z))_j)²`` per example: the inner objective E."""

        def error(z):
            x = self.generator(z, training=training)
            return _per_example_sum_sq(y - self.operator.forward(x, theta))

        return error

    def _optimise(self, z0, y, theta, training, second_order):
        error = self._measurement_error_fn(y, theta, training)
        step = tf.exp(self.log_step_size)
        z = optimise_latents(error, z0, self.latent_steps, step, project=self.project, second_order=second_order)
        return z, error

    def _loss_terms(self, x, z0, theta, training=True):
        """All the training quantities for a batch; differentiable in every trained variable."""
        y = self.operator.forward(x, theta)
        z, _ = self._optimise(z0, y, theta, training, self.second_order)
        x_hat = self.generator(z, training=training)
        # x₀: where the latent optimisation starts (z0 projected; unprojected when T = 0, as optimise_latents).
        start = z0 if self.latent_steps == 0 else project_latents(z0, self.project)
        x_start = self.generator(start, training=training)
        errors = _per_example_sum_sq(y - self.operator.forward(x_hat, theta))
        rip = (rip_loss(self.operator, x_hat, x_start, theta) + rip_loss(self.operator, x_hat, x, theta)
               + rip_loss(self.operator, x_start, x, theta)) / 3.0
        return {
            "measurement_error": tf.reduce_mean(errors),
            "rip_loss": tf.reduce_mean(rip),
            "reconstruction_error": tf.reduce_mean(_per_example_sum_sq(x_hat - x)),
            "latent_shift": tf.reduce_mean(_per_example_sum_sq(z - z0)),
        }

    def _unpack(self, data):
        if isinstance(data, (tuple, list)):
            data = data[0]
        if isinstance(data, dict):
            raise ValueError("DeepCompressedSensing: training batches are images (N, H, W, C) in [0, 1] (or "
                             f"(images, labels) tuples); received a dict with keys {sorted(data)}.")
        x = tf.cast(data, "float32")
        _check_batch_images(x, self.image_shape, "DeepCompressedSensing")
        return x

    def _theta(self, n, seed):
        if not self.operator.is_random:
            return {}
        return self.operator.sample_theta(n, seed=seed, image_shape=self.image_shape)

    def _track_all(self, parts):
        return self.track(**parts, step_size=tf.exp(self.log_step_size))

    # ------------------------------------------------------------------ the step
    def train_step(self, data):
        self._require_compiled()
        x = self._unpack(data)
        n = tf.shape(x)[0]
        seeds = self.step_seeds("z", "theta")
        z0 = self.training_latent(n, seeds["z"])
        theta = self.global_draw(lambda rows: self._theta(rows, seeds["theta"]), n)

        def losses():
            parts = self._loss_terms(x, z0, theta, training=True)
            rip = self.rip_weight * parts["rip_loss"]
            parts["loss"] = parts["measurement_error"] + rip
            # joint: one loss for everything; alternating: G and s fit the measurements, F the RIP loss.
            if self.update == "alternating":
                return {"optimizer": parts["measurement_error"], "measurement_optimizer": rip}, parts
            return {"optimizer": parts["loss"]}, parts

        return self._track_all(self.apply_losses(losses))

    def test_step(self, data):
        x = self._unpack(data)
        n = tf.shape(x)[0]
        seeds = self.step_seeds("z", "theta")
        parts = self._loss_terms(x, self.latent(n, seeds["z"]), self._theta(n, seeds["theta"]), training=False)
        parts["loss"] = parts["measurement_error"] + self.rip_weight * parts["rip_loss"]
        return self._track_all(parts)

    # ------------------------------------------------------------------ measurements
    def measure(self, x, theta=None):
        """The noise-free measurements ``F(x)`` of images ``(N, H, W, C)`` in [0, 1] (NumPy ``(N, m)``)."""
        x = tf.convert_to_tensor(np.asarray(x, np.float32))
        _check_batch_images(x, self.image_shape, "DeepCompressedSensing.measure")
        theta = theta or {}
        out = [self.operator.forward(x[i:i + 1000], {k: v[i:i + 1000] for k, v in theta.items()})
               for i in range(0, int(x.shape[0]), 1000)]
        return np.concatenate([np.asarray(o) for o in out])
