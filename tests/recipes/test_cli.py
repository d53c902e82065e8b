"""The command lines answer at once: ``--help`` and argument errors without importing TensorFlow; a quiet start."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from recipes import names, startup

ROOT = pathlib.Path(__file__).resolve().parents[2]
RECIPES = ["ambient_diffusion", "ambient_measurements", "ambient_then_reconstruct", "cs_sgan", "csgan_latent_steps",
           "csgm_vs_lasso", "dcs_table", "make_measurements", "prior_training"]
BENCHMARKS = ["run", "gpu_check", "diffusion", "memory_probe", "train_overhead", "main_job_costs"]
MODULES = [f"recipes.{r}" for r in RECIPES] + [f"benchmarks.{b}" for b in BENCHMARKS]

# Runs a module as ``python -m`` does, then reports its exit status and whether TensorFlow was imported.
_PROBE = """
import json, runpy, sys
module, args = sys.argv[1], sys.argv[2:]
sys.argv = [module, *args]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules, "numpy": "numpy" in sys.modules}))
"""


def _probe(module, *args):
    proc = subprocess.run([sys.executable, "-c", _PROBE, module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout, proc.stderr


@pytest.mark.parametrize("module", MODULES)
def test_help_answers_without_importing_tensorflow(module):
    result, out, err = _probe(module, "--help")
    assert result["code"] == 0, err
    assert out.startswith("usage: ") and "--help" in out
    assert not result["tensorflow"], f"{module} --help imported TensorFlow"


@pytest.mark.parametrize("module,args", [("recipes.ambient_then_reconstruct", ["--steps", "0"]),
                                         ("recipes.make_measurements", ["--out", "x.txt"]),
                                         ("recipes.dcs_table", ["--rows", "SPARSE"]),
                                         ("benchmarks.run", ["--only", "everything"])])
def test_an_argument_error_answers_without_importing_tensorflow(module, args):
    result, _, err = _probe(module, *args)
    assert result["code"] == 2 and "error:" in err
    assert not result["tensorflow"]


def test_the_recipes_names_are_the_librarys():
    from ambient_dcs.data import datasets
    from ambient_dcs.experiments import (ambient_diffusion, ambient_grid, csgan_experiments, csgm_vs_lasso, dcs_table,
                                         main_job, prior_training)
    from ambient_dcs.models import csgan
    from ambient_dcs.training import distribute

    assert names.DATASETS == datasets.DATASETS and names.SPLITS == datasets.SPLITS
    assert names.STRATEGIES == distribute.STRATEGIES and names.PRECISIONS == tuple(distribute.PRECISIONS)
    assert (names.MAIN_JOB_OPERATOR, names.MAIN_JOB_OPERATOR_ARGS) == (main_job.DEFAULT_OPERATOR,
                                                                         main_job.DEFAULT_OPERATOR_ARGS)
    assert names.PRIOR_FAMILIES == main_job.PRIOR_FAMILIES
    assert names.LASSO_MAX_RANDOM_IMAGES == main_job.LASSO_MAX_RANDOM_IMAGES
    assert names.GRID_SETTINGS == tuple(ambient_grid.SETTINGS) and names.THETA_PROTOCOLS == ambient_grid.THETA_PROTOCOLS
    assert list(names.DIFFUSION_SETTINGS) == list(ambient_diffusion.DEFAULT_SETTINGS)
    assert names.PRIOR_CANDIDATES == prior_training.CANDIDATES
    assert (names.LATENT_OBJECTIVES, names.PENALTY_ANCHORS) == (csgan.LATENT_OBJECTIVES, csgan.PENALTY_ANCHORS)
    assert names.CSGAN_VARIANTS == csgan_experiments.VARIANTS
    assert names.PAPER_MEASUREMENTS == csgm_vs_lasso.PAPER_MEASUREMENTS and names.DCS_ROWS == dcs_table.ROWS


# Lines a TensorFlow 2.21 CPU build wrote to stderr at start-up on this project's machines.
STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796304740.913163   14534 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1796304740.913545   14534 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796304740.996154   14534 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796304746.341342   14534 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""


def test_startup_noise_is_recognised_and_real_errors_are_not():
    assert all(startup.is_startup_noise(line, nvidia_driver=False) for line in STARTUP.splitlines())
    cuinit = STARTUP.splitlines()[-1]
    assert not startup.is_startup_noise(cuinit, nvidia_driver=True)  # with a driver, a failing cuInit is an error
    for real in ("E0000 00:00:1796304746.341342   14534 gpu_device.cc:2341] Cannot dlopen some GPU libraries.",
                 "W0000 00:00:1796304746.341342   14534 dso_loader.cc:64] Could not load dynamic library 'libcudnn.so.9'",
                 "Traceback (most recent call last):", "ImportError: cannot import name 'x'"):
        assert not startup.is_startup_noise(real, nvidia_driver=False), real


@pytest.mark.slow  # imports TensorFlow twice, in subprocesses
def test_tensorflow_starts_quietly_unless_its_logs_are_asked_for():
    code = "from recipes.startup import start_tensorflow; start_tensorflow(); print('started')"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop(startup.TF_LOGS, None)
    quiet = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    loud = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(env, **{startup.TF_LOGS: "1"}))
    assert quiet.returncode == loud.returncode == 0 and "started" in quiet.stdout
    gpu = "Running on" in quiet.stdout  # one line of ours names the GPU, where there is one
    assert not any(startup.is_startup_noise(line) for line in quiet.stderr.splitlines()), quiet.stderr
    if not gpu:
        assert quiet.stderr == "", quiet.stderr
    assert any(startup.is_startup_noise(line) for line in loud.stderr.splitlines()), loud.stderr
