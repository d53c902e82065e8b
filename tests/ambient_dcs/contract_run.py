"""Subprocess side of ``test_trainer_contract.py``: every trainer of ``ambient_dcs.testing.TRAINER_CASES`` at once.

    python -m tests.ambient_dcs.contract_run ROOT --every EVERY --epoch-steps EPOCH [--load] [--kill STEPS]
        [--replicas STEPS]

Importing TensorFlow costs a process about 10 s of CPU, so one process does several jobs, in this order:

``--load`` (in ``ROOT/keras``)
    As a fresh process: ``import ambient_dcs``, wait for ``saved`` (the test writes it once its
    ``.keras`` files are complete), ``keras.saving.load_model`` of every ``*.keras``, and write what each
    holds: ``<name>.loaded.npz`` (``weight_NNN``: ``model.weights``; ``optimizer_NNN``: every optimizer
    variable; ``generated``: ``ambient_dcs.testing.generated_by``) and ``<name>.loaded.json`` (type, optimizer
    names, steps done, config); then ``loaded``.
``--replicas STEPS`` (in ``ROOT/replicas``)
    With two logical CPU devices: train every trainer ``STEPS`` steps under ``MirroredStrategy`` over
    both (``checkpoint_every=EVERY``); write the weights and logged values after each step to
    ``replicas.json``.
``--kill STEPS`` (in ``ROOT/killed``)
    Start ``train(steps=STEPS, checkpoint_every=EVERY)`` of every trainer into ``<name>/`` and hold them
    all in the middle of their run for the test's ``kill -9``: one step after its first checkpoint, each
    run starts the next trainer's run from a callback (every run stays in flight, nested in the previous
    one's step), and the last one sleeps (for at most 15 minutes, then exits with status 3).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time


def _write_atomically(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load(root, wait=900):
    import numpy as np

    import ambient_dcs  # noqa: F401  (what a fresh process needs before loading a trainer)
    from ambient_dcs.testing import generated_by
    import keras

    deadline = time.monotonic() + wait
    while not (root / "saved").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {root / 'saved'} after {wait} s")
        time.sleep(0.1)
    for path in sorted(root.glob("*.keras")):
        model = keras.saving.load_model(path)
        arrays = {f"weight_{i:03d}": np.asarray(w) for i, w in enumerate(model.weights)}
        arrays.update({f"optimizer_{i:03d}": np.asarray(v)
                       for i, v in enumerate(v for opt in model.optimizers.values() for v in opt.variables)})
        np.savez(root / f"{path.stem}.loaded.npz", generated=generated_by(model), **arrays)
        (root / f"{path.stem}.loaded.json").write_text(json.dumps(
            {"type": type(model).__name__, "optimizers": list(model.optimizers), "steps_done": model.steps_done,
             "config": model.get_config()}, sort_keys=True, default=str))
    _write_atomically(root / "loaded", "")


def _at_step(step, action):
    """A callback calling ``action(model, logs)`` when the model has done ``step`` steps."""
    import keras

    class AtStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.steps_done == step:
                action(self.model, logs)

    return AtStep()


def replicas(root, steps, every, epoch_steps):
    import numpy as np

    from ambient_dcs.testing import TRAINER_CASES
    from ambient_dcs.training import make_strategy, train

    strategy = make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    out = {"replicas": strategy.num_replicas_in_sync}
    for name, case in TRAINER_CASES.items():
        with strategy.scope():
            model, data = case()
        after_step = out[name] = {}

        def record(model, logs):
            after_step[model.steps_done] = {"weights": [np.asarray(w).tolist() for w in model.weights],
                                            "logs": {k: float(v) for k, v in (logs or {}).items()}}

        train(model, data, steps=steps, out_dir=root / name, checkpoint_every=every, epoch_steps=epoch_steps,
              verbose=0, callbacks=[_at_step(s, record) for s in range(1, steps + 1)])
    _write_atomically(root / "replicas.json", json.dumps(out))


def kill(root, steps, every, epoch_steps):
    from ambient_dcs.testing import TRAINER_CASES
    from ambient_dcs.training import train

    names = list(TRAINER_CASES)

    def run(i):
        if i == len(names):
            print("ALL RUNS IN FLIGHT", flush=True)
            time.sleep(900)  # until the test's kill -9 (or give up, should the test be gone)
            os._exit(3)
        model, data = TRAINER_CASES[names[i]]()
        train(model, data, steps=steps, out_dir=root / names[i], checkpoint_every=every, epoch_steps=epoch_steps,
              verbose=0, callbacks=[_at_step(every + 1, lambda model, logs: run(i + 1))])

    run(0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=pathlib.Path)
    parser.add_argument("--every", type=int, required=True, help="checkpoint_every of the runs")
    parser.add_argument("--epoch-steps", type=int, required=True, help="epoch_steps of the runs")
    parser.add_argument("--load", action="store_true")
    parser.add_argument("--replicas", type=int, metavar="STEPS")
    parser.add_argument("--kill", type=int, metavar="STEPS")
    args = parser.parse_args(argv)
    if args.replicas:
        import tensorflow as tf  # two logical devices, before TensorFlow initialises its devices

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    if args.load:
        load(args.root / "keras")
    if args.replicas:
        replicas(args.root / "replicas", args.replicas, args.every, args.epoch_steps)
    if args.kill:
        kill(args.root / "killed", args.kill, args.every, args.epoch_steps)


if __name__ == "__main__":
    main()
