"""The trainer contract, for every entry of ``ambient_dcs.testing.TRAINER_CASES`` (a new trainer is one entry there).

For each trainer: config round trip; ``.keras`` save, then load in a fresh process; same seed, same
first steps; NaN guard keeps the last good checkpoint; ``kill -9`` then resume gives the
uninterrupted run's weights; one and two replicas take the same steps.

Tracing a train step costs seconds, so each trainer trains twice in this process, and the runs serve
several tests:

* run A (:func:`reference`): ``STEPS`` uninterrupted steps, weights and logged values recorded after
  each step, and every batch's logs as a user's callback reads them. Saved as ``.keras`` for the
  fresh-process load; the reference of the resume (its final weights, what its callbacks see) and of
  the replica runs (its first steps);
* run B (:func:`poisoned`): the same, but a weight is set to NaN after step ``STEPS - 1``, so step
  ``STEPS`` diverges when a checkpoint is due. Its first steps must be A's (same seed); its model,
  diverged, then resumes the killed run: the checkpoint must restore every variable.

The subprocess work (``tests/ambient_dcs/contract_run.py``) is done for all the trainers at once, in
two processes (importing TensorFlow costs seconds): one loads the ``.keras`` files as a fresh process,
then starts the runs that are killed; the other runs the two-replica runs. They start with the first
test of this module (for the tests selected), so they import TensorFlow and train while this process does.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from ambient_dcs.testing import TRAINER_CASES, generated_by, optimizer_variables_of, weights_of
from ambient_dcs.training import TrainingDiverged, train

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAMES = list(TRAINER_CASES)
# Checkpoints at steps 2, 4, 6, 8; Keras epochs of 4 steps, so a resume from step 2 lands inside epoch 1 of 2.
STEPS, EVERY, EPOCH = 8, 2, 4
REPLICA_STEPS = 2
ATOL = 1e-6
TIMEOUT = 300  # seconds, for any subprocess wait
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")


# ---------------------------------------------------------------------- helpers
def assert_arrays_close(actual, expected, what, atol=ATOL):
    assert len(actual) == len(expected), f"{what}: {len(actual)} arrays, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=0, atol=atol, err_msg=f"{what}, array {i}")


def assert_logs_close(actual, expected, what, atol=ATOL):
    assert actual.keys() == expected.keys(), what
    for key, value in expected.items():
        np.testing.assert_allclose(actual[key], value, rtol=atol, atol=atol, err_msg=f"{what}: {key}")


class Record(keras.callbacks.Callback):
    """Records the weights and the logged values after each of the first ``steps`` steps."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.weights, self.logs = steps, {}, {}

    def on_train_batch_end(self, batch, logs=None):
        step = self.model.steps_done
        if step <= self.steps:
            self.weights[step] = weights_of(self.model)
            self.logs[step] = {k: float(v) for k, v in (logs or {}).items()}


