"""CS-GAN and CS-SGAN: GANs whose latents are optimised against the discriminator (Wu et al., 2019).

In the Deep Compressed Sensing family (the paper's Table 1) a GAN is the model whose measurement is
a *discriminator*: ``D(x)`` measures how real ``x`` looks, and the measurement error of a sample is
the non-saturating generator loss ``E(z) = −ln D(G(z))`` (Eq. 20). Before the generator update,
each latent takes ``T`` gradient steps downhill on ``E`` (projected to the unit sphere, learned step
size ``s = exp(log s)``, differentiated end to end as in :mod:`ambient_dcs.dcs`)::

    D step:  ẑ = opt_T(z0);  L_D = CE(D(x), real) + CE(D(G(ẑ)), fake)
    G step:  ẑ = opt_T(z0);  L_G = CE(D(G(ẑ)), real) + β · mean ‖ẑ − z0‖²   (β = optimisation_cost_weight)

One ``train_step`` is one D update followed by one G update, each with fresh ``z0 ~ N(0, I)``, as the
original's ``main.py``. ``latent_steps=0`` is exactly a vanilla (non-saturating) GAN: ``ẑ = z0`` and
the penalty is 0. Samples (:meth:`CSGAN.sample`) apply the same ``T`` steps.

**CS-SGAN** (:class:`CSSGAN`, the paper's §3.2.3): the measurement is a classifier with ``K + 1``
outputs, ``K`` classes plus one "generated" class (index ``K``). Labelled real images train the
``K`` classes (cross-entropy), unlabelled real images train "real" (``−ln Σ_{k<K} p_k``), generated
images train "generated" (``−ln p_K``). Each latent gets a target class ``t`` and moves to lower
``E(z) = −ln p_t(G(z))`` (Eq. 22): generating "class ``t``" *is* optimising ``z`` toward ``t``.

Data: a dataset element is an image batch ``x`` ``(N, H, W, C)`` in [0, 1], or a tuple
``(x, labels)`` with ``labels`` ``(N,)`` int, ``−1`` marking an unlabelled image. :class:`CSGAN`
ignores labels; :class:`CSSGAN` uses them (all ``−1`` or a plain ``x`` means fully unsupervised).
:func:`hide_labels` makes such labels from a fully labelled set, keeping a class-balanced fraction.

Differences from the original code (``deepmind-research/cs_gan``), on purpose:

* The latent objective is the *per-example* error (each ``z`` follows its own gradient). The original
  differentiated the *batch mean*, which scales each step by ``1/B`` (64 in training, 10 in its
  sampler); here a latent's step does not depend on the batch size, in training or sampling.
* A discriminator with one logit (sigmoid cross-entropy) is accepted besides the original's two
  logits (softmax cross-entropy; index 1 = real); the two are the same model family.
* Inside the latent steps the discriminator runs with ``training=False`` (no spectral-norm power
  iteration per inner step); the losses call it with ``training=True``.

Spectral normalisation of D (the paper's CS+SN-GAN): build D with it, e.g.
``conv_critic((28, 28, 1), outputs=2, spectral_norm=True)`` or ``dcgan_discriminator(spectral_norm=True)``.

Generators: on embedded MNIST the DCS MLP generator (``networks.mlp_generator``, no normalisation)
collapsed to one image for every T we tried; :func:`mlp_bn_generator` (an MLP with batch norm) trains.

Example:
    >>> from ambient_dcs.networks import mlp_discriminator
    >>> gan = CSGAN(mlp_bn_generator(seed=0), mlp_discriminator((28, 28, 1), outputs=2, seed=1), seed=0)
    >>> gan.compile()                                  # Adam(2e-4, 0.5, 0.999) for D and G
    >>> gan.fit(as_tf_dataset(x_train, batch_size=64, repeat=True), steps_per_epoch=500, epochs=4)
    >>> images = gan.sample(64, seed=0)                # (64, 28, 28, 1) in [0, 1], latents optimised

Saving: ``gan.generator.save("g.keras")`` (note: samples also need the discriminator and the learned
step size: save the whole model with ``gan.save("csgan.keras")`` and reload it with
``keras.saving.load_model`` after ``import ambient_dcs.csgan``).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .compile_config import compile_with_optimizers, optimizers_compile_config
from .dcs import (_check_common, _check_float, _check_int, _image_shape_from, _latent_dim_of, _log_step_weight,
                  _per_example_sum_sq, _seed_splits)
from .distribute import loss_scaled, num_replicas, replica_mean, replica_rows, scale_loss
from .latent import optimise_latents

__all__ = ["CSGAN", "CSSGAN", "hide_labels", "mlp_bn_generator", "UNLABELLED"]

UNLABELLED = -1  #: label value of an unlabelled image in CS-SGAN datasets


def _default_optimizer():
    # main.py of the original: Adam(2e-4, beta1 0.5, beta2 0.999) for both networks.
    return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.999)


def hide_labels(labels, labelled_fraction, seed=0, num_classes=None):
    """Keeps a class-balanced fraction of the labels and marks the rest unlabelled (``−1``).

    Args:
        labels: ``(N,)`` ints in ``[0, K)``.
        labelled_fraction: fraction in ``[0, 1]`` of each class that keeps its label.
        seed: which images keep their label.
        num_classes: ``K`` (default ``max(labels) + 1``).

    Returns:
        ``(N,)`` int64 NumPy array: the label, or :data:`UNLABELLED`.

    Example:
        >>> hide_labels(np.array([0, 0, 1, 1]), 0.5, seed=0)      # one label per class kept
        array([ 0, -1, -1,  1])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError(f"hide_labels: expected labels as a 1-D array of non-negative ints; received "
                         f"dtype {labels.dtype}, shape {labels.shape}.")
    fraction = _check_float(labelled_fraction, "hide_labels", "labelled_fraction")
    if fraction > 1:
        raise ValueError(f"hide_labels: expected labelled_fraction in [0, 1]; received {labelled_fraction!r}.")
    k = int(labels.max()) + 1 if num_classes is None and labels.size else int(num_classes or 0)
    rng = np.random.default_rng(seed)
    out = np.full(labels.shape, UNLABELLED, np.int64)
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        keep = rng.permutation(idx)[: int(round(fraction * len(idx)))]
        out[keep] = c
    return out


