"""The trainer contract: :class:`GenerativeTrainer`, the base of every trainer of :mod:`ambient_dcs.models`.

A trainer is a ``keras.Model`` whose ``train_step`` updates one or more networks with their own
optimizers. What all of them share lives here, once:

* **named optimizers**: ``compile(g_optimizer=..., d_optimizer=...)`` (the names a trainer lists in
  ``OPTIMIZERS``; missing ones get the trainer's defaults), exposed as ``model.optimizers``, a
  mapping that every callback uses (checkpoints, the divergence guard, the step counter); the
  first optimizer's ``iterations`` count the training steps (:attr:`GenerativeTrainer.steps_done`);
* **config round trip**: ``get_config`` serialises the networks and the operator (``PARTS``) and
  the trainer's settings (:meth:`GenerativeTrainer.settings`); ``from_config`` rebuilds them, so a
  trainer saves as ``.keras`` and loads in a fresh process (``import ambient_dcs`` first);
* **random numbers**: one seeded stream per trainer (a ``keras.random.SeedGenerator``, saved in
  checkpoints, so a resumed run continues the same stream); every step splits it into stateless
  seeds named by what they draw (:meth:`GenerativeTrainer.step_seeds`), and
  :meth:`GenerativeTrainer.global_draw` draws for the global batch under ``tf.distribute`` and keeps
  this replica's rows, so the same seed gives the same numbers on one device or several;
* **optimizer steps**: :meth:`GenerativeTrainer.apply_loss` differentiates a loss and applies the
  gradients with one of the named optimizers (loss scaling for replicas and float16 included);
* **latents**: ``latent_dim`` and ``latent_distribution`` (``"normal"`` or ``"uniform"`` on
  [−1, 1]), :meth:`GenerativeTrainer.sample_latent` and :meth:`GenerativeTrainer.sample`;
* **metric trackers**: ``self.trackers`` (name → ``keras.metrics.Mean``), updated with
  :meth:`GenerativeTrainer.track`.

A new trainer subclasses it, lists ``OPTIMIZERS`` and ``PARTS``, implements ``settings``,
``default_optimizer``, ``optimizer_variables`` and a ``train_step`` that fits on one screen.
:func:`ambient_dcs.train` then runs it with checkpoints, resume, sample grids and the NaN guard,
and ``ambient_dcs.testing.TRAINER_CASES`` takes one entry to run the contract tests over it.

Example:
    >>> class MyGAN(GenerativeTrainer):
    ...     OPTIMIZERS = ("g_optimizer", "d_optimizer")
    ...     PARTS = ("generator", "discriminator")
    ...     def __init__(self, generator, discriminator, seed=None, **kwargs):
    ...         super().__init__(seed=seed, metric_names=("d_loss", "g_loss"), **kwargs)
    ...         self.generator, self.discriminator = generator, discriminator
    ...         self.latent_dim = generator.input_shape[-1]
    ...     def default_optimizer(self, name):
    ...         return keras.optimizers.Adam(2e-4, beta_1=0.5)
    ...     def optimizer_variables(self, name):
    ...         net = self.generator if name == "g_optimizer" else self.discriminator
    ...         return net.trainable_variables
    ...     def train_step(self, x):
    ...         seeds = self.step_seeds("d_z", "g_z")
    ...         d_loss = self.apply_loss("d_optimizer", lambda: ...)       # uses seeds["d_z"]
    ...         g_loss = self.apply_loss("g_optimizer", lambda: ...)
    ...         return self.track(d_loss=d_loss, g_loss=g_loss)
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from measurements.validation import check_int

from ..latent import PROJECTIONS
from ..training.distribute import loss_scaled, replica_rows, scale_loss

__all__ = ["GenerativeTrainer", "LATENT_DISTRIBUTIONS", "optimizers_compile_config", "compile_with_optimizers"]

#: Latent priors: ``"normal"`` N(0, I), ``"uniform"`` U[−1, 1] (the AmbientGAN original's).
LATENT_DISTRIBUTIONS = ("uniform", "normal")
_NORM_EPS = 1e-8  # inside sqrt: keeps ‖a − b‖ differentiable when a = b (T = 0, or x̂ = x₀)


class GenerativeTrainer(keras.Model):
    """Base class of the trainers (see the module docstring for the contract).

    Args:
        seed: seed of the trainer's random stream (an int >= 0, or ``None`` for a random one).
        metric_names: names of the ``keras.metrics.Mean`` trackers :meth:`track` updates.
        **kwargs: ``keras.Model`` arguments (``name``).

    Class attributes a subclass sets:
        OPTIMIZERS: names of the optimizers ``compile`` takes (the first counts the steps).
        PARTS: constructor arguments that are Keras objects (networks, operators).
    """

    OPTIMIZERS = ("optimizer",)
    PARTS = ("generator",)
    latent_dim = None
    latent_distribution = "normal"

    def __init__(self, seed=None, metric_names=(), **kwargs):
        super().__init__(**kwargs)
        self.seed = None if seed is None else check_int(seed, type(self).__name__, "seed", 0)
        self._seed_generator = keras.random.SeedGenerator(seed)
        self._sample_seed_generator = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}
        self._optimizer_names = ()
        for name in self.OPTIMIZERS:
            if name != "optimizer":  # Keras' own attribute, set by Model.compile
                setattr(self, name, None)

    # ------------------------------------------------------------------ what a subclass provides
    def settings(self):
        """The constructor arguments that are not :attr:`PARTS` (plain values), for ``get_config``."""
        return {}

    def default_optimizer(self, name):
        """The optimizer ``compile`` uses for ``name`` when none is given."""
        return keras.optimizers.Adam(1e-4)

    def optimizer_variables(self, name):
        """The variables the optimizer ``name`` updates (its state is built on them at ``compile``)."""
        return self.trainable_variables

    def uses_optimizer(self, name):
        """Whether this trainer (with its settings) uses the optimizer ``name`` (default: all do)."""
        return True

    # ------------------------------------------------------------------ optimizers
    def compile(self, **kwargs):
        """Sets the named optimizers (``OPTIMIZERS``; defaults from :meth:`default_optimizer`).

        Other keyword arguments go to ``keras.Model.compile`` (``jit_compile``, ``run_eagerly``,
        ``steps_per_execution``). Each optimizer is built on its variables here, so its state exists
        before a checkpoint is restored. Under float16 mixed precision each is wrapped in a
        ``LossScaleOptimizer``.

        Raises:
            ValueError: ``loss=`` / ``metrics=`` (the losses are the trainer's), an optimizer name the
                trainer does not use, or the same optimizer object under two names.
        """
        owner = type(self).__name__
        given = {name: kwargs.pop(name, None) for name in self.OPTIMIZERS}
        for key in ("optimizer", "loss", "metrics"):
            if kwargs.get(key) is not None:
                raise ValueError(f"{owner}.compile: {key}= is not used; the losses are the model's and its "
                                 f"optimizers are {', '.join(n + '=' for n in self.OPTIMIZERS)}.")
            kwargs.pop(key, None)
        built = {}
        for name, opt in given.items():
            if not self.uses_optimizer(name):
                if opt is not None:
                    raise ValueError(f"{owner}.compile: {name}= is not used by this model with its settings.")
                continue
            opt = loss_scaled(self.default_optimizer(name) if opt is None else keras.optimizers.get(opt))
            if any(opt is other for other in built.values()):
                raise ValueError(f"{owner}.compile: {' and '.join(given)} must be two different optimizer objects "
                                 f"(each keeps state for its own variables).")
            built[name] = opt
        super().compile(optimizer=built.get("optimizer"), **kwargs)
        for name, opt in built.items():
            setattr(self, name, opt)
            if not opt.built:
                opt.build(self.optimizer_variables(name))
        self._optimizer_names = tuple(built)

    @property
    def optimizers(self):
        """``{name: optimizer}`` after :meth:`compile` (empty before)."""
        return {name: getattr(self, name) for name in self._optimizer_names}

    @property
    def steps_done(self):
        """Training steps done so far: the ``iterations`` of the first optimizer (0 before compile)."""
        if not self._optimizer_names:
            return 0
        return int(keras.ops.convert_to_numpy(getattr(self, self._optimizer_names[0]).iterations))

    def _require_compiled(self):
        if not self._optimizer_names:
            raise ValueError(f"{type(self).__name__}: call compile() before fit() or ambient_dcs.train().")

    def get_compile_config(self):
        return optimizers_compile_config(self, **self.optimizers) if self._optimizer_names else None

    def compile_from_config(self, config):
        compile_with_optimizers(self, config)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {"name": self.name, "seed": self.seed}
        config.update({part: keras.saving.serialize_keras_object(getattr(self, part)) for part in self.PARTS})
        config.update(self.settings())
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in cls.PARTS:
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)

    # ------------------------------------------------------------------ random numbers
    # Keras does not save the state of a ``SeedGenerator`` with the weights; a resumed run must continue
    # the same stream, so the trainer stores both states beside its own variables.
    _SEED_KEY = "seed_generator_states"

    def _random_streams(self):
        return (self._seed_generator, self._sample_seed_generator)

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[self._SEED_KEY] = np.stack([keras.ops.convert_to_numpy(g.state) for g in self._random_streams()])

    def load_own_variables(self, store):
        keys = list(store.keys())
        if self._SEED_KEY in keys:
            for generator, state in zip(self._random_streams(), np.asarray(store[self._SEED_KEY])):
                generator.state.assign(state.astype(keras.ops.convert_to_numpy(generator.state).dtype))
            store = {key: store[key] for key in keys if key != self._SEED_KEY}
        super().load_own_variables(store)

    def step_seeds(self, *names):
        """Independent stateless seeds ``(2,)`` for this step, one per name: ``{name: seed}``.

        They are split from the trainer's stream in the order of ``names``; the names say what each
        seed draws (``"z"``, ``"theta"``, ``"noise"``, …), so a step reads them by name.

        Example:
            >>> seeds = self.step_seeds("z", "theta")
            >>> z = self.training_latent(n, seeds["z"])
        """
        seeds = tf.random.experimental.stateless_split(tf.cast(self._seed_generator.next(), tf.int64),
                                                        num=len(names))
        return dict(zip(names, tf.unstack(seeds, num=len(names))))

    # ------------------------------------------------------------------ optimizer steps
    def apply_loss(self, name, loss_fn):
        """One update of the optimizer ``name``: the gradients of ``loss_fn()`` with respect to
        :meth:`optimizer_variables`, applied by that optimizer.

        The loss is differentiated as :func:`~ambient_dcs.training.distribute.scale_loss` scales it
        (divided by the replicas in sync, times the loss scale under float16 mixed precision).

        Args:
            name: an optimizer of ``OPTIMIZERS`` (set by :meth:`compile`).
            loss_fn: ``() → loss`` or ``() → (loss, *more)``, a scalar loss and values to return with it.

        Returns:
            What ``loss_fn`` returned (the unscaled loss).

        Example:
            >>> d_loss = self.apply_loss("d_optimizer", lambda: loss.discriminator(real_scores(), fake_scores()))
        """
        optimizer = self.optimizers[name]
        with tf.GradientTape() as tape:
            out = loss_fn()
            scaled = scale_loss(out[0] if isinstance(out, tuple) else out, optimizer)
        self._apply_gradients(tape, {name: scaled})
        return out

    def apply_losses(self, loss_fn):
        """One update of several optimizers from one forward pass.

        Args:
            loss_fn: ``() → (losses, result)``: ``losses`` maps optimizer names to the loss each
                minimises (every one scaled as in :meth:`apply_loss`), ``result`` is returned.

        Returns:
            ``result``.
        """
        with tf.GradientTape(persistent=True) as tape:
            losses, result = loss_fn()
            scaled = {name: scale_loss(loss, self.optimizers[name]) for name, loss in losses.items()}
        self._apply_gradients(tape, scaled)
        del tape
        return result

    def _apply_gradients(self, tape, scaled_losses):
        for name, loss in scaled_losses.items():
            variables = self.optimizer_variables(name)
            self.optimizers[name].apply_gradients(zip(tape.gradient(loss, variables), variables))

    def global_draw(self, draw, n):
        """``draw(rows)`` for the global batch, this replica's ``n`` rows (see :mod:`ambient_dcs.training.distribute`)."""
        return replica_rows(draw, n)

    def latent(self, n, seed):
        """``n`` latents ``(n, latent_dim)`` from the prior, drawn with the stateless ``seed``."""
        shape = tf.stack([tf.cast(n, tf.int32), self.latent_dim]) if tf.is_tensor(n) else [n, self.latent_dim]
        if self.latent_distribution == "uniform":
            return tf.random.stateless_uniform(shape, seed, minval=-1.0, maxval=1.0)
        return tf.random.stateless_normal(shape, seed)

    def training_latent(self, n, seed):
        """``z`` for a training step: this replica's ``n`` rows of a draw for the global batch."""
        return self.global_draw(lambda rows: self.latent(rows, seed), n)

    def sample_latent(self, n, seed=None):
        """``n`` latents from the prior; ``seed`` an int for a fixed draw, ``None`` for a stream kept
        apart from training (sampling does not change the course of training)."""
        seed = self._sample_seed_generator.next() if seed is None else tf.constant([int(seed), 0], tf.int64)
        return self.latent(n, seed)

    def sample(self, n, seed=None, batch_size=256):
        """``n`` generated images as a NumPy array ``(n, H, W, C)`` in [0, 1] (``seed`` as in :meth:`sample_latent`)."""
        z = self.sample_latent(int(n), seed)
        chunks = [np.asarray(self.generator(z[i:i + batch_size], training=False)) for i in range(0, int(n), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, *self.generator.output_shape[1:]), np.float32)

    def call(self, z, training=False):
        """``G(z)``: ``model(z)`` and ``model.predict(z)`` generate images."""
        return self.generator(z, training=training)

    # ------------------------------------------------------------------ metrics
    @property
    def metrics(self):
        return list(self.trackers.values())

    def track(self, **values):
        """Updates the trackers named in ``values`` (others are left alone); returns every tracker's result."""
        for name, value in values.items():
            if name in self.trackers:
                self.trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}


