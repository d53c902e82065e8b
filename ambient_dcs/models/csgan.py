"""CS-GAN and CS-SGAN: GANs whose latents are optimised against the discriminator (Wu et al., 2019).

In the Deep Compressed Sensing family (the paper's Table 1) a GAN is the model whose measurement is
a *discriminator*: ``D(x)`` measures how real ``x`` looks, and the measurement error of a sample is
the non-saturating generator loss ``E(z) = −ln D(G(z))`` (Eq. 20). Before the generator update,
each latent takes ``T`` gradient steps downhill on ``E`` (projected to the unit sphere, learned step
size ``s = exp(log s)``, differentiated end to end as in :mod:`ambient_dcs.models.dcs`)::

    D step:  ẑ = opt_T(z0);  L_D = CE(D(x), real) + CE(D(G(ẑ)), fake)
    G step:  ẑ = opt_T(z0);  L_G = CE(D(G(ẑ)), real) + β · mean ‖ẑ − proj(z0)‖²   (β = optimisation_cost_weight;
             the original penalises ‖ẑ − z0‖² with the unprojected z0: ``penalty_anchor="initial"``)

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
``keras.saving.load_model`` after ``import ambient_dcs``).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from measurements.validation import check_int

from ..data.measured import UNLABELLED
from ..latent import optimise_latents, project_latents
from ..training.distribute import num_replicas, replica_mean
from .base import (GenerativeTrainer, _check_common, _check_float, _image_shape_from, _latent_dim_of, _log_step_weight,
                   _per_example_sum_sq)
from .losses import GAN_LOSSES, real_logit, sigmoid_ce

__all__ = ["CSGAN", "CSSGAN", "LATENT_OBJECTIVES", "PENALTY_ANCHORS"]

LATENT_OBJECTIVES = ("per-example", "batch-mean")
PENALTY_ANCHORS = ("initial", "projected")


# ---------------------------------------------------------------------- CS-GAN
@keras.saving.register_keras_serializable(package="ambient_dcs")
class CSGAN(GenerativeTrainer):
    """A GAN with discriminator-guided latent optimisation (CS-GAN); ``latent_steps=0`` is a vanilla GAN.

    Args:
        generator: a Keras model ``z (N, k) → images (N, H, W, C)`` in [0, 1].
        discriminator: a Keras model ``images → logits``: ``(N, 2)`` (softmax, index 1 = real, as
            the original) or ``(N, 1)`` / ``(N,)`` (sigmoid).
        latent_steps: ``T``, gradient steps on ``z`` before each use of ``G`` (paper: 3; 0 = GAN).
        optimisation_cost_weight: ``β`` of the penalty ``β · mean ‖ẑ − z0‖²`` added to the
            generator loss (original: 3.0).
        step_size: initial latent step size (learned as ``log s`` with the generator; 0.01).
        project: ``"norm"`` (unit sphere, the original), ``"clip"`` or ``None``.
        second_order: differentiate through ``∂E/∂z`` in the unrolled steps.
        latent_objective: what the latent steps descend: ``"per-example"`` (each latent its own
            error, ``E = Σ_b e_b``) or ``"batch-mean"`` (``E = Σ_b e_b / objective_batch_size``: the
            mean over the batch, as the original ``cs_gan`` code, whose batch is 64; each latent's step
            is 1/64 of the per-example one at the same step size). A constant, not the size of the
            batch at hand, so that sampling in batches of any size moves the latents as training did.
        objective_batch_size: the batch of the ``"batch-mean"`` objective (the original's: 64).
        penalty_anchor: the ``z0`` of the movement penalty: ``"projected"`` (default: ``proj(z0)``,
            where the latent steps start, so the penalty measures the steps) or ``"initial"`` (the
            unprojected Gaussian sample, as the original code: with the unit-sphere projection
            ‖z0‖ ≈ √k ≈ 10 and the penalty mostly measures the projection); the default is the
            better one measured over seeds (``docs/results/csgan_latent_steps.md``).
        seed: seed of the training random stream (``z0``; CS-SGAN target classes).
        **kwargs: ``keras.Model`` arguments (``name``).

    Raises:
        ValueError: bad arguments or a discriminator whose output does not fit, before any work.

    Attributes:
        log_step_size: the trained ``log s``; ``step_size()`` gives ``s``.
        d_optimizer, g_optimizer: set by :meth:`compile`.
    """

    _owner = "CSGAN"
    OPTIMIZERS = ("g_optimizer", "d_optimizer")
    PARTS = ("generator", "discriminator")

    def __init__(self, generator, discriminator, latent_steps=3, optimisation_cost_weight=3.0, step_size=0.01,
                 project="norm", second_order=True, latent_objective="per-example", penalty_anchor="projected",
                 objective_batch_size=64, seed=None, **kwargs):
        owner = self._owner
        latent_steps, step_size = _check_common(owner, latent_steps, step_size, project, seed)
        if latent_objective not in LATENT_OBJECTIVES:
            raise ValueError(f"{owner}: expected latent_objective in {list(LATENT_OBJECTIVES)}; "
                             f"received {latent_objective!r}.")
        if penalty_anchor not in PENALTY_ANCHORS:
            raise ValueError(f"{owner}: expected penalty_anchor in {list(PENALTY_ANCHORS)}; received {penalty_anchor!r}.")
        optimisation_cost_weight = _check_float(optimisation_cost_weight, owner, "optimisation_cost_weight")
        names = ("d_loss", "g_loss", "g_error", "latent_shift") + self._extra_metric_names + ("step_size",)
        super().__init__(seed=seed, metric_names=names, **kwargs)
        self.optimisation_cost_weight = optimisation_cost_weight
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
        self.latent_objective = latent_objective
        self.penalty_anchor = penalty_anchor
        self.objective_batch_size = check_int(objective_batch_size, owner, "objective_batch_size", 1)
        self.log_step_size = _log_step_weight(self, step_size)
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

    # ------------------------------------------------------------------ the contract
    def settings(self):
        return {"latent_steps": self.latent_steps, "optimisation_cost_weight": self.optimisation_cost_weight,
                "step_size": self.initial_step_size, "project": self.project, "second_order": self.second_order,
                "latent_objective": self.latent_objective, "penalty_anchor": self.penalty_anchor,
                "objective_batch_size": self.objective_batch_size}

    def default_optimizer(self, name):
        # main.py of the original: Adam(2e-4, beta1 0.5, beta2 0.999) for both networks.
        return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.999)

    def optimizer_variables(self, name):
        if name == "d_optimizer":
            return self.discriminator.trainable_variables
        own = list(self.generator.trainable_variables)
        return own + [self.log_step_size] if self.latent_steps > 0 else own

    def step_size(self):
        """The learned latent step size ``s = exp(log_step_size)`` (a float)."""
        return float(np.exp(keras.ops.convert_to_numpy(self.log_step_size)))

    # ------------------------------------------------------------------ losses (overridden by CS-SGAN)
    def _logits(self, x, training):
        out = tf.cast(self.discriminator(x, training=training), tf.float32)
        return tf.reshape(out, [-1, 1]) if out.shape.rank == 1 else out

    def _sample_error(self, logits, targets):
        """Per-example measurement error of generated samples: ``−ln D(G(z))`` (the non-saturating loss)."""
        return sigmoid_ce(real_logit(logits), 1)

    def _d_loss(self, real_logits, labels, fake_logits):
        """``CE(D(x), real) + CE(D(G(ẑ)), fake)`` (batch means); returns ``(loss, extra metrics)``."""
        return GAN_LOSSES["non-saturating"].discriminator(real_logit(real_logits), real_logit(fake_logits)), {}

    def _targets(self, n, seed):
        """What each latent is optimised toward: nothing for CS-GAN (always "real")."""
        return None

    # ------------------------------------------------------------------ the pieces
    def _optimise(self, z0, targets, training, second_order):
        # optimise_latents descends Σ_b error_b; the batch mean divides it by the (original's) batch.
        scale = 1.0 if self.latent_objective == "per-example" else 1.0 / self.objective_batch_size

        def error(z):
            return scale * self._sample_error(self._logits(self.generator(z, training=training), training=False),
                                              targets)

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
        self._require_compiled()
        x, labels = self._unpack(data)
        n = tf.shape(x)[0]
        seeds = self.step_seeds("critic_z", "critic_targets", "generator_z", "generator_targets")
        # D step: like the original, D's gradient also flows through the latent optimisation of ẑ.
        targets = self.global_draw(lambda rows: self._targets(rows, seeds["critic_targets"]), n)
        z0 = self.training_latent(n, seeds["critic_z"])

        def critic_loss():
            fake = self.generator(self._optimise(z0, targets, training=True, second_order=self.second_order),
                                  training=True)
            return self._d_loss(self._logits(x, training=True), labels, self._logits(fake, training=True))

        d_loss, extra = self.apply_loss("d_optimizer", critic_loss)
        # G step (and the learned step size), with fresh latents.
        g_targets = self.global_draw(lambda rows: self._targets(rows, seeds["generator_targets"]), n)
        g_z0 = self.training_latent(n, seeds["generator_z"])

        def generator_loss():
            z = self._optimise(g_z0, g_targets, training=True, second_order=self.second_order)
            g_error = tf.reduce_mean(self._sample_error(self._logits(self.generator(z, training=True), training=True),
                                                        g_targets))
            start = g_z0 if self.penalty_anchor == "initial" or self.latent_steps == 0 else project_latents(
                g_z0, self.project)
            shift = tf.reduce_mean(_per_example_sum_sq(z - start))
            return g_error + self.optimisation_cost_weight * shift, g_error, shift

        g_loss, g_error, shift = self.apply_loss("g_optimizer", generator_loss)
        return self.track(d_loss=d_loss, g_loss=g_loss, g_error=g_error, latent_shift=shift,
                          step_size=tf.exp(self.log_step_size), **extra)

    # ------------------------------------------------------------------ sampling
    def _sample_batch(self, z0, targets):
        z = self._optimise(z0, targets, training=False, second_order=False)
        return self.generator(z, training=False), z

    def _sample_arrays(self, n, seed, batch_size, targets=None):
        n = check_int(n, f"{self._owner}.sample", "n", 1)
        batch_size = check_int(batch_size, f"{self._owner}.sample", "batch_size", 1)
        seed = check_int(seed, f"{self._owner}.sample", "seed", 0)
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
        latent_steps, optimisation_cost_weight, step_size, project, second_order, latent_objective,
            penalty_anchor, objective_batch_size, seed: as :class:`CSGAN`. During training each latent's target class is drawn uniformly.
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
                 project="norm", second_order=True, latent_objective="per-example", penalty_anchor="projected",
                 objective_batch_size=64, seed=None, **kwargs):
        super().__init__(generator, classifier, latent_steps=latent_steps,
                         optimisation_cost_weight=optimisation_cost_weight, step_size=step_size, project=project,
                         second_order=second_order, latent_objective=latent_objective, penalty_anchor=penalty_anchor,
                         objective_batch_size=objective_batch_size, seed=seed, **kwargs)
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
        config["discriminator"] = config.pop("classifier")
        generator, classifier = (keras.saving.deserialize_keras_object(config.pop(k)) for k in cls.PARTS)
        return cls(generator, classifier, **config)

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
        n = check_int(n, "CSSGAN.sample", "n", 1)
        return self._sample_arrays(n, seed, batch_size, self._classes(classes, n))[0]

    def sample_with_latents(self, n, classes=None, seed=0, batch_size=500):
        """Like :meth:`sample`; returns ``{"images", "z", "z0", "classes"}`` (for t-SNE of the latents)."""
        n = check_int(n, "CSSGAN.sample_with_latents", "n", 1)
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
