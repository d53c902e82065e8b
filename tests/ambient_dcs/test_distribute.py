"""Multi-device helpers, mixed precision, and CSGM on a file sharded over 2 devices.

(The trainers on 1 and 2 replicas are part of the trainer contract: test_trainer_contract.py.)"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from ambient_dcs.training.distribute import make_strategy, num_replicas, replica_rows, replica_seed, scale_loss

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def replica_runs():
    """Runs tests/ambient_dcs/replica_run.py (2 logical CPUs) once; its JSON result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "tests.ambient_dcs.replica_run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, proc.stdout[-2000:]
    return json.loads(line[-1][len("RESULT "):])


@pytest.mark.slow  # a subprocess
def test_two_replicas_really_ran(replica_runs):
    assert replica_runs["replicas"] == [1, 2]


@pytest.mark.slow  # a subprocess
def test_csgm_file_sharded_over_two_devices_equals_one_device_and_in_memory(replica_runs):
    one, two = replica_runs["csgm_file"]["one"], replica_runs["csgm_file"]["two"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert len(one["x"]) == 11 * 8 * 8
    np.testing.assert_allclose(one["x"], one["in_memory"], atol=1e-5)
    np.testing.assert_allclose(two["x"], one["x"], atol=1e-5)


def test_helpers_are_the_identity_on_one_device():
    assert num_replicas() == 1
    loss = tf.constant(3.0)
    assert float(scale_loss(loss)) == 3.0
    seed = tf.constant([4, 5], tf.int64)
    np.testing.assert_array_equal(replica_seed(seed), seed)
    draw = lambda rows: tf.random.stateless_normal([rows, 2], seed)  # noqa: E731
    np.testing.assert_array_equal(replica_rows(draw, 3), draw(3))
    assert replica_rows(lambda rows: None, 3) is None


def test_make_strategy_names():
    assert make_strategy("default").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match=r"expected one of \('default', 'mirrored', 'multiworker'\); received 'mirror'"):
        make_strategy("mirror")
    with pytest.raises(ValueError, match="devices= is only used by 'mirrored'"):
        make_strategy("default", devices=["/cpu:0"])


@pytest.mark.slow  # 4.2 s
@pytest.mark.parametrize("precision", ["mixed-bfloat16", "mixed-float16"])
def test_mixed_precision_trains_with_finite_losses_and_float32_weights(precision):
    import keras

    import measurements
    from ambient_dcs import networks
    from ambient_dcs.models.ambientgan import AmbientGAN
    from ambient_dcs.training.distribute import set_precision

    try:
        set_precision(precision)
        shape = (8, 8, 1)
        gan = AmbientGAN(networks.mlp_generator(4, shape, (16,), seed=1), networks.mlp_discriminator(shape, (16,), seed=2),
                         measurements.PixelDrop(0.5, seed=0), d_steps=1, seed=3)
        gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-3))
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed-float16")
        x = np.random.default_rng(0).uniform(0, 1, (16, *shape)).astype("float32")
        history = gan.fit(x, batch_size=8, epochs=2, verbose=0).history
        assert all(np.isfinite(v).all() for v in history.values())
        assert gan.generator.compute_dtype == precision.split("-")[1]
        assert all(w.dtype == "float32" for w in gan.generator.trainable_weights)
    finally:
        set_precision("float32")
    with pytest.raises(ValueError, match=r"expected one of \['float32', 'mixed-float16', 'mixed-bfloat16'\]; received 'half'"):
        set_precision("half")
