"""FLOP counting of the benchmarks against hand counts, and the peak-memory reader."""

import pathlib
import subprocess
import sys

import keras
import pytest

from ambient_dcs.networks import vae_decoder
from benchmarks.flops import csgm_flops_per_row_step, dense_operator_flops, forward_flops
from benchmarks.hardware import peak_rss_mb

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_dense_layers_count_two_flops_per_multiply_add():
    assert forward_flops(vae_decoder()) == 2 * (20 * 500 + 500 * 500 + 500 * 784)
    # CSGM: forward + backward to z (2×), plus a 100 × 784 matrix forward and adjoint.
    assert csgm_flops_per_row_step(vae_decoder(), dense_operator_flops(100, (28, 28, 1))) == \
        2 * (2 * (20 * 500 + 500 * 500 + 500 * 784) + 2 * 100 * 784)


def test_convolutions_count_output_positions_times_kernel():
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, padding="same"),                       # 8·8 outputs · 3·3·3 · 4
        keras.layers.Conv2D(5, 3, strides=2, padding="valid"),           # 3·3 outputs · 3·3·4 · 5
        keras.layers.Conv2DTranspose(2, 5, strides=2, padding="same"),   # 3·3 inputs · 5·5·5 · 2
        keras.layers.Flatten(),
        keras.layers.Dense(7),                                          # 6·6·2 → 7
    ])
    expected = 2 * (8 * 8 * 27 * 4 + 3 * 3 * 36 * 5 + 3 * 3 * 25 * 5 * 2 + 72 * 7)
    assert forward_flops(model) == expected


@pytest.mark.slow  # a subprocess
def test_peak_rss_is_the_child_process_own_and_grows_with_an_allocation():
    # A fresh process (not this large one: Linux carries ru_maxrss over exec, VmHWM it does not).
    code = ("import numpy as np; from benchmarks.hardware import peak_rss_mb; b = peak_rss_mb(); "
            "x = np.ones(64 * 2**20 // 8); print(b, peak_rss_mb(), x.sum() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    before, after, touched = out.stdout.split()
    assert float(before) < 200 < peak_rss_mb()   # the child's own peak, not this process's
    assert float(after) >= float(before) + 60 and touched == "True"


def test_gpu_check_refuses_without_a_gpu(capsys, tmp_path, monkeypatch):
    import tensorflow as tf

    from benchmarks import gpu_check

    # TensorFlow sees no GPU (as on this CPU machine; simulated where there is one), so nothing is timed.
    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [] if kind == "GPU" else [d for d in real(kind) if d.device_type != "GPU"])
    assert gpu_check.main(["--json", str(tmp_path / "g.json")]) == 2
    err = capsys.readouterr().err
    assert "needs a GPU and TensorFlow sees none" in err and "CPU" in err and "benchmarks.run" in err
    assert not (tmp_path / "g.json").exists()  # nothing timed, nothing written
    with pytest.raises(gpu_check.NoGPUError, match="needs a GPU"):
        gpu_check.require_gpu()
