"""Runs CSGM on a measurement file on one and on two logical CPU devices. Prints JSON.

(The trainers on one and two devices are part of the trainer contract:
``tests/ambient_dcs/test_trainer_contract.py``.)

Run by ``test_distribute.py`` in a subprocess, because logical devices must be configured before
TensorFlow initialises its devices (the test process has done that long before).

    python -m tests.ambient_dcs.replica_run
"""

from __future__ import annotations

import json

import tensorflow as tf

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

import measurements  # noqa: E402
from ambient_dcs import networks  # noqa: E402
from ambient_dcs.training.distribute import make_strategy  # noqa: E402

SHAPE = (8, 8, 1)


def _images():
    return np.random.default_rng(0).uniform(0, 1, (16, *SHAPE)).astype("float32")


def csgm_file(strategy, folder):
    """CSGM on a measurement file streamed from disk: the reconstructions as a list."""
    import tempfile

    from ambient_dcs.data.files import save_measurements
    from ambient_dcs.reconstruction.csgm import CSGM

    op = measurements.PixelDrop(0.5, seed=0)
    y, theta = op.measure(_images()[:11], seed=4)
    path = save_measurements(f"{folder}/m.npz", y, theta, op, image_shape=SHAPE)
    csgm = CSGM(networks.mlp_generator(4, SHAPE, (16,), seed=1), op, steps=20, restarts=2, batch_size=3, seed=5)
    with tempfile.TemporaryDirectory() as out:
        info = csgm.reconstruct_file(path, out, strategy=strategy)
        return {"x": np.load(f"{out}/x.npy").ravel().tolist(), "replicas": info["replicas"],
                "in_memory": csgm.reconstruct(y, theta).x.ravel().tolist()}


def main():
    import tempfile

    one = make_strategy("default")
    two = make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    out = {"replicas": [one.num_replicas_in_sync, two.num_replicas_in_sync]}
    with tempfile.TemporaryDirectory() as folder:
        out["csgm_file"] = {"one": csgm_file(one, folder), "two": csgm_file(two, folder)}
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
