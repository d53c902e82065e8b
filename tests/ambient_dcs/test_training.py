"""train_prior: networks, the finished file, reuse with the same settings, refusal with others."""

import json

import keras
import numpy as np
import pytest

import measurements as M
from ambient_dcs.models.ambientgan import AmbientGAN
from ambient_dcs.models.inversion import AmbientGANWithInversion
from ambient_dcs.priors import (PriorConfig, PriorExistsError, build_networks, build_trainer, check_prior_target, prior_settings, train_prior)

SHAPE = (12, 12, 1)


def tiny(**changes):
    base = dict(steps=4, batch_size=8, latent_dim=4, width=0.0625, checkpoint_every=2, jit_compile=False, seed=0)
    return PriorConfig(**(base | changes))


def data(n=32):
    return np.random.default_rng(0).uniform(0, 1, (n, *SHAPE)).astype("float32")


@pytest.mark.slow  # 8.2 s
def test_train_save_reuse_refuse_overwrite(tmp_path, capsys):
    op = M.PixelDrop(0.5, seed=0)
    y, theta = op.measure(data(), seed=1)
    measured = {"y": np.asarray(y), "theta": {"mask": np.asarray(theta["mask"])}}
    first = train_prior(measured, op, SHAPE, tiny(), tmp_path, name="p", verbose=0)
    assert not first.reused and first.path == tmp_path / "p.keras"
    info = json.loads((tmp_path / "p.json").read_text())
    assert info["steps"] == 4 and info["mode"] == "ambient" and info["training_examples"] == 32
    assert M.from_config(json.loads((tmp_path / "p.operator.json").read_text())).p == 0.5
    assert sorted(p.name for p in (tmp_path / "p_training" / "samples").iterdir())[:1] == ["measured_epoch001.png"]
    loaded = keras.saving.load_model(tmp_path / "p.keras")
    z = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    np.testing.assert_allclose(loaded(z), first.generator(z), atol=1e-6)

    # Same settings (checkpoint frequency aside): reused, not retrained.
    again = train_prior(measured, op, SHAPE, tiny(checkpoint_every=3), tmp_path, name="p", verbose=1)
    assert again.reused and "Reusing the finished prior" in capsys.readouterr().out
    np.testing.assert_allclose(again.generator(z), first.generator(z), atol=1e-6)
    # Other settings: refused before any work, unless overwrite.
    with pytest.raises(PriorExistsError, match="--overwrite"):
        train_prior(measured, op, SHAPE, tiny(steps=6), tmp_path, name="p", verbose=0)
    redone = train_prior(measured, op, SHAPE, tiny(steps=6), tmp_path, name="p", overwrite=True, verbose=0)
    assert not redone.reused and json.loads((tmp_path / "p.json").read_text())["steps"] == 6


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    settings = prior_settings(M.Identity(), SHAPE, tiny(), "ambient", 32)
    run = tmp_path / "p_training"
    (run / "backup").mkdir(parents=True)
    (run / "settings.json").write_text(json.dumps(settings))
    assert check_prior_target(tmp_path, "p", settings, overwrite=False) == "train"
    other = prior_settings(M.Identity(), SHAPE, tiny(latent_dim=5), "ambient", 32)
    with pytest.raises(PriorExistsError, match="checkpoint of a training with other settings"):
        check_prior_target(tmp_path, "p", other, overwrite=False)
    assert check_prior_target(tmp_path, "p", other, overwrite=True) == "train"


def test_networks_follow_the_shapes():
    g, d = build_networks(M.PixelDrop(0.5), SHAPE, tiny())
    assert g.name == "mnist_wgan_generator" and d.name == "conv_critic"
    assert d.get_layer("conv1").filters == 4                      # 64 channels × width 1/16
    g, d = build_networks(M.GaussianProjection(7, seed=0), (10, 10, 1), tiny())
    assert g.name == "mlp_generator" and d.name == "vector_discriminator" and d.input_shape == (None, 7)
    assert isinstance(build_trainer(M.Identity(), SHAPE, tiny()), AmbientGAN)
    assert isinstance(build_trainer(M.Identity(), SHAPE, tiny(latent_steps=2)), AmbientGANWithInversion)


@pytest.mark.parametrize("changes, message", [
    ({"steps": 0}, "steps"), ({"latent_steps": -1}, "latent_steps"), ({"loss": "wasserstein"}, "loss"),
    ({"latent_distribution": "cauchy"}, "latent_distribution"), ({"width": 0}, "width"),
])
def test_bad_config_raises(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


def test_too_little_data_raises_before_training(tmp_path):
    with pytest.raises(ValueError, match="at least batch_size"):
        train_prior(data(4), M.Identity(), SHAPE, tiny(), tmp_path, verbose=0)
    assert not (tmp_path / "prior_training").exists()


def test_score_curve_excludes_scoring_time_and_stops_at_the_budget():
    import time

    import tensorflow as tf

    from ambient_dcs.training.callbacks import ScoreCurve

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    data = tf.data.Dataset.from_tensors((tf.ones((4, 3)), tf.ones((4, 1)))).repeat()

    def slow_score(m):
        time.sleep(0.2)  # scoring time: must not count as training time
        return {"value": 1.0}

    curve = ScoreCurve(slow_score, every_seconds=0.1, budget_seconds=0.6)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=10**7, callbacks=[curve], verbose=0)
    wall = time.perf_counter() - start
    seconds = [p["seconds"] for p in curve.points]
    assert len(seconds) >= 3 and seconds == sorted(seconds)
    assert 0.6 <= seconds[-1] < 1.5  # stopped at the budget of training time
    assert wall >= seconds[-1] + 0.2 * (len(seconds) - 1)  # the sleeps were excluded from the clock
    assert all(p["value"] == 1.0 and p["step"] is not None for p in curve.points)
    with pytest.raises(ValueError, match="every_seconds"):
        ScoreCurve(slow_score, every_seconds=0)