def mlp_bn_generator(latent_dim=100, image_shape=(28, 28, 1), hidden=(256, 512, 1024), seed=None):
    """An MLP generator with batch normalisation: ``z → x`` in [0, 1], for GANs on small images.

    Dense layers of widths ``hidden``, each followed by BatchNormalization and LeakyReLU 0.2, then
    a Dense layer of ``prod(image_shape)`` units, a sigmoid and a reshape; Glorot-uniform weights.

    Why it exists: the DCS MLP generator (:func:`ambient_dcs.networks.mlp_generator`, no
    normalisation) collapses to a single image as a GAN generator on the embedded MNIST split, for
    every number of latent steps we tried within a CPU budget (0, 3 with step 0.01 or 0.5, 3 with
    a ×10 input scale; 500-2,000 steps). BN also makes the generator insensitive to the scale of its
    input: latents on the unit sphere (T > 0) and raw ``N(0, I)`` samples (T = 0) give activations of
    the same scale, as in the original's batch-normalised CIFAR generator.

    Shapes:
        input ``(N, latent_dim)``, output ``(N, *image_shape)`` float32 in [0, 1].

    Example:
        >>> G = mlp_bn_generator(seed=0)
        >>> G(np.zeros((2, 100), "float32")).shape
        TensorShape([2, 28, 28, 1])
    """
    owner = "mlp_bn_generator"
    latent_dim = _check_int(latent_dim, owner, "latent_dim", 1)
    try:
        shape = tuple(int(d) for d in image_shape)
        hidden = tuple(_check_int(h, owner, "every hidden width", 1) for h in hidden)
    except TypeError:
        raise ValueError(f"{owner}: expected image_shape (H, W, C) and hidden as sequences of ints; received "
                         f"{image_shape!r} and {hidden!r}.") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{owner}: expected image_shape (H, W, C) of positive sizes; received {image_shape!r}.")
    seeds = np.random.SeedSequence(seed).generate_state(len(hidden) + 1) if seed is not None else [None] * (
        len(hidden) + 1)

    def init(i):
        return keras.initializers.GlorotUniform(None if seeds[i] is None else int(seeds[i]) & 0x7FFFFFFF)

    z = keras.Input((latent_dim,), name="z")
    h = z
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, kernel_initializer=init(i), name=f"fc{i + 1}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i + 1}")(h)
        h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.Dense(int(np.prod(shape)), activation="sigmoid", kernel_initializer=init(len(hidden)),
                           name="pixels")(h)
    return keras.Model(z, keras.layers.Reshape(shape, name="image")(h), name=owner)


