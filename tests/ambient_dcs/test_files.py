"""Files written whole or not at all (ambient_dcs._files), and the cache folder."""

import json

import keras
import numpy as np
import pytest

from ambient_dcs import _files


def _model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2, kernel_initializer="ones")(inputs))


def test_cache_dir_follows_the_environment_and_is_created(tmp_path, monkeypatch):
    monkeypatch.setenv("AMBIENT_DCS_CACHE", str(tmp_path / "a" / "b"))
    assert _files.cache_dir() == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()


def test_every_writer_round_trips_and_leaves_only_its_file(tmp_path):
    _files.write_json(tmp_path / "r.json", {"a": [1, 2], "b": np.float32(0.5)}, default=float)
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": [1, 2], "b": 0.5}
    _files.save_npz(tmp_path / "m.npz", y=np.arange(4.0))
    np.testing.assert_array_equal(np.load(tmp_path / "m.npz")["y"], np.arange(4.0))
    model = _model()
    _files.save_keras(model, tmp_path / "m.keras")
    _files.save_keras(model, tmp_path / "w.weights.h5")
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(x), model(x))
    other = _model()
    other.layers[-1].kernel.assign(np.zeros((3, 2)))
    other.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(other(x), model(x))
    _files.write_text(tmp_path / "t.txt", "old")
    _files.write_text(tmp_path / "t.txt", "new")  # replaces
    assert (tmp_path / "t.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.npz", "r.json", "t.txt", "w.weights.h5"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "prior.keras"
    target.write_bytes(b"the finished prior")
    with pytest.raises(KeyboardInterrupt):
        with _files.atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"the finished prior" and list(tmp_path.iterdir()) == [target]


def test_temporary_names_keep_the_suffix_and_differ():
    a, b = _files.temporary_name("out/x.weights.h5"), _files.temporary_name("out/x.weights.h5")
    assert a != b and a.name.endswith("x.weights.h5") and a.parent.name == "out" and a.name.startswith(".")
