"""Tests of ambient_dcs.train beyond the contract over every trainer (tests/ambient_dcs/test_trainer_contract.py):
exact step counts, a finished run is not trained again, bad input refused before any work."""

import json

import numpy as np
import pytest
import tensorflow as tf

import ambient_dcs as ad
from ambient_dcs.testing import TRAINER_CASES, weights_of


@pytest.mark.slow  # 6.9 s
@pytest.mark.parametrize("steps, every, epochs", [(7, 3, 1), (3, 10, 1), (600, 100, 3)])
def test_runs_exactly_the_steps_asked(tmp_path, steps, every, epochs):
    model, data = TRAINER_CASES["DeepCompressedSensing"]()
    history = ad.train(model, data, steps=steps, out_dir=tmp_path, checkpoint_every=every, verbose=0)
    assert model.steps_done == steps and history.steps == steps and history.initial_step == 0
    assert len(history.history["loss"]) == epochs  # epochs of the checkpoint-interval multiple nearest 250 steps
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta["step"] == steps  # the final state is checkpointed


def test_a_finished_run_is_loaded_not_trained_again(tmp_path, capsys):
    model, data = TRAINER_CASES["VAE"]()
    ad.train(model, data, steps=4, out_dir=tmp_path, checkpoint_every=2, verbose=0)
    fresh, data = TRAINER_CASES["VAE"]()
    history = ad.train(fresh, data, steps=4, out_dir=tmp_path, checkpoint_every=2, verbose=1)
    assert history.history == {} and history.initial_step == 4
    assert "nothing to train" in capsys.readouterr().out
    for a, b in zip(weights_of(model), weights_of(fresh)):
        np.testing.assert_array_equal(a, b)


def test_bad_input_is_refused_before_any_work(tmp_path):
    model, data = TRAINER_CASES["VAE"]()
    with pytest.raises(ValueError, match="steps"):
        ad.train(model, data, steps=0, out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="tf.data.Dataset"):
        ad.train(model, np.zeros((8, 8, 8, 1), "float32"), steps=2, out_dir=tmp_path / "b")
    uncompiled = ad.VAE(model.encoder, model.decoder, seed=0)
    with pytest.raises(ValueError, match="compiled"):
        ad.train(uncompiled, data, steps=2, out_dir=tmp_path / "c")
    model.compile(steps_per_execution=2)
    with pytest.raises(ValueError, match="multiples"):
        ad.train(model, data, steps=3, out_dir=tmp_path / "d")
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_autotuning_is_off_for_the_training_stream(tmp_path):
    from ambient_dcs.training.fit import _training_stream

    stream = _training_stream(tf.data.Dataset.range(10).batch(2), skip=3)
    assert stream.options().autotune.enabled is False
    assert [int(b[0]) for b in stream.take(3)] == [6, 8, 0]  # positioned 3 batches in, repeating


def test_a_finished_run_can_be_extended_with_more_steps(tmp_path):
    model, data = TRAINER_CASES["VAE"]()
    ad.train(model, data, steps=2, out_dir=tmp_path, checkpoint_every=3, verbose=0)
    model, data = TRAINER_CASES["VAE"]()  # a new process would rebuild both
    history = ad.train(model, data, steps=6, out_dir=tmp_path, checkpoint_every=3, verbose=0)
    assert history.initial_step == 2 and model.steps_done == 6