# ---------------------------------------------------------------------- CS-GAN
@keras.saving.register_keras_serializable(package="ambient_dcs")
class CSGAN(keras.Model):
    """A GAN with discriminator-guided latent optimisation (CS-GAN); ``latent_steps=0`` is a vanilla GAN.

    Args:
        generator: a Keras model ``z (N, k) → images (N, H, W, C)`` in [0, 1].
        discriminator: a Keras model ``images → logits``: ``(N, 2)`` (softmax, index 1 = real, as
            the original) or ``(N, 1)`` / ``(N,)`` (sigmoid).
        latent_steps: ``T``, gradient steps on ``z`` before each use of ``G`` (paper: 3; 0 = GAN).
        optimisation_cost_weight: ``β`` of the penalty ``β · mean ‖ẑ − z0‖²`` added to the
            generator loss (original: 3.0; ``z0`` is the unprojected Gaussian sample).
        step_size: initial latent step size (learned as ``log s`` with the generator; 0.01).
        project: ``"norm"`` (unit sphere, the original), ``"clip"`` or ``None``.
        second_order: differentiate through ``∂E/∂z`` in the unrolled steps.
        seed: seed of the training random stream (``z0``; CS-SGAN target classes).
        **kwargs: ``keras.Model`` arguments (``name``).

    Raises:
        ValueError: bad arguments or a discriminator whose output does not fit, before any work.

    Attributes:
        log_step_size: the trained ``log s``; ``step_size()`` gives ``s``.
        d_optimizer, g_optimizer: set by :meth:`compile`.
    """

    _owner = "CSGAN"

    def __init__(self, generator, discriminator, latent_steps=3, optimisation_cost_weight=3.0, step_size=0.01,
                 project="norm", second_order=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = self._owner
        latent_steps, step_size = _check_common(owner, latent_steps, step_size, project, seed)
        self.optimisation_cost_weight = _check_float(optimisation_cost_weight, owner, "optimisation_cost_weight")
        self.latent_dim = _latent_dim_of(generator, owner)
        self.image_shape = _image_shape_from(generator, self.latent_dim, owner)
        out = discriminator(tf.fill((2, *self.image_shape), 0.5), training=False)
        self.num_logits = self._check_logits(out)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_steps = latent_steps
        self.initial_step_size = step_size
        self.project = project
        self.second_order = bool(second_order)
        self.seed = seed
        self.log_step_size = _log_step_weight(self, step_size)
        self._seed_generator = keras.random.SeedGenerator(seed)
        names = ("d_loss", "g_loss", "g_error", "latent_shift") + self._extra_metric_names
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.step_size_tracker = keras.metrics.Mean(name="step_size")
        self.g_optimizer = None
        self.d_optimizer = None
        self._sample_graph = None
        self.built = True

    _extra_metric_names = ()

    def _check_logits(self, out):
        if isinstance(out, (list, tuple)) or out.shape.rank not in (1, 2) or (
                out.shape.rank == 2 and out.shape[-1] not in (1, 2)):
            raise ValueError(f"{self._owner}: expected a discriminator returning logits of shape (N, 2) (softmax, "
                             f"index 1 = real) or (N, 1) / (N,) (sigmoid); it returned "
                             f"{getattr(out, 'shape', out)}.")
        return 1 if out.shape.rank == 1 else int(out.shape[-1])

    # ------------------------------------------------------------------ Keras plumbing
    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Sets the two optimisers (default Adam(2e-4, β1 0.5, β2 0.999) each, as the original).

        Other keyword arguments go to ``keras.Model.compile`` (``jit_compile``, ``steps_per_execution``).
        """
        for key in ("optimizer", "loss", "metrics"):
            if kwargs.get(key) is not None:
                raise ValueError(f"{self._owner}.compile: {key}= is not used; pass g_optimizer= and d_optimizer=.")
            kwargs.pop(key, None)
        super().compile(optimizer=None, **kwargs)
        g_optimizer = loss_scaled(_default_optimizer() if g_optimizer is None else keras.optimizers.get(g_optimizer))
        d_optimizer = loss_scaled(_default_optimizer() if d_optimizer is None else keras.optimizers.get(d_optimizer))
        if g_optimizer is d_optimizer:
            raise ValueError(f"{self._owner}.compile: g_optimizer and d_optimizer must be two different optimizer "
                             f"objects (each keeps state for its own variables).")
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        if not g_optimizer.built:
            g_optimizer.build(self._g_variables())
        if not d_optimizer.built:
            d_optimizer.build(self.discriminator.trainable_variables)

    def _g_variables(self):
        own = list(self.generator.trainable_variables)
        return own + [self.log_step_size] if self.latent_steps > 0 else own

    def get_config(self):
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_steps": self.latent_steps, "optimisation_cost_weight": self.optimisation_cost_weight,
            "step_size": self.initial_step_size, "project": self.project, "second_order": self.second_order,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def get_compile_config(self):
        return optimizers_compile_config(self, g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer)

    def compile_from_config(self, config):
        compile_with_optimizers(self, config)

    @property
    def metrics(self):
        return list(self.trackers.values()) + [self.step_size_tracker]

    def call(self, z, training=False):
        """``G(z)`` (no latent optimisation; see :meth:`sample`)."""
        return self.generator(z, training=training)

    def step_size(self):
        """The learned latent step size ``s = exp(log_step_size)`` (a float)."""
        return float(np.exp(keras.ops.convert_to_numpy(self.log_step_size)))

    # ------------------------------------------------------------------ losses (overridden by CS-SGAN)
    def _logits(self, x, training):
        out = tf.cast(self.discriminator(x, training=training), tf.float32)
        return tf.reshape(out, [-1, 1]) if out.shape.rank == 1 else out

    def _sample_error(self, logits, targets):
        """Per-example measurement error of generated samples: ``−ln D(G(z))`` (the non-saturating loss)."""
        if self.num_logits == 2:
            return tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.ones(tf.shape(logits)[:1], tf.int32), logits=logits)
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(logits[:, 0]), logits=logits[:, 0])

    def _d_loss(self, real_logits, labels, fake_logits):
        """``CE(D(x), real) + CE(D(G(ẑ)), fake)`` (batch means); returns ``(loss, extra metrics)``."""
        if self.num_logits == 2:
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits
            real = ce(labels=tf.ones(tf.shape(real_logits)[:1], tf.int32), logits=real_logits)
            fake = ce(labels=tf.zeros(tf.shape(fake_logits)[:1], tf.int32), logits=fake_logits)
        else:
            ce = tf.nn.sigmoid_cross_entropy_with_logits
            real = ce(labels=tf.ones_like(real_logits[:, 0]), logits=real_logits[:, 0])
            fake = ce(labels=tf.zeros_like(fake_logits[:, 0]), logits=fake_logits[:, 0])
        return tf.reduce_mean(real) + tf.reduce_mean(fake), {}

    def _targets(self, n, seed):
        """What each latent is optimised toward: nothing for CS-GAN (always "real")."""
        return None

    # ------------------------------------------------------------------ the pieces
    def _latent(self, n, seed):
        return tf.random.stateless_normal(tf.stack([n, self.latent_dim]), seed)

    def _optimise(self, z0, targets, training, second_order):
        def error(z):
            return self._sample_error(self._logits(self.generator(z, training=training), training=False), targets)

        return optimise_latents(error, z0, self.latent_steps, tf.exp(self.log_step_size), project=self.project,
                                second_order=second_order)

    def _unpack(self, data):
        labels = None
        if isinstance(data, (tuple, list)):
            if len(data) > 1 and data[1] is not None:
                labels = data[1]
            data = data[0]
        if isinstance(data, dict):
            raise ValueError(f"{self._owner}: training batches are images (N, H, W, C) in [0, 1] or (images, labels) "
                             f"tuples; received a dict with keys {sorted(data)}.")
        x = tf.cast(data, tf.float32)
        got = tuple(x.shape[1:])
        if x.shape.rank != 4 or any(g is not None and g != e for g, e in zip(got, self.image_shape)):
            raise ValueError(f"{self._owner}: expected training images of shape "
                             f"(N, {', '.join(map(str, self.image_shape))}); received shape {tuple(x.shape)}.")
        if labels is not None:
            labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        return x, labels

    # ------------------------------------------------------------------ the step
    def train_step(self, data):
        if self.g_optimizer is None:
            raise ValueError(f"{self._owner}: call compile() before fit().")
        x, labels = self._unpack(data)
        n = tf.shape(x)[0]
        seeds = _seed_splits(self._seed_generator, 4)

        # D step: like the original, D's gradient also flows through the latent optimisation of ẑ.
        d_vars = self.discriminator.trainable_variables
        targets = replica_rows(lambda rows: self._targets(rows, seeds[1]), n)  # global-batch draws, see
        z0 = replica_rows(lambda rows: self._latent(rows, seeds[0]), n)        # ambient_dcs.distribute
        with tf.GradientTape() as tape:
            z = self._optimise(z0, targets, training=True, second_order=self.second_order)
            fake = self.generator(z, training=True)
            d_loss, extra = self._d_loss(self._logits(x, training=True), labels, self._logits(fake, training=True))
            scaled = scale_loss(d_loss, self.d_optimizer)  # inside the tape, so it is differentiated
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, d_vars), d_vars))

        # G step (and the learned step size), with fresh latents.
        g_vars = self._g_variables()
        targets = replica_rows(lambda rows: self._targets(rows, seeds[3]), n)
        z0 = replica_rows(lambda rows: self._latent(rows, seeds[2]), n)
        with tf.GradientTape() as tape:
            z = self._optimise(z0, targets, training=True, second_order=self.second_order)
            g_error = tf.reduce_mean(self._sample_error(self._logits(self.generator(z, training=True), training=True),
                                                        targets))
            shift = tf.reduce_mean(_per_example_sum_sq(z - z0))
            g_loss = g_error + self.optimisation_cost_weight * shift
            scaled = scale_loss(g_loss, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, g_vars), g_vars))

        values = {"d_loss": d_loss, "g_loss": g_loss, "g_error": g_error, "latent_shift": shift, **extra}
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        self.step_size_tracker.update_state(tf.exp(self.log_step_size))
        return {m.name: m.result() for m in self.metrics}

    # ------------------------------------------------------------------ sampling
    def _sample_batch(self, z0, targets):
        z = self._optimise(z0, targets, training=False, second_order=False)
        return self.generator(z, training=False), z

    def _sample_arrays(self, n, seed, batch_size, targets=None):
        n = _check_int(n, f"{self._owner}.sample", "n", 1)
        batch_size = _check_int(batch_size, f"{self._owner}.sample", "batch_size", 1)
        seed = _check_int(seed, f"{self._owner}.sample", "seed", 0)
        if self._sample_graph is None:
            # No tensor-dependent Python control flow inside: AutoGraph is not needed (and its
            # source parser warned about this method).
            self._sample_graph = tf.function(self._sample_batch, reduce_retracing=True, autograph=False)
        z0 = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        xs, zs = [], []
        for lo in range(0, n, batch_size):
            idx = np.arange(lo, min(lo + batch_size, n))
            padded = np.resize(idx, batch_size) if n > batch_size else idx  # one trace for every batch
            t = None if targets is None else tf.constant(targets[padded], tf.int32)
            x, z = self._sample_graph(tf.constant(z0[padded]), t)
            xs.append(x.numpy()[: len(idx)])
            zs.append(z.numpy()[: len(idx)])
        return np.concatenate(xs), np.concatenate(zs), z0

    def sample(self, n, seed=0, batch_size=500):
        """``n`` samples ``(n, H, W, C)`` in [0, 1] (NumPy), with the same ``T`` latent steps as training.

        Args:
            n: number of samples.
            seed: seed of ``z0 ~ N(0, I)``.
            batch_size: samples per graph call (the last batch is padded: one trace).
        """
        return self._sample_arrays(n, seed, batch_size)[0]

    def sample_with_latents(self, n, seed=0, batch_size=500):
        """Like :meth:`sample`; returns ``{"images", "z" (optimised, (n, k)), "z0" (initial)}``."""
        x, z, z0 = self._sample_arrays(n, seed, batch_size)
        return {"images": x, "z": z, "z0": z0}


# ---------------------------------------------------------------------- CS-SGAN
@keras.saving.register_keras_serializable(package="ambient_dcs")
class CSSGAN(CSGAN):
    """Semi-supervised CS-GAN: a ``K + 1``-way classifier is the measurement; samples are class-conditional.

    Args:
        generator: as :class:`CSGAN`.
        classifier: a Keras model ``images → (N, K + 1)`` logits (``K >= 2`` classes; index ``K``
            is "generated"), e.g. ``mlp_discriminator((28, 28, 1), outputs=11)`` for MNIST.
        latent_steps, optimisation_cost_weight, step_size, project, second_order, seed: as
            :class:`CSGAN`. During training each latent's target class is drawn uniformly.
        **kwargs: ``keras.Model`` arguments.

    Data: ``(x, labels)`` batches, ``labels`` ``(N,)`` ints in ``[0, K)`` or ``−1`` (unlabelled);
    a plain ``x`` batch is all unlabelled. Losses (batch means over the examples concerned):
    ``L_C = CE_{K+1}(C(x_l), label) + (−ln Σ_{k<K} p_k(x_u)) + (−ln p_K(G(ẑ)))``,
    ``L_G = −ln p_t(G(ẑ)) + β mean‖ẑ − z0‖²``, where ``ẑ`` is optimised toward its target ``t``.

    Example:
        >>> sgan = CSSGAN(mlp_bn_generator(seed=0), mlp_discriminator((28, 28, 1), outputs=11, seed=1), seed=0)
        >>> sgan.compile()
        >>> sgan.fit(as_tf_dataset(x, hide_labels(y, 0.1), batch_size=64, repeat=True), steps_per_epoch=500)
        >>> sgan.test_accuracy(x_test, y_test)            # the classifier's accuracy on K classes
        >>> digits = sgan.sample(100, classes=np.repeat(np.arange(10), 10))
    """

    _owner = "CSSGAN"
    _extra_metric_names = ("supervised_loss", "labelled")

    def __init__(self, generator, classifier, latent_steps=3, optimisation_cost_weight=3.0, step_size=0.01,
                 project="norm", second_order=True, seed=None, **kwargs):
        super().__init__(generator, classifier, latent_steps=latent_steps,
                         optimisation_cost_weight=optimisation_cost_weight, step_size=step_size, project=project,
                         second_order=second_order, seed=seed, **kwargs)
        self.num_classes = self.num_logits - 1

    @property
    def classifier(self):
        """The ``K + 1``-way classifier (the discriminator)."""
        return self.discriminator

    def get_config(self):
        config = super().get_config()
        config["classifier"] = config.pop("discriminator")
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "classifier"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def _check_logits(self, out):
        if isinstance(out, (list, tuple)) or out.shape.rank != 2 or out.shape[-1] < 3:
            raise ValueError(f"CSSGAN: expected a classifier returning (N, K + 1) logits with K >= 2 classes plus "
                             f"'generated'; it returned {getattr(out, 'shape', out)}.")
        return int(out.shape[-1])

    def _targets(self, n, seed):
        return tf.random.stateless_uniform(tf.reshape(n, [1]), seed, 0, self.num_classes, dtype=tf.int32)

    def _sample_error(self, logits, targets):
        """``−ln p_t(G(z))``: the (K + 1)-way cross-entropy toward the target class (Eq. 22)."""
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)

    def _d_loss(self, real_logits, labels, fake_logits):
        k = self.num_classes
        log_z = tf.reduce_logsumexp(real_logits, axis=1)
        if labels is None:
            labels = tf.fill(tf.shape(real_logits)[:1], UNLABELLED)
        labelled = tf.cast(labels >= 0, tf.float32)
        # Labelled: K + 1-way cross-entropy toward the label (the "generated" class is never a label).
        sup = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=real_logits)
        # Unlabelled: "real" = any of the K classes: −ln Σ_{k<K} p_k.
        unsup = log_z - tf.reduce_logsumexp(real_logits[:, :k], axis=1)
        # Means over the labelled (unlabelled) images of the *global* batch: with several replicas
        # each divides by the per-replica average count, so the replicas' mean is the global mean.
        n_lab = replica_mean(tf.reduce_sum(labelled))
        n_unlab = replica_mean(tf.reduce_sum(1.0 - labelled))
        sup_loss = tf.math.divide_no_nan(tf.reduce_sum(labelled * sup), n_lab)
        unsup_loss = tf.math.divide_no_nan(tf.reduce_sum((1.0 - labelled) * unsup), n_unlab)
        fake = tf.reduce_logsumexp(fake_logits, axis=1) - fake_logits[:, k]  # −ln p_K
        loss = sup_loss + unsup_loss + tf.reduce_mean(fake)
        return loss, {"supervised_loss": sup_loss, "labelled": n_lab * num_replicas()}

    # ------------------------------------------------------------------ classes
    def _classes(self, classes, n):
        if classes is None:
            return np.arange(n) % self.num_classes
        classes = np.broadcast_to(np.asarray(classes), (n,)) if np.ndim(classes) == 0 else np.asarray(classes)
        if classes.shape != (n,) or not np.issubdtype(classes.dtype, np.integer) or (
                classes.min() < 0 or classes.max() >= self.num_classes):
            raise ValueError(f"CSSGAN.sample: expected classes as an int or {n} ints in [0, {self.num_classes}); "
                             f"received {classes!r}.")
        return classes.astype(np.int32)

    def sample(self, n, classes=None, seed=0, batch_size=500):
        """``n`` samples optimised toward ``classes`` (an int, ``n`` ints, or ``None``: 0, 1, …, K−1, 0, …).

        Returns images ``(n, H, W, C)`` in [0, 1] (NumPy).
        """
        n = _check_int(n, "CSSGAN.sample", "n", 1)
        return self._sample_arrays(n, seed, batch_size, self._classes(classes, n))[0]

    def sample_with_latents(self, n, classes=None, seed=0, batch_size=500):
        """Like :meth:`sample`; returns ``{"images", "z", "z0", "classes"}`` (for t-SNE of the latents)."""
        n = _check_int(n, "CSSGAN.sample_with_latents", "n", 1)
        classes = self._classes(classes, n)
        x, z, z0 = self._sample_arrays(n, seed, batch_size, classes)
        return {"images": x, "z": z, "z0": z0, "classes": classes}

    def predict_classes(self, x, batch_size=500):
        """The classifier's class (argmax over the ``K`` real classes) of images ``(N, H, W, C)``: ``(N,)`` int."""
        x = np.asarray(x, np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"CSSGAN.predict_classes: expected images of shape (N, "
                             f"{', '.join(map(str, self.image_shape))}); received shape {x.shape}.")
        out = [np.asarray(self._logits(tf.constant(x[i:i + batch_size]), training=False))[:, : self.num_classes]
               for i in range(0, len(x), batch_size)]
        return np.argmax(np.concatenate(out), axis=1)

    def test_accuracy(self, x, labels, batch_size=500):
        """Fraction of images whose predicted class equals ``labels`` (``(N,)`` ints)."""
        labels = np.asarray(labels)
        if labels.shape != (len(x),):
            raise ValueError(f"CSSGAN.test_accuracy: expected labels of shape ({len(x)},); received {labels.shape}.")
        return float(np.mean(self.predict_classes(x, batch_size) == labels))
