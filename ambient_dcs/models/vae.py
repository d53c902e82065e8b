"""Variational autoencoder (CSGM's MNIST prior) as a ``keras.Model`` with a custom ``train_step``.

Example:
    >>> from ambient_dcs.networks import vae_decoder, vae_encoder
    >>> from ambient_dcs.data import as_tf_dataset, load_dataset
    >>> vae = VAE(vae_encoder(seed=0), vae_decoder(seed=1), seed=2)
    >>> vae.compile()                                   # Adam(1e-3)
    >>> vae.fit(as_tf_dataset(load_dataset(), batch_size=100), epochs=5)
    >>> G = vae.generator                               # z (N, 20) -> images (N, 28, 28, 1) in [0, 1]
    >>> vae.save("vae.keras"); G.save("prior.keras")
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .base import GenerativeTrainer

__all__ = ["VAE"]

_EPS = 1e-7  # clipping of probabilities when the decoder exposes no "logits" layer


@keras.saving.register_keras_serializable(package="ambient_dcs")
class VAE(GenerativeTrainer):
    """A VAE with a Bernoulli likelihood and a standard normal prior (Kingma & Welling).

    ``z = mu + exp(log_var / 2) · ε`` with ``ε ~ N(0, I)`` drawn from a seeded
    ``keras.random.SeedGenerator``. The loss per example is the Bernoulli cross-entropy summed over
    pixels plus ``KL(N(mu, σ²) ‖ N(0, I))`` summed over latent dimensions; ``train_step`` and
    ``test_step`` minimise / report its batch mean. Images are targets in [0, 1] (grey levels are
    soft Bernoulli targets, as in CSGM's ``mnist-vae``).

    The cross-entropy is computed from logits when the decoder ends in a sigmoid ``Activation``
    applied to a layer named ``"logits"`` (as :func:`ambient_dcs.networks.vae_decoder`), else from
    the decoder's probabilities clipped to ``[1e-7, 1 − 1e-7]``.

    Args:
        encoder: a model ``x ↦ [mu, log_var]``, each ``(N, latent_dim)``.
        decoder: a model ``z ↦ x`` with outputs in [0, 1], ``(N, H, W, C)``.
        seed: seed of the ε generator (None: random).
        **kwargs: ``keras.Model`` arguments (``name`` …).

    Metrics: ``loss`` (= reconstruction + kl), ``reconstruction``, ``kl`` (batch means).

    ``call(x)`` returns the reconstruction ``decoder(mu(x))`` (the decoder's mean at the
    posterior mean; deterministic). ``generator`` is the decoder. Saves and loads as ``.keras``.
    """

    PARTS = ("encoder", "decoder")

    def __init__(self, encoder, decoder, seed=None, **kwargs):
        super().__init__(seed=seed, metric_names=("loss", "reconstruction", "kl"), **kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = int(decoder.input_shape[-1])
        # A function (not tracked as a layer) giving the decoder's logits, sharing its weights.
        self._logits_fn = self._make_logits_fn(decoder)
        self.built = encoder.built and decoder.built

    @staticmethod
    def _make_logits_fn(decoder):
        # Only when the decoder ends exactly in sigmoid(<layer "logits">), as vae_decoder does.
        try:
            logits = decoder.get_layer("logits").output
            last = decoder.layers[-1]
            ends_in_sigmoid = (
                len(decoder.outputs) == 1
                and decoder.outputs[0] is last.output
                and isinstance(last, keras.layers.Activation)
                and keras.activations.serialize(last.activation) == "sigmoid"
                and last.input is logits
            )
        except (ValueError, AttributeError, TypeError):
            return None
        if not ends_in_sigmoid:
            return None
        model = keras.Model(decoder.inputs, logits, name=f"{decoder.name}_logits")
        return lambda z, training=False: model(z, training=training)

    @property
    def generator(self):
        """The decoder: ``z (N, latent_dim) → x (N, H, W, C)`` in [0, 1]."""
        return self.decoder

    def default_optimizer(self, name):
        return keras.optimizers.Adam(1e-3)

    def build(self, input_shape=None):
        # Encoder and decoder are functional models, built at construction.
        self.built = True

    def call(self, x, training=False):
        mu, _ = self.encoder(x, training=training)
        return self.decoder(mu, training=training)

    # ------------------------------------------------------------------ loss
    def sample_z(self, mu, log_var):
        """Reparameterised draw ``mu + exp(log_var / 2) · ε``."""
        # Drawn for the global batch, this replica's rows (see ambient_dcs.training.distribute): the same
        # seed gives the same ε on one device or several.
        seed = self._seed_generator.next()
        eps = self.global_draw(lambda rows: tf.random.stateless_normal(tf.stack([rows, tf.shape(mu)[1]]), seed,
                                                                        dtype=mu.dtype), tf.shape(mu)[0])
        return mu + tf.exp(0.5 * log_var) * eps

    def compute_losses(self, x, training=False):
        """Batch means ``(loss, reconstruction, kl)`` for images ``x`` in [0, 1]."""
        x = tf.convert_to_tensor(x)
        mu, log_var = self.encoder(x, training=training)
        z = self.sample_z(mu, log_var)
        if self._logits_fn is not None:
            logits = self._logits_fn(z, training=training)
            ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(x, logits.dtype), logits=logits)
        else:
            p = tf.clip_by_value(self.decoder(z, training=training), _EPS, 1.0 - _EPS)
            x = tf.cast(x, p.dtype)
            ce = -(x * tf.math.log(p) + (1.0 - x) * tf.math.log1p(-p))
        reconstruction = tf.reduce_mean(tf.reduce_sum(tf.reshape(ce, [tf.shape(ce)[0], -1]), axis=1))
        kl = tf.reduce_mean(tf.reduce_sum(0.5 * (tf.square(mu) + tf.exp(log_var) - 1.0 - log_var), axis=1))
        return reconstruction + kl, reconstruction, kl

    @staticmethod
    def _images(data):
        return data[0] if isinstance(data, (tuple, list)) else data  # (x,) / (x, labels) / x

    def train_step(self, data):
        self._require_compiled()
        x = self._images(data)
        loss, reconstruction, kl = self.apply_loss("optimizer", lambda: self.compute_losses(x, training=True))
        return self.track(loss=loss, reconstruction=reconstruction, kl=kl)

    def test_step(self, data):
        loss, reconstruction, kl = self.compute_losses(self._images(data), training=False)
        return self.track(loss=loss, reconstruction=reconstruction, kl=kl)
