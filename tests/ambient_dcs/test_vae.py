"""Tests for ambient_dcs.models.vae (training, losses, saving in a fresh process) and ambient_dcs.models.pretrained."""

from pathlib import Path

import keras
import numpy as np
import pytest

from ambient_dcs.models import pretrained as priors
from ambient_dcs.data.datasets import as_tf_dataset, load_dataset
from ambient_dcs.networks import vae_decoder, vae_encoder
from ambient_dcs.models.vae import VAE

REPO = Path(__file__).resolve().parents[2]


def _tiny_vae(seed=0, latent=4):
    return VAE(vae_encoder(latent_dim=latent, hidden=(64,), seed=seed),
               vae_decoder(latent_dim=latent, hidden=(64,), seed=seed + 1), seed=seed + 2)


@pytest.fixture(scope="module")
def x256():
    return load_dataset("mnist-embedded", "train")[:256]


@pytest.fixture(scope="module")
def trained(x256):
    vae = _tiny_vae()
    vae.compile()
    history = vae.fit(as_tf_dataset(x256, batch_size=32, seed=0), epochs=6, shuffle=False, verbose=0)
    return vae, history.history


def test_tiny_vae_trains_with_finite_decreasing_loss(trained):
    vae, history = trained
    loss = np.asarray(history["loss"])
    assert set(history) >= {"loss", "reconstruction", "kl"}
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0] and loss[-1] < 0.9 * loss[0]
    np.testing.assert_allclose(loss, np.asarray(history["reconstruction"]) + np.asarray(history["kl"]), rtol=1e-5)
    assert np.all(np.asarray(history["kl"]) >= 0)
    assert isinstance(vae.optimizer, keras.optimizers.Adam)
    assert float(vae.optimizer.learning_rate) == pytest.approx(1e-3)


def test_call_reconstructs_and_generator_is_decoder(trained, x256):
    vae, _ = trained
    x_hat = np.asarray(vae(x256[:8]))
    assert x_hat.shape == (8, 28, 28, 1) and x_hat.min() >= 0 and x_hat.max() <= 1
    np.testing.assert_array_equal(x_hat, np.asarray(vae(x256[:8])))  # deterministic: decoder(mu)
    assert vae.generator is vae.decoder
    metrics = vae.evaluate(x256, batch_size=128, verbose=0, return_dict=True)
    assert set(metrics) == {"loss", "reconstruction", "kl"} and np.isfinite(metrics["loss"])


def test_loss_is_stable_and_matches_the_probability_formula(x256):
    vae = _tiny_vae()
    x = x256[:16]
    _, rec, _ = vae.compute_losses(x)
    # The same loss from clipped probabilities (decoder without a "logits" layer) agrees ...
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64, activation="softplus"),
                              keras.layers.Dense(784, activation="sigmoid"),
                              keras.layers.Reshape((28, 28, 1))])
    plain.set_weights(vae.decoder.get_weights())
    fallback = VAE(vae.encoder, plain, seed=2)
    assert fallback._logits_fn is None and vae._logits_fn is not None
    _, rec_fallback, _ = fallback.compute_losses(x)
    np.testing.assert_allclose(float(rec), float(rec_fallback), rtol=1e-4)
    # ... and a saturated decoder (sigmoid(±60) == 0 or 1 in float32) still gives a finite loss.
    bias = vae.decoder.get_layer("fc_out").bias
    bias.assign(np.where(np.arange(bias.shape[0]) % 2, 60.0, -60.0).astype("float32"))
    loss, rec, kl = vae.compute_losses(x)
    assert np.isfinite(float(loss)) and float(rec) > 1000


def test_same_seed_same_training(x256):
    losses = []
    for _ in range(2):
        vae = _tiny_vae(seed=3)
        vae.compile()
        history = vae.fit(as_tf_dataset(x256[:64], batch_size=32, seed=0), epochs=2, shuffle=False, verbose=0)
        losses.append(history.history["loss"])
    # Same seed, same numbers up to float32 round-off: TensorFlow's multithreaded CPU kernels can
    # differ in the last bit from run to run (seen even with enable_op_determinism).
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_mnist_vae_prior_trains_once_then_loads_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AMBIENT_DCS_CACHE", str(tmp_path))
    G = priors.mnist_vae_prior(epochs=1, seed=0, verbose=0)
    path = tmp_path / "mnist_vae_decoder_e1_s0.keras"
    assert path.is_file() and path.with_suffix(".json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.with_suffix(".json").name, path.name]  # no temp files
    z = np.random.default_rng(1).standard_normal((4, 20)).astype("float32")
    x = np.asarray(G(z))
    assert x.shape == (4, 28, 28, 1) and x.min() >= 0 and x.max() <= 1

    def no_training(*args, **kwargs):
        raise AssertionError("the cached prior should have been loaded, not retrained")

    monkeypatch.setattr(priors, "train_mnist_vae", no_training)
    mtime = path.stat().st_mtime_ns
    G2 = priors.mnist_vae_prior(epochs=1, seed=0, verbose=0)
    np.testing.assert_allclose(np.asarray(G2(z)), x, rtol=1e-6, atol=1e-7)
    for a, b in zip(G.weights, G2.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert path.stat().st_mtime_ns == mtime
    with pytest.raises(AssertionError, match="should have been loaded"):
        priors.mnist_vae_prior(epochs=1, seed=1, verbose=0)  # another seed is another file


def test_mnist_vae_prior_without_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("AMBIENT_DCS_CACHE", str(tmp_path))
    calls = []

    def spy(**kwargs):  # an untrained stand-in: only the caching logic is under test
        calls.append(kwargs)
        return VAE(vae_encoder(hidden=(8,)), vae_decoder(hidden=(8,))), {}

    monkeypatch.setattr(priors, "train_mnist_vae", spy)
    G = priors.mnist_vae_prior(epochs=3, seed=0, cache=False, verbose=0)
    assert calls and calls[0]["epochs"] == 3 and list(tmp_path.iterdir()) == []
    assert G.output.shape[1:] == (28, 28, 1)


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"epochs": 2.5}, {"seed": -1}])
def test_mnist_vae_prior_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        priors.mnist_vae_prior(**kwargs, cache=False, verbose=0)
