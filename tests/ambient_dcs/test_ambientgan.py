"""Tests for ambient_dcs.models.ambientgan (the AmbientGAN trainer) and ambient_dcs.training.callbacks.

Tiny Keras models built here (a Dense generator z(8) → (12, 12, 1) and a Dense critic), so these
tests do not depend on ambient_dcs.networks.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import measurements as M
from ambient_dcs.models.ambientgan import AmbientGAN
from ambient_dcs.data.measured import measure_dataset, unmeasure_dataset
from ambient_dcs.training.callbacks import (DivergenceGuard, SampleGrid, StepBackupAndRestore, checkpointing, standard_callbacks)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE_SHAPE = (12, 12, 1)
LATENT = 8


# --------------------------------------------------------------------------- user-defined operators
class RandomShift(M.LinearOperator):
    """A random operator written by a user: shifts each image down by 0..max_shift rows."""

    theta_keys = ("shift",)

    def __init__(self, max_shift=3, **kwargs):
        super().__init__(**kwargs)
        self.max_shift = max_shift

    def draw_theta(self, batch_size, seed, image_shape):
        return {"shift": tf.random.stateless_uniform([batch_size], seed, 0, self.max_shift + 1, tf.int32)}

    def forward(self, x, theta):
        rows = tf.range(x.shape[1])[None, :] - theta["shift"][:, None]
        shifted = tf.gather(x, tf.maximum(rows, 0), axis=1, batch_dims=1)
        return shifted * tf.cast(rows >= 0, x.dtype)[:, :, None, None]


class Saturate(M.Operator):
    """A deterministic non-linear operator with a vector output: y = tanh(3 · row sums)."""

    def measurement_shape(self, image_shape):
        return (image_shape[0] * image_shape[2],)

    def forward(self, x, theta):
        return tf.tanh(3.0 * tf.reshape(tf.reduce_mean(x, axis=2), [tf.shape(x)[0], -1]))


# --------------------------------------------------------------------------- tiny models
def generator(latent=LATENT, shape=IMAGE_SHAPE):
    z = keras.Input((latent,))
    h = keras.layers.Dense(int(np.prod(shape)), activation="sigmoid")(z)
    return keras.Model(z, keras.layers.Reshape(shape)(h))


def critic(op, image_input=False):
    """A Dense critic for what D sees: images, measurements, or [flat y, θ features]."""
    shape = IMAGE_SHAPE if image_input else op.measurement_shape(IMAGE_SHAPE)
    if op.exposes_theta and not image_input:
        theta = op.sample_theta(1, seed=0, image_shape=IMAGE_SHAPE)
        inputs = [keras.Input((int(np.prod(shape)),)), keras.Input((op.theta_features(theta).shape[-1],))]
        h = keras.layers.Concatenate()(inputs)
    else:
        inputs = keras.Input(shape)
        h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(16, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def make_gan(op, mode="ambient", loss="wgan-gp", d_steps=2, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)  # initial weights
    gan = AmbientGAN(generator(), critic(op, image_input=mode != "ambient"), op, mode=mode, loss=loss,
                     d_steps=d_steps, seed=seed, **kwargs)
    gan.compile()
    return gan


def images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, *IMAGE_SHAPE)).astype("float32")


def batches(data, batch_size=8):
    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


def fit_finite(gan, data, epochs=1):
    history = gan.fit(batches(data), epochs=epochs, verbose=0).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), (name, values)
    return history


def weights_of(model):
    return [np.array(w) for w in model.weights]


def changed(before, model):
    return any(not np.array_equal(a, np.array(b)) for a, b in zip(before, model.weights))


# --------------------------------------------------------------------------- modes × losses
@pytest.mark.slow  # 15.2 s
@pytest.mark.parametrize("loss", ["wgan-gp", "dcgan", "lsgan"])
@pytest.mark.parametrize("mode", ["ambient", "ignore", "unmeasure"])
def test_each_mode_and_loss_trains(mode, loss):
    op = M.PixelDrop(0.5, noise=M.GaussianNoise(0.05), seed=0)
    gan = make_gan(op, mode=mode, loss=loss)
    data = images()
    if mode == "unmeasure":
        y, theta = measure_dataset(op, data, seed=1)
        data = unmeasure_dataset(op, y, theta, batch_size=5)
        assert data.shape == (16, *IMAGE_SHAPE) and data.dtype == np.float32
    g_before, d_before = weights_of(gan.generator), weights_of(gan.discriminator)
    history = fit_finite(gan, data)
    assert set(history) == ({"d_loss", "g_loss", "gp"} if loss == "wgan-gp" else {"d_loss", "g_loss"})
    assert int(gan.g_optimizer.iterations) == 2 and int(gan.d_optimizer.iterations) == 4
    assert changed(g_before, gan.generator) and changed(d_before, gan.discriminator)


OPERATORS = [
    ("PixelDrop+noise", lambda: M.PixelDrop(0.5, noise=M.GaussianNoise(0.1), seed=0)),
    ("GaussianProjection", lambda: M.GaussianProjection(20, seed=0)),
    ("PadRotateProject-theta", lambda: M.PadRotateProject(expose_theta=True, seed=0)),
    ("user-RandomShift", lambda: RandomShift(max_shift=4, seed=0)),
    ("user-Saturate", lambda: Saturate()),
]


@pytest.mark.slow  # 12.9 s
@pytest.mark.parametrize("make_op", [m for _, m in OPERATORS], ids=[n for n, _ in OPERATORS])
def test_ambient_mode_with_operators(make_op):
    op = make_op()
    gan = make_gan(op)
    assert gan.measurement_shape == op.measurement_shape(IMAGE_SHAPE)
    assert gan.uses_theta == op.exposes_theta
    before = weights_of(gan.generator)
    fit_finite(gan, images())
    assert changed(before, gan.generator)
    out = gan.sample(5, seed=0)
    assert out.shape == (5, *IMAGE_SHAPE) and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(out, gan.sample(5, seed=0))


@pytest.mark.parametrize("make_op", [
    lambda: M.PadRotateProject(expose_theta=True, seed=0),   # θ needed: D sees the angles
    lambda: M.PixelDrop(0.5, seed=0),                        # θ given but unused
    lambda: M.GaussianBlur(1.0, 3, noise=M.GaussianNoise(0.05)),  # deterministic: no θ at all
], ids=["theta-exposed", "random", "deterministic"])
@pytest.mark.slow  # 7.8 s
def test_measurement_batches_need_no_clean_images(make_op):
    op = make_op()
    y, theta = measure_dataset(op, images(), seed=2)
    assert set(theta) == set(op.theta_keys)
    batch = {"y": y, "theta": theta} if theta else {"y": y}
    gan = make_gan(op)
    before = weights_of(gan.generator)
    fit_finite(gan, batch)  # the dataset holds measurements only
    assert changed(before, gan.generator)


def test_measurement_batch_without_theta_when_exposed_raises():
    op = M.PadRotateProject(expose_theta=True, seed=0)
    y, _ = measure_dataset(op, images(), seed=2)
    gan = make_gan(op)
    with pytest.raises(ValueError, match="exposes θ"):
        gan.fit(batches({"y": y}), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"measurements y of shape \(N, 18\)"):
        gan.fit(batches({"y": y[:, :10]}), epochs=1, verbose=0)


def test_a_critic_that_ignores_the_exposed_theta_trains():
    # The θ input gets no gradient in the WGAN-GP penalty: it counts as zero, not as an error.
    op = M.PadRotateProject(expose_theta=True, seed=0)
    theta = op.sample_theta(1, seed=0, image_shape=IMAGE_SHAPE)
    y_in = keras.Input((int(np.prod(op.measurement_shape(IMAGE_SHAPE))),))
    theta_in = keras.Input((op.theta_features(theta).shape[-1],))
    blind = keras.Model([y_in, theta_in], keras.layers.Dense(1)(keras.layers.Dense(16, activation="relu")(y_in)))
    keras.utils.set_random_seed(0)
    gan = AmbientGAN(generator(), blind, op, d_steps=1, seed=0)
    gan.compile()
    history = fit_finite(gan, images())
    assert history["gp"][-1] > 0  # the penalty is computed from the measurement input alone


def test_ignore_mode_with_vector_operator_raises():
    op = M.GaussianProjection(20, seed=0)
    with pytest.raises(ValueError, match=r"\(12, 12, 1\).*\(20,\)"):
        AmbientGAN(generator(), critic(op, image_input=True), op, mode="ignore")


def test_unmeasure_mode_with_extract_patch_raises():
    op = M.ExtractPatch(5, seed=0)
    with pytest.raises(ValueError, match="ExtractPatch"):
        AmbientGAN(generator(), critic(op, image_input=True), op, mode="unmeasure")
    y, theta = measure_dataset(op, images(4), seed=0)
    with pytest.raises(ValueError, match="ExtractPatch"):
        unmeasure_dataset(op, y, theta)


def test_bad_arguments_raise():
    op = M.PixelDrop(0.5)
    for kwargs, match in [({"mode": "nope"}, "mode"), ({"loss": "wgan"}, "loss"), ({"d_steps": 0}, "d_steps"),
                          ({"latent_distribution": "cauchy"}, "latent_distribution")]:
        with pytest.raises(ValueError, match=match):
            AmbientGAN(generator(), critic(op), op, **kwargs)
    gan = make_gan(op)
    with pytest.raises(ValueError, match="two different"):
        opt = keras.optimizers.Adam()
        gan.compile(g_optimizer=opt, d_optimizer=opt)


def test_same_seed_same_first_step():
    op = M.PixelDrop(0.5, noise=M.GaussianNoise(0.1))  # operator unseeded: the trainer's seed rules
    data = images(8)

    def first_step(seed, latent_distribution="uniform"):
        gan = make_gan(op, seed=seed, latent_distribution=latent_distribution)
        return {k: float(v) for k, v in gan.train_step(tf.constant(data)).items()}

    assert first_step(3) == first_step(3)
    assert first_step(3) != first_step(4)
    assert first_step(3, "normal") == first_step(3, "normal") != first_step(3)


@pytest.mark.slow  # 5.6 s
def test_jit_compile():
    op = M.PixelDrop(0.5, noise=M.GaussianNoise(0.1), seed=0)
    keras.utils.set_random_seed(0)
    gan = AmbientGAN(generator(), critic(op), op, d_steps=1, seed=0)
    gan.compile(jit_compile=True)
    assert gan.jit_compile
    history = gan.fit(batches(images(8)), epochs=1, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())


# --------------------------------------------------------------------------- it learns
@pytest.mark.slow  # 4.3 s
def test_ambient_training_recovers_the_clean_mean():
    """Constant images of value 0.7, pixels dropped with p = 0.5 (no rescaling).

    The real measurements are 0.7 (kept) or 0 (dropped), with mean 0.35. AmbientGAN measures its
    samples the same way, so it must generate 0.7 to match them; the "ignore" baseline compares
    the measurements with unmeasured samples, so it learns the measured distribution (mean 0.35).
    """
    def tiny_generator():
        z = keras.Input((4,))
        return keras.Model(z, keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="sigmoid")(z)))

    def tiny_critic():
        y = keras.Input((4, 4, 1))
        h = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(y))
        return keras.Model(y, keras.layers.Dense(1)(h))

    x = np.full((64, 4, 4, 1), 0.7, "float32")
    means = {}
    for mode in ("ambient", "ignore"):
        keras.utils.set_random_seed(0)
        gan = AmbientGAN(tiny_generator(), tiny_critic(), M.PixelDrop(0.5, rescale=False), mode=mode,
                         d_steps=2, seed=0)
        gan.compile(g_optimizer=keras.optimizers.Adam(1e-2, 0.5, 0.9), d_optimizer=keras.optimizers.Adam(1e-2, 0.5, 0.9))
        gan.fit(tf.data.Dataset.from_tensors(x).repeat(), steps_per_epoch=200, epochs=1, verbose=0)
        means[mode] = float(gan.sample(512, seed=1).mean())
    assert abs(means["ambient"] - 0.7) < 0.06, means
    assert abs(means["ignore"] - 0.35) < 0.05, means
    assert means["ambient"] - means["ignore"] > 0.2, means


# --------------------------------------------------------------------------- callbacks
def test_fit_with_standard_callbacks_writes_samples_and_logs(tmp_path):
    op = M.PixelDrop(0.5, noise=M.GaussianNoise(0.1), seed=0)
    gan = make_gan(op)
    callbacks = standard_callbacks(tmp_path, operator=op, checkpoint_every=1, num_samples=16)
    assert [type(c).__name__ for c in callbacks] in (
        ["StepBackupAndRestore", "SampleGrid", name, "DivergenceGuard"] for name in ("TensorBoard", "TensorBoardScalars"))
    assert isinstance(callbacks[0], keras.callbacks.BackupAndRestore)
    gan.fit(batches(images()), epochs=2, verbose=0, callbacks=callbacks)
    samples = sorted(os.listdir(tmp_path / "samples"))
    assert samples == ["measured_epoch001.png", "measured_epoch002.png", "samples_epoch001.png",
                       "samples_epoch002.png"]
    events = [os.path.join(d, f) for d, _, files in os.walk(tmp_path / "logs") for f in files
              if f.startswith("events.out.tfevents")]
    tags = set()
    for path in events:
        for record in tf.data.TFRecordDataset(path):
            tags |= {v.tag for v in tf.compat.v1.Event.FromString(record.numpy()).summary.value}
    assert {"epoch_d_loss", "epoch_g_loss", "epoch_gp"} <= tags
    assert not (tmp_path / "backup").exists()  # a finished run removes its backup


def test_sample_grid_with_vector_measurements(tmp_path):
    op = M.GaussianProjection(20, seed=0)
    grid = SampleGrid(tmp_path, num_samples=9, operator=op)
    grid.set_model(make_gan(op))
    paths = grid.save(7)
    assert [os.path.basename(p) for p in paths] == ["samples_epoch007.png", "measured_epoch007.png"]
    assert all(os.path.getsize(p) > 0 for p in paths)


class Exploding(keras.Model):
    """Weight ``w`` counts the steps, then becomes NaN at ``nan_at``; the logged loss is ``w`` *before*
    the update, so it is still finite at step ``nan_at`` and NaN from ``nan_at + 1`` on."""

    def __init__(self, nan_at=6):
        super().__init__()
        self.nan_at = nan_at
        self.w = self.add_weight(shape=(), initializer="zeros", name="w")
        self.count = self.add_weight(shape=(), initializer="zeros", name="count", trainable=False)
        self.built = True

    def call(self, x):
        return x * self.w

    def train_step(self, data):
        loss = tf.identity(self.w)
        self.count.assign_add(1.0)
        self.w.assign(tf.where(self.count >= self.nan_at, float("nan"), self.count))
        return {"loss": loss}


def test_divergence_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    model = Exploding(nan_at=6)
    model.compile(optimizer=None)
    # The checkpoint runs before the guard (as in standard_callbacks): it must refuse by itself.
    backup, guard = checkpointing(tmp_path, every_steps=2), DivergenceGuard()
    model.fit(np.zeros((10, 1), "float32"), batch_size=1, epochs=3, verbose=0, shuffle=False,
              callbacks=[backup, guard])
    assert float(model.count.numpy()) == 7  # stopped at the first NaN loss
    assert guard.diverged["loss"] == "loss" and np.isnan(guard.diverged["value"])
    assert guard.diverged["batch"] == 6 and guard.diverged["epoch"] == 0
    err = capsys.readouterr().err
    assert "loss = nan" in err and "batch 7" in err and "last good checkpoint is kept" in err
    assert backup.refused == [6]  # weights were already NaN at step 6 though its loss was finite
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta["step"] == 4
    restored = Exploding()
    restored.load_weights(str(tmp_path / "backup" / meta["weights"]))
    assert float(restored.w.numpy()) == 4.0 and float(restored.count.numpy()) == 4.0
    assert sorted(os.listdir(tmp_path / "backup")) == [meta["weights"], "training_metadata.json"]


def test_divergence_guard_can_raise(tmp_path):
    from ambient_dcs.training.callbacks import TrainingDiverged

    model = Exploding(nan_at=2)
    model.compile(optimizer=None)
    with pytest.raises(TrainingDiverged, match="loss = nan"):
        model.fit(np.zeros((4, 1), "float32"), batch_size=1, epochs=1, verbose=0,
                  callbacks=[DivergenceGuard(raise_error=True)])


def test_checkpointing_rejects_epoch_frequency():
    with pytest.raises(ValueError, match="save_freq"):
        StepBackupAndRestore("/tmp/unused", save_freq="epoch")