# ---------------------------------------------------------------------- compile config (.keras files)
def optimizers_compile_config(model, **optimizers):
    """The compile config: each optimizer serialised (``None`` ones left out), plus ``jit_compile``
    and ``steps_per_execution``. ``None`` when the first optimizer is ``None`` (not compiled)."""
    if next(iter(optimizers.values()), None) is None:
        return None
    config = {name: keras.saving.serialize_keras_object(opt) for name, opt in optimizers.items() if opt is not None}
    config.update(jit_compile=bool(model.jit_compile), steps_per_execution=model.steps_per_execution)
    return config


def compile_with_optimizers(model, config):
    """``model.compile(**config)`` with every ``*optimizer`` entry deserialised first."""
    config = {key: keras.saving.deserialize_keras_object(value) if key.endswith("optimizer") else value
              for key, value in config.items()}
    model.compile(**config)


# ---------------------------------------------------------------------- shared helpers of the trainers
def _check_float(value, owner, name, positive=False):
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: expected {name} to be a number; received {value!r}.") from None
    if not math.isfinite(out) or out < 0 or (positive and out == 0):
        raise ValueError(f"{owner}: expected {name} to be a finite number {'> 0' if positive else '>= 0'}; "
                         f"received {value!r}.")
    return out


def _check_common(owner, latent_steps, step_size, project, seed):
    latent_steps = check_int(latent_steps, owner, "latent_steps", 0)
    step_size = _check_float(step_size, owner, "step_size", positive=True)
    if project not in PROJECTIONS:
        raise ValueError(f"{owner}: expected project in {list(PROJECTIONS)}; received {project!r}.")
    if seed is not None:
        check_int(seed, owner, "seed", 0)
    return latent_steps, step_size


