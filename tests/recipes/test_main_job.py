"""The main job (recipes.ambient_then_reconstruct) and recipes.make_measurements, on tiny budgets."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from recipes import ambient_then_reconstruct, make_measurements

pytestmark = pytest.mark.slow  # recipes: whole runs at a tiny budget

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--steps", "3", "--batch-size", "16", "--latent-dim", "4", "--width", "0.0625", "--csgm-steps", "4",
        "--restarts", "2", "--checkpoint-every", "2", "--no-xla", "--quiet"]


def test_default_run_with_a_tiny_budget_writes_every_output(tmp_path, capsys):
    out = tmp_path / "run"
    code = ambient_then_reconstruct.main(TINY + ["--test-images", "6", "--fast", "--latent-steps", "1",
                                                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Expected time" in printed and "per-image squared error" in printed and str(out) in printed
    metrics = json.loads((out / "metrics.json").read_text())
    methods = metrics["methods"]
    expected = {"Wiener deconvolution", "Lasso (DCT)", "Lasso (Haar wavelet)", "CSGM, AmbientGAN prior (ours)",
                "fast path: 1 learned steps, AmbientGAN prior (ours)", "CSGM, unmeasure-baseline prior",
                "CSGM, oracle prior (clean data)"}
    assert set(methods) == expected
    for summary in methods.values():
        assert summary["n"] == 6
        for key in ("squared_error_mean", "psnr_mean", "ssim_mean", "measurement_error_mean", "seconds"):
            assert np.isfinite(summary[key])
    assert methods["Lasso (DCT)"]["alpha"] > 0
    # The training saw the measurements only; the oracle was trained on clean images with Identity.
    assert metrics["priors"]["AmbientGAN prior (ours)"]["operator"]["class_name"] == "GaussianBlur"
    assert metrics["priors"]["oracle prior (clean data)"]["operator"]["class_name"] == "Identity"
    assert metrics["priors"]["unmeasure-baseline prior"]["mode"] == "unmeasure"
    for name in ("report.md", "reconstructions.png", "samples.png", "prior.keras", "prior.operator.json",
                 "prior_unmeasure.keras", "prior_oracle.keras"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "| method |" in report and "Oracle gap" in report
    generator = keras.saving.load_model(out / "prior.keras")
    assert generator.output_shape == (None, 28, 28, 1)

    # Started again with the same settings: every finished prior is reused, nothing retrained.
    assert ambient_then_reconstruct.main(TINY + ["--test-images", "6", "--fast", "--latent-steps", "1",
                                                 "--out", str(out), "--no-lasso"]) == 0
    assert capsys.readouterr().out.count("Reusing the finished prior") == 3
    # Other settings: refused before any work, the finished prior untouched.
    before = (out / "prior.keras").stat().st_mtime_ns
    assert ambient_then_reconstruct.main(TINY[:-1] + ["--steps", "5", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "prior.keras").stat().st_mtime_ns == before


def test_domain_scientist_path_end_to_end(tmp_path, capsys):
    measured = tmp_path / "pd.npz"
    assert make_measurements.main(["--operator", "PixelDrop", "--operator-args", '{"p": 0.8}', "--count", "40",
                                   "--seed", "3", "--out", str(measured)]) == 0
    with np.load(measured, allow_pickle=False) as f:
        assert sorted(f.files) == ["image_shape", "operator", "theta/mask", "y"]
        y = f["y"]
    out = tmp_path / "scientist"
    code = ambient_then_reconstruct.main(TINY + ["--measurements", str(measured), "--out", str(out), "--no-lasso"])
    assert code == 0
    with np.load(out / "reconstructions.npz", allow_pickle=False) as rec:
        assert rec["x"].shape == (40, 28, 28, 1) and rec["measurement_error"].shape == (40,)
    metrics = json.loads((out / "metrics.json").read_text())
    ours = metrics["methods"]["CSGM, AmbientGAN prior (ours)"]
    assert "squared_error_mean" not in ours and np.isfinite(ours["measurement_error_mean"])
    assert set(metrics["priors"]) == {"AmbientGAN prior (ours)"}       # no clean data: no baseline priors

    # A new file measured the same way, reconstructed with the trained prior: no training at all.
    again = tmp_path / "more.npz"
    make_measurements.main(["--operator", "PixelDrop", "--operator-args", '{"p": 0.8}', "--count", "8",
                            "--split", "test", "--out", str(again)])
    capsys.readouterr()
    out2 = tmp_path / "reuse"
    assert ambient_then_reconstruct.main(TINY + ["--measurements", str(again), "--prior-file", str(out / "prior.keras"),
                                                 "--out", str(out2), "--no-lasso"]) == 0
    assert "0 prior(s) to train" in capsys.readouterr().out
    with np.load(out2 / "reconstructions.npz", allow_pickle=False) as rec:
        assert rec["x"].shape == (8, 28, 28, 1)
    assert y.shape == (40, 28, 28, 1)


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 28, 28, 1), "float32")}, "expected an array named 'y'"),
    ({"y": np.zeros((4, 28, 28, 1), "float32"), "theta/mask": np.ones((3, 28, 28, 1), "float32")}, "leading size 4"),
    ({"y": np.array([None, {"a": 1}], dtype=object)}, "pickle"),
])
def test_bad_measurement_files_stop_before_any_work(tmp_path, capsys, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    out = tmp_path / "never"
    code = ambient_then_reconstruct.main(TINY + ["--measurements", str(path), "--operator", "PixelDrop",
                                                 "--operator-args", '{"p": 0.5}', "--out", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unknown_operator_and_bad_arguments(tmp_path, capsys):
    assert ambient_then_reconstruct.main(["--operator", "GausianBlur", "--out", str(tmp_path / "x")]) == 2
    assert "Did you mean 'GaussianBlur'" in capsys.readouterr().err
    assert ambient_then_reconstruct.main(["--operator", "PixelDrop", "--operator-args", '{"p": 2}',
                                          "--out", str(tmp_path / "x")]) == 2
    assert "expected p in [0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ambient_then_reconstruct.main(["--steps", "0"])


def test_both_priors_report_reconstructions_and_uncertainty(tmp_path, capsys):
    out = tmp_path / "both"
    args = TINY + ["--prior", "both", "--diffusion-steps", "2", "--diffusion-channels", "4", "8",
                   "--posterior-samples", "2", "--posterior-steps", "2", "--test-images", "3", "--no-baselines",
                   "--no-lasso", "--out", str(out)]
    assert ambient_then_reconstruct.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    posterior = metrics["methods"]["posterior mean, diffusion prior from measurements (ours)"]
    assert posterior["n"] == 3 and posterior["samples"] == 2 and 0 <= posterior["coverage_coverage"] <= 1
    assert "coverage_coverage" in metrics["methods"]["CSGM, AmbientGAN prior (ours)"]  # restarts: an ensemble
    info = metrics["priors"]["diffusion prior from measurements (ours)"]
    assert info["trainer"] == "DiffusionEM" and info["steps"] == 2 and info["operator"]["class_name"] == "GaussianBlur"
    for name in ("uncertainty.png", "samples.png", "diffusion_prior.keras"):
        assert (out / name).stat().st_size > 0, name
    assert "Diffusion prior: DiffusionEM" in (out / "report.md").read_text()
    assert "uncertainty.png" in capsys.readouterr().out
    # (Reuse of a finished diffusion prior: tests/recipes/test_ambient_diffusion.py.)


def test_diffusion_prior_needs_a_linear_operator(tmp_path, capsys):
    never = tmp_path / "never"
    assert ambient_then_reconstruct.main(TINY + ["--prior", "diffusion", "--operator", "LearnedNetwork", "--operator-args",
                                                 '{"num_measurements": 10}', "--out", str(never)]) == 2
    assert "needs a linear operator" in capsys.readouterr().err and not never.exists()


def test_a_method_that_cannot_run_is_left_out_before_training(tmp_path, capsys):
    # Poisson noise: no Wiener filter; found before any prior trains, said in the report, the rest runs.
    out = tmp_path / "poisson"
    poisson = '{"sigma": 1.0, "size": 5, "noise": {"PoissonNoise": {"scale": 50}}}'
    assert ambient_then_reconstruct.main(TINY + ["--operator", "GaussianBlur", "--operator-args", poisson, "--no-lasso",
                                                 "--no-baselines", "--test-images", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.index("Wiener deconvolution cannot run") < printed.index("Training prior")
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["methods"]) == ["CSGM, AmbientGAN prior (ours)"]
    assert any("Wiener deconvolution was not run" in note and "Gaussian noise" in note for note in metrics["notes"])


RESUME_ARGS = ["--steps", "60", "--batch-size", "16", "--latent-dim", "4", "--width", "0.0625", "--csgm-steps", "2",
               "--restarts", "1", "--checkpoint-every", "5", "--test-images", "4", "--no-baselines", "--no-lasso",
               "--no-xla", "--quiet"]


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "recipes.ambient_then_reconstruct", *RESUME_ARGS, "--out", str(out)]
    metadata = out / "prior_training" / "backup" / "training_metadata.json"
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and first.poll() is None:
            if metadata.exists() and json.loads(metadata.read_text())["step"] >= 10:
                break
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before it could be killed"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    saved = json.loads(metadata.read_text())["step"]
    assert not (out / "prior.keras").exists()
    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stderr
    info = json.loads((out / "prior.json").read_text())
    assert info["resumed_from_step"] == saved >= 10 and info["steps"] == 60
