"""Trains every trainer for two steps, and runs CSGM on a file, on one and on two logical CPU devices.

Prints JSON.

Run by ``test_distribute.py`` in a subprocess, because logical devices must be configured before
TensorFlow initialises its devices (the test process has done that long before). SGD optimisers:
Adam's update hardly depends on the gradient's scale, so it would hide a wrong loss scaling.

    python -m tests.ambient_dcs.replica_run
"""

from __future__ import annotations

import json

import tensorflow as tf

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import measurements  # noqa: E402
from ambient_dcs import networks  # noqa: E402
from ambient_dcs.models.ambientgan import AmbientGAN# noqa: E402
from ambient_dcs.models.csgan import CSGAN, CSSGAN# noqa: E402
from ambient_dcs.models.dcs import DeepCompressedSensing# noqa: E402
from ambient_dcs.training.distribute import make_strategy  # noqa: E402
from ambient_dcs.models.vae import VAE# noqa: E402

SHAPE = (8, 8, 1)
GLOBAL_BATCH = 8


def _images():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (2 * GLOBAL_BATCH, *SHAPE)).astype("float32")


def _labels():
    # Unlabelled (−1) images unevenly split between the replicas' halves of each batch: the
    # supervised loss must still be the mean over the global batch's labelled images.
    labels = np.arange(2 * GLOBAL_BATCH, dtype="int32") % 3
    labels[[0, 1, 2, 5, 9]] = -1
    return labels


def _sgd():
    return keras.optimizers.SGD(0.05)


def build(name):
    """``(model, dataset)`` for a trainer name; called inside the strategy's scope."""
    x = _images()
    hidden = (16,)
    if name == "ambientgan":
        op = measurements.PixelDrop(0.5, seed=0)  # random θ, no noise: draws are global-batch exact
        model = AmbientGAN(networks.mlp_generator(4, SHAPE, hidden, seed=1),
                           networks.mlp_discriminator(SHAPE, hidden, seed=2), op, d_steps=1, seed=3)
        model.compile(g_optimizer=_sgd(), d_optimizer=_sgd())
        data = x
    elif name == "vae":
        model = VAE(networks.vae_encoder(SHAPE, 4, hidden, seed=1), networks.vae_decoder(4, SHAPE, hidden, seed=2),
                    seed=3)
        model.compile(optimizer=_sgd())
        data = x
    elif name == "dcs":
        op = measurements.GaussianProjection(6, seed=0)
        model = DeepCompressedSensing(networks.mlp_generator(4, SHAPE, hidden, seed=1), op, latent_steps=2, seed=3)
        model.compile(optimizer=_sgd())
        data = x
    elif name == "csgan":
        model = CSGAN(networks.mlp_generator(4, SHAPE, hidden, seed=1),
                      networks.mlp_discriminator(SHAPE, hidden, outputs=2, seed=2), latent_steps=2, seed=3)
        model.compile(g_optimizer=_sgd(), d_optimizer=_sgd())
        data = x
    elif name == "cssgan":
        model = CSSGAN(networks.mlp_generator(4, SHAPE, hidden, seed=1),
                       networks.mlp_discriminator(SHAPE, hidden, outputs=4, seed=2), latent_steps=2, seed=3)
        model.compile(g_optimizer=_sgd(), d_optimizer=_sgd())
        data = (x, _labels())
    else:
        raise ValueError(name)
    return model, tf.data.Dataset.from_tensor_slices(data).batch(GLOBAL_BATCH)


def run(name, strategy):
    with strategy.scope():
        model, ds = build(name)
    history = model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
    losses = {k: float(v[0]) for k, v in history.history.items()}
    weights = [np.asarray(w).ravel() for w in model.trainable_weights]
    return {"logs": losses, "weights": np.concatenate(weights).tolist() if weights else []}


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
    for name in ("ambientgan", "vae", "dcs", "csgan", "cssgan"):
        out[name] = {"one": run(name, one), "two": run(name, two)}
    with tempfile.TemporaryDirectory() as folder:
        out["csgm_file"] = {"one": csgm_file(one, folder), "two": csgm_file(two, folder)}
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