class Rows(keras.callbacks.Callback):
    """What a Keras user's callback does: reads ``logs[key]`` of every batch (``keys``: those of the
    uninterrupted run; a batch with other logs raises ``KeyError``), a row ``(epoch, batch, keys, values)`` each."""

    def __init__(self, keys=None):
        super().__init__()
        self.keys, self.rows, self.epoch = keys, [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        keys = self.keys or sorted(logs)
        self.rows.append((self.epoch, batch, tuple(sorted(logs)), {k: float(logs[k]) for k in keys}))


class Poison(keras.callbacks.Callback):
    """Sets the model's first trainable weight to NaN after step ``after``: the next step's losses are NaN."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_train_batch_end(self, batch, logs=None):
        if self.model.steps_done == self.after:
            w = self.model.trainable_weights[0]
            w.assign(np.full(w.shape, np.nan, w.dtype))


class Job:
    """``python -m tests.ambient_dcs.contract_run FOLDER --every EVERY FLAGS...``, started now.

    Its output goes to ``FOLDER/log.txt``; the methods wait for the results of its jobs.
    """

    def __init__(self, folder, *flags):
        self.folder = pathlib.Path(folder)
        self._log = open(self.folder / "log.txt", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.ambient_dcs.contract_run", str(self.folder), "--every", str(EVERY),
             "--epoch-steps", str(EPOCH),
             *map(str, flags)], cwd=ROOT, env=ENV, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self):
        if not self._log.closed:
            self._log.flush()
        return (self.folder / "log.txt").read_text()[-3000:]

    def wait_for(self, condition, what):
        """Waits until ``condition()`` holds; fails if the process ends first, or after ``TIMEOUT``."""
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            code = self.proc.poll()
            if code is not None and not condition():
                pytest.fail(f"contract_run ended (exit status {code}) before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {TIMEOUT} s:\n{self.output()}")
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def loaded(self):
        """``--load``: the folder of its files, once the test's ``.keras`` files are loaded."""
        folder = self.folder / "keras"
        self.wait_for((folder / "loaded").exists, "the .keras files loaded")
        return folder

    def replica_runs(self):
        """``--replicas``: the content of ``replicas.json``."""
        path = self.folder / "replicas" / "replicas.json"
        self.wait_for(path.exists, "the replica runs")
        return json.loads(path.read_text())

    def killed_runs(self):
        """``--kill``: waits for the first checkpoint of every run, then ``kill -9``; returns the runs' folder."""
        folder = self.folder / "killed"
        if self.proc.returncode is None:
            self.wait_for(lambda: all((folder / n / "backup" / "training_metadata.json").exists() for n in NAMES),
                          "a checkpoint of every run")
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        assert self.proc.returncode == -signal.SIGKILL, self.output()
        return folder


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def jobs(request, tmp_path_factory):
    """``{"load" | "kill" | "replicas": Job}`` for the selected tests, started with the first test of this module.

    Two processes: one loads the ``.keras`` files as a fresh process, then runs the runs to kill (it
    would wait for this process's first runs anyway); the other runs the two-replica runs.
    """
    selected = {item.originalname for item in request.session.items if item.module is request.module}
    wanted = {job for job, test in [("load", "test_keras_file_loads_in_a_fresh_process"),
                                    ("kill", "test_kill_9_then_resume_gives_the_uninterrupted_weights"),
                                    ("replicas", "test_one_and_two_replicas_take_the_same_steps")] if test in selected}
    started = {}
    if wanted & {"load", "kill"}:
        job = Job(tmp_path_factory.mktemp("load-kill"), *(["--load"] if "load" in wanted else []),
                  *(["--kill", STEPS] if "kill" in wanted else []))
        started.update(dict.fromkeys(wanted & {"load", "kill"}, job))
    if "replicas" in wanted:
        started["replicas"] = Job(tmp_path_factory.mktemp("replicas"), "--replicas", REPLICA_STEPS)
    yield started
    for job in set(started.values()):
        job.stop()


def _per_trainer(function):
    """``function(name)``, computed once per trainer when first asked for."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = function(name)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Run A: ``{"model", "record", "weights", "optimizer"}`` after ``STEPS`` uninterrupted steps."""

    def run(name):
        model, data = TRAINER_CASES[name]()
        record, rows = Record(STEPS), Rows()
        history = train(model, data, steps=STEPS, out_dir=tmp_path_factory.mktemp(f"{name}-A"),
                        checkpoint_every=EVERY, epoch_steps=EPOCH, verbose=0, callbacks=[record, rows])
        assert history.initial_step == 0 and model.steps_done == STEPS
        return {"model": model, "record": record, "rows": rows.rows, "weights": weights_of(model),
                "optimizer": optimizer_variables_of(model)}

    return _per_trainer(run)


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    """Run B: like A, NaN after step ``STEPS - 1``: ``{"model", "record", "error", "finite", "out_dir"}``."""

    def run(name):
        model, data = TRAINER_CASES[name]()
        out_dir = tmp_path_factory.mktemp(f"{name}-B")
        record = Record(EVERY)
        with pytest.raises(TrainingDiverged) as error:
            train(model, data, steps=STEPS, out_dir=out_dir, checkpoint_every=EVERY, epoch_steps=EPOCH, verbose=0,
                  callbacks=[record, Poison(after=STEPS - 1)])
        finite = all(np.isfinite(w).all() for w in weights_of(model))
        return {"model": model, "record": record, "error": error.value, "finite": finite, "out_dir": out_dir}

    return _per_trainer(run)


@pytest.fixture(scope="module")
def loaded(jobs, reference):
    """Every run A saved as ``<name>.keras``, and what the fresh process (``--load``) loaded from it."""
    job = jobs["load"]
    folder = job.folder / "keras"
    folder.mkdir()
    generated = {}
    for name in NAMES:
        model = reference(name)["model"]
        model.save(folder / f"{name}.keras")
        generated[name] = generated_by(model)
    (folder / "saved").touch()  # the loader waits for it
    return job.loaded(), generated


# ---------------------------------------------------------------------- the contract
@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    model, _ = TRAINER_CASES[name]()
    config = model.get_config()
    as_json = json.dumps(config, sort_keys=True, default=str)  # before from_config: Keras empties nested configs
    clone = type(model).from_config(config)
    assert type(clone) is type(model)
    assert json.dumps(clone.get_config(), sort_keys=True, default=str) == as_json
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    clone.compile_from_config(model.get_compile_config())  # what loading a .keras file does
    assert list(clone.optimizers) == list(model.optimizers)
    for key, opt in clone.optimizers.items():
        assert opt.get_config() == model.optimizers[key].get_config(), key
        assert opt.built
    assert clone.steps_done == 0


@pytest.mark.slow  # trains every case twice (module fixtures)
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_first_steps(name, reference, poisoned):
    a, b = reference(name)["record"], poisoned(name)["record"]
    assert sorted(b.weights) == list(range(1, EVERY + 1))
    for step in b.weights:
        assert_arrays_close(b.weights[step], a.weights[step], f"{name}: weights after step {step}")
        assert_logs_close(b.logs[step], a.logs[step], f"{name}: logs of step {step}")
    assert any(not np.array_equal(w, w1) for w, w1 in zip(a.weights[EVERY], a.weights[1])), "no weight changed"


@pytest.mark.slow  # trains every case twice (module fixtures)
@pytest.mark.parametrize("name", NAMES)
def test_nan_guard_keeps_the_last_good_checkpoint(name, reference, poisoned):
    run = poisoned(name)
    assert f"step {STEPS}" in str(run["error"]), run["error"]
    assert not run["finite"]  # diverged in memory ...
    meta = json.loads((run["out_dir"] / "backup" / "training_metadata.json").read_text())
    last_good = STEPS - EVERY
    assert meta["step"] == last_good  # ... the checkpoint due at the NaN step was refused ...
    model, _ = TRAINER_CASES[name]()
    model.load_weights(run["out_dir"] / "backup" / meta["weights"])
    assert all(np.isfinite(w).all() for w in weights_of(model) + optimizer_variables_of(model))  # ... and kept
    assert model.steps_done == last_good
    assert_arrays_close(weights_of(model), reference(name)["record"].weights[last_good], f"{name}: checkpoint")


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize("name", NAMES)
def test_keras_file_loads_in_a_fresh_process(name, reference, loaded):
    folder, generated = loaded
    info = json.loads((folder / f"{name}.loaded.json").read_text())
    arrays = np.load(folder / f"{name}.loaded.npz")
    run = reference(name)
    assert info["type"] == name
    assert info["config"] == json.loads(json.dumps(run["model"].get_config(), sort_keys=True, default=str))
    assert info["optimizers"] == list(run["model"].optimizers) and info["steps_done"] == STEPS
    assert_arrays_close([arrays[k] for k in sorted(arrays.files) if k.startswith("weight_")], run["weights"],
                        f"{name}: weights", atol=0)
    assert_arrays_close([arrays[k] for k in sorted(arrays.files) if k.startswith("optimizer_")], run["optimizer"],
                        f"{name}: optimizer variables", atol=0)
    np.testing.assert_array_equal(arrays["generated"], generated[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_kill_9_then_resume_gives_the_uninterrupted_weights(name, jobs, reference, poisoned):
    out_dir = jobs["kill"].killed_runs() / name
    assert json.loads((out_dir / "backup" / "training_metadata.json").read_text())["step"] == EVERY
    model = poisoned(name)["model"]  # diverged: the checkpoint must restore every variable
    _, data = TRAINER_CASES[name]()  # a new dataset object: iterating one again continues its shuffling
    run = reference(name)
    rows = Rows(keys=run["rows"][0][3].keys())  # a user's callback: logs[key] of every batch
    history = train(model, data, steps=STEPS, out_dir=out_dir, checkpoint_every=EVERY, epoch_steps=EPOCH, verbose=0,
                    callbacks=[rows])
    assert history.initial_step == EVERY > 0 and model.steps_done == STEPS
    assert_arrays_close(weights_of(model), run["weights"], f"{name}: weights")
    assert_arrays_close(optimizer_variables_of(model), run["optimizer"], f"{name}: optimizer variables")
    # The resume is invisible to the callback: it sees the batches that trained, as the uninterrupted run
    # numbers them, with the same logs; from the epoch after the resumed one, the same values.
    expected = run["rows"][EVERY:]
    assert [r[:3] for r in rows.rows] == [r[:3] for r in expected] and rows.rows[0][:2] == (0, EVERY)
    later = [(got[3], want[3]) for got, want in zip(rows.rows, expected) if want[0] > 0]
    assert len(later) == STEPS - EPOCH
    for step, (got, want) in enumerate(later, start=EPOCH + 1):
        assert_logs_close(got, want, f"{name}: logs of step {step}")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_one_and_two_replicas_take_the_same_steps(name, jobs, reference):
    runs = jobs["replicas"].replica_runs()
    assert runs["replicas"] == 2
    one, two = reference(name)["record"], runs[name]
    assert sorted(map(int, two)) == list(range(1, REPLICA_STEPS + 1))
    for step in range(1, REPLICA_STEPS + 1):
        # SGD steps: a loss summed (not averaged) over the replicas would double the gradient and show here.
        assert_arrays_close(two[str(step)]["weights"], one.weights[step], f"{name}: weights after step {step}",
                            atol=1e-5)
        assert_logs_close(two[str(step)]["logs"], one.logs[step], f"{name}: logs of step {step}", atol=1e-5)
