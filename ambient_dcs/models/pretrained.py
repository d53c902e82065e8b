"""Pretrained priors, trained by the project on the embedded data and cached on disk.

The cache lives in ``$AMBIENT_DCS_CACHE`` (default ``~/.cache/ambient-dcs``). Files are written
atomically (:mod:`ambient_dcs._files`), so an interrupted run never leaves a corrupt cache, and two
processes training the same prior at once both end with a valid file.

Example:
    >>> from ambient_dcs.models import mnist_vae_prior
    >>> G = mnist_vae_prior()                 # trains once (a few minutes on 2 cores), then loads
    >>> x = G(keras.random.normal((16, 20), seed=0))   # (16, 28, 28, 1) in [0, 1]
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from measurements.validation import check_int

from .._files import cache_dir, save_keras, write_json
from ..data.datasets import as_tf_dataset, load_dataset
from ..networks import vae_decoder, vae_encoder
from .vae import VAE

__all__ = ["mnist_vae_prior", "train_mnist_vae", "DEFAULT_VAE_EPOCHS"]

#: Default epochs of the MNIST VAE prior on the 4,000 embedded training digits (batch 100, so
#: 40 steps per epoch), chosen by measurement (``docs/results/lab_notes.md``).
DEFAULT_VAE_EPOCHS = 100


def _check_epochs_seed(epochs, seed, owner):
    return check_int(epochs, owner, "epochs", 1), check_int(seed, owner, "seed", 0)


class _EpochProgress(keras.callbacks.Callback):
    """One progress bar over epochs (instead of one bar per epoch)."""

    def __init__(self, epochs):
        super().__init__()
        self.bar = keras.utils.Progbar(epochs, stateful_metrics=["loss", "reconstruction", "kl"], unit_name="epoch")

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(epoch + 1, values=[(k, float(v)) for k, v in (logs or {}).items()])


def reconstruction_mse(vae, x, batch_size=500):
    """Mean squared error per pixel of ``decoder(mu(x))`` against ``x`` (both in [0, 1])."""
    x_hat = vae.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean((x_hat - x) ** 2))


def train_mnist_vae(epochs=DEFAULT_VAE_EPOCHS, seed=0, batch_size=100, verbose=1, strategy=None):
    """Trains the CSGM MNIST VAE (784-500-500-20, softplus) on the embedded MNIST digits.

    Adam(1e-3), batch 100 (as CSGM's ``mnist-vae``) on ``load_dataset("mnist-embedded",
    "train")`` (4,000 digits). The seed fixes the initial weights, the shuffling and ε.

    Args:
        epochs: passes over the 4,000 training images.
        seed: non-negative int.
        batch_size: images per step.
        verbose: 0 silent, 1 one progress bar over epochs plus a summary, 2 one line per epoch.
        strategy: a ``tf.distribute`` strategy (default: the current one); ``batch_size`` is the
            global batch.

    Returns:
        ``(vae, info)``: the trained :class:`~ambient_dcs.models.vae.VAE` and a dict with ``epochs``,
        ``seed``, ``final_loss`` (training loss of the last epoch, nats per image),
        ``test_loss`` (loss on the 1,000 held-out digits), ``test_mse_per_pixel`` (of the
        reconstructions ``decoder(mu(x))`` of the held-out digits) and ``train_seconds``.
    """
    epochs, seed = _check_epochs_seed(epochs, seed, "train_mnist_vae")
    s_enc, s_dec, s_eps, s_data = (int(s) & 0x7FFFFFFF for s in np.random.SeedSequence(seed).generate_state(4))
    x_train = load_dataset("mnist-embedded", "train")
    x_test = load_dataset("mnist-embedded", "test")
    with (strategy or tf.distribute.get_strategy()).scope():
        vae = VAE(vae_encoder(seed=s_enc), vae_decoder(seed=s_dec), seed=s_eps, name="mnist_vae")
        vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    callbacks = [_EpochProgress(epochs)] if verbose == 1 else []
    start = time.perf_counter()
    history = vae.fit(as_tf_dataset(x_train, batch_size=batch_size, seed=s_data), epochs=epochs,
                      shuffle=False,  # the dataset shuffles itself (seeded)
                      verbose=2 if verbose == 2 else 0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    info = {
        "epochs": epochs,
        "seed": seed,
        "final_loss": float(history.history["loss"][-1]),
        "test_loss": float(vae.evaluate(x_test, batch_size=500, verbose=0, return_dict=True)["loss"]),
        "test_mse_per_pixel": reconstruction_mse(vae, x_test),
        "train_seconds": seconds,
    }
    if verbose:
        print(f"MNIST VAE: {epochs} epochs in {seconds:.0f} s; final training loss {info['final_loss']:.2f}, "
              f"held-out loss {info['test_loss']:.2f} nats/image, held-out reconstruction MSE "
              f"{info['test_mse_per_pixel']:.4f} per pixel.")
    return vae, info


def mnist_vae_prior(epochs=DEFAULT_VAE_EPOCHS, seed=0, cache=True, verbose=1, strategy=None):
    """The decoder of a VAE trained on the embedded MNIST digits: a generator ``z → x``.

    Trained once by :func:`train_mnist_vae` and cached as
    ``cache_dir()/mnist_vae_decoder_e{epochs}_s{seed}.keras`` (with a ``.json`` of the training
    numbers next to it); later calls load the file with ``keras.saving.load_model``.

    The original (CSGM ``mnist-vae``) trained 100 epochs on 60,000 digits; on the 4,000 embedded
    digits the default, :data:`DEFAULT_VAE_EPOCHS`, is where the held-out loss stops improving
    (``docs/results/lab_notes.md``).

    Args:
        epochs: training epochs (part of the cache key).
        seed: training seed (part of the cache key).
        cache: read and write the cache; ``False`` always trains and writes nothing.
        verbose: 0 silent, 1 progress bar and summary, 2 one line per epoch.
        strategy: a ``tf.distribute`` strategy for the training (not part of the cache key).

    Returns:
        A functional ``keras.Model``: ``z (N, 20)`` → images ``(N, 28, 28, 1)`` in [0, 1];
        draw ``z ~ N(0, I)`` to sample.
    """
    epochs, seed = _check_epochs_seed(epochs, seed, "mnist_vae_prior")
    path = cache_dir() / f"mnist_vae_decoder_e{epochs}_s{seed}.keras" if cache else None
    if path is not None and path.exists():
        if verbose:
            print(f"Loading the MNIST VAE prior from {path}")
        try:
            return keras.saving.load_model(path)
        except Exception as err:
            raise RuntimeError(f"could not load the cached MNIST VAE prior {path}; delete the file to "
                               f"retrain it ({type(err).__name__}: {err})") from err
    vae, info = train_mnist_vae(epochs=epochs, seed=seed, verbose=verbose, strategy=strategy)
    decoder = vae.generator
    if path is not None:
        save_keras(decoder, path)
        write_json(path.with_suffix(".json"), info)
        if verbose:
            print(f"Saved the MNIST VAE prior to {path}")
    return decoder