def _latent_dim_of(generator, owner):
    try:
        latent_dim = generator.input_shape[-1]
    except (AttributeError, ValueError):
        latent_dim = None
    if latent_dim is None:
        raise ValueError(f"{owner}: expected a generator with a known input shape (N, latent_dim); "
                         f"received {type(generator).__name__}.")
    return int(latent_dim)


def _image_shape_from(generator, latent_dim, owner):
    """Builds the generator and returns ``(H, W, C)`` of its output (read from a real call)."""
    x0 = generator(tf.zeros((2, latent_dim)), training=False)
    if x0.shape.rank != 4:
        raise ValueError(f"{owner}: expected a generator returning images (N, H, W, C); it returned shape "
                         f"{tuple(x0.shape)} for z of shape (2, {latent_dim}).")
    return tuple(int(d) for d in x0.shape[1:])


def _check_batch_images(x, image_shape, owner):
    got = tuple(x.shape[1:])
    if x.shape.rank != 4 or any(g is not None and g != e for g, e in zip(got, image_shape)):
        raise ValueError(f"{owner}: expected training images of shape (N, {', '.join(map(str, image_shape))}); "
                         f"received shape {tuple(x.shape)}.")


def _per_example_sum_sq(t):
    return tf.reduce_sum(tf.reshape(tf.square(t), [tf.shape(t)[0], -1]), axis=1)


def _norm(t):
    return tf.sqrt(_per_example_sum_sq(t) + _NORM_EPS)


def _log_step_weight(layer, step_size):
    return layer.add_weight(name="log_step_size", shape=(),
                            initializer=keras.initializers.Constant(math.log(step_size)), trainable=True)
