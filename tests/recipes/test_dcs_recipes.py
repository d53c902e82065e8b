"""The Deep Compressed Sensing recipes run end to end with a tiny budget and write their outputs.

The cached priors / classifiers are redirected to a temporary folder (``AMBIENT_DCS_CACHE``, see
``tests/recipes/conftest.py``) and trained for one epoch, so nothing here depends on, or writes to, the
user's cache.
"""

import csv
import json
import math
import re

import numpy as np
import pytest

from ambient_dcs.data.measured import hide_labels
from ambient_dcs.data.datasets import load_dataset
from ambient_dcs.experiments import csgan_experiments as csgan_lib
from ambient_dcs.experiments import dcs_table as dcs_table_lib
from recipes import cs_sgan, csgan_latent_steps, dcs_table

pytestmark = pytest.mark.slow  # recipes: whole runs at a tiny budget



def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.mark.parametrize("module", [dcs_table, csgan_latent_steps, cs_sgan])
def test_help_explains_every_flag(module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    options = {f for f in re.findall(r"--[a-z][a-z-]*", text) if f != "--help" and not f.startswith("--no-")}
    assert {"--out", "--steps"} <= options
    assert text.count("(default:") == len(options)  # every flag has a help text with its default


def test_bad_flags_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        dcs_table.parse_args(["--steps", "0"])
    assert exit_info.value.code == 2 and "--steps must be a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cs_sgan.parse_args(["--labelled-fraction", "1.5"])


def test_dcs_table_tiny_run(tmp_path, capsys):
    out = tmp_path / "dcs"
    dcs_table.main(["--measurements", "3", "--rows", "LINEAR", "NN(L)", "--steps", "4", "--batch-size", "16",
                    "--latent-steps", "1",
                    "--log-every", "2", "--train-images", "64", "--test-images", "12", "--csgm-images", "4",
                    "--csgm-steps", "5", "--csgm-restarts", "2", "--csgm-batch-size", "4", "--vae-epochs", "1",
                    "--examples", "4", "--out", str(out)])
    assert "Expect about" in capsys.readouterr().out
    for name in ("table.csv", "table.md", "results.json", "reconstructions_m3.png",
                 "models/generator_LINEAR_m3.keras", "models/dcs_NNL_m3.keras", "dcs_LINEAR_m3_training/backup",
                 "dcs_NNL_m3_training/backup"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "table.csv")))
    models = {(r["model"], r["test_subset"]) for r in rows}
    assert models == {("LINEAR", "all"), ("NN(L)", "all"), ("CSGM (baseline)", "first 4"), ("LINEAR", "first 4"),
                      ("PCA-3 (reference)", "all"), ("mean digit (reference)", "all")}
    for r in rows:
        assert math.isfinite(float(r["error_mean"])) and float(r["error_mean"]) > 0
        assert math.isfinite(float(r["seconds_per_image"]))
        # Jensen: the mean of 2·√Σsq is at most 2·√(mean Σsq), and equal only if all images err alike.
        assert 0 < float(r["l2_mean"]) <= 2 * math.sqrt(float(r["error_mean"])) + 1e-9
    results = json.loads((out / "results.json").read_text())
    assert results["speed"][0]["speedup"] > 0 and _finite(results["speed"][0]["csgm_error"])
    table = (out / "table.md").read_text()
    assert "10.8 ± 3.8" not in table  # m = 3 has no paper number ...
    assert "| LINEAR |" in table and "speed-up" in table and "| PCA-3 (reference) |" in table
    # The doc's table is a pure function of results.json: the same Markdown as the run printed.
    assert dcs_table_lib.doc_table(results) in table and dcs_table_lib.doc_speed_table(results) in table


def test_csgan_latent_steps_tiny_run(tmp_path):
    out = tmp_path / "csgan"
    csgan_latent_steps.main(["--latent-steps", "0", "1", "--seeds", "0", "1", "--steps", "2", "--batch-size", "16",
                             "--variants", "batch-mean:initial",
                             "--log-every", "2", "--eval-samples", "40", "--classifier-epochs", "1",
                             "--train-images", "64", "--out", str(out)])
    for name in ("scores.csv", "table.md", "results.json", "samples_T0.png", "samples_T1.png", "samples_T0_3_5.png"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    # T = 0 once (no variant applies), T = 1 per variant; 2 seeds each
    assert [(r["latent_steps"], r["variant"]) for r in results["table"]] == [
        (0, "–"), (1, "batch-mean, z0")] and len(results["runs"]) == 4
    assert csgan_lib.doc_latent_steps_table(results) in (out / "table.md").read_text()
    for r in results["table"]:
        assert r["seeds"] == 2
        assert all(_finite(r[k]) for k in ("inception_score", "inception_score_std", "fid", "fid_std"))
        per_seed = [run["inception_score"] for run in results["runs"] if run["latent_steps"] == r["latent_steps"]]
        assert r["inception_score"] == pytest.approx(np.mean(per_seed))  # the table aggregates the seeds


def test_cs_sgan_tiny_run(tmp_path, capsys):
    out = tmp_path / "sgan"
    flags = ["--steps", "2", "--batch-size", "16", "--latent-steps", "1", "--log-every", "2", "--tsne-samples", "40",
             "--eval-samples", "40", "--samples-per-class", "2", "--classifier-epochs", "1", "--train-images", "80",
             "--out", str(out)]
    cs_sgan.main(flags)
    for name in ("samples_by_class.png", "tsne.png", "summary.md", "results.json", "latents.npz"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    assert 0.0 <= results["test_accuracy"] <= 1.0 and 0.0 <= results["conditional_accuracy"] <= 1.0
    _, labels = load_dataset("mnist-embedded", "train", with_labels=True)
    assert results["labelled"] == int(np.sum(hide_labels(labels[:80], 0.1, seed=0) >= 0)) > 0
    assert all(_finite(v) for v in results["tsne_neighbour_agreement"].values())
    latents = np.load(out / "latents.npz")
    assert latents["z"].shape == (40, 100) and np.all(np.isfinite(latents["z"]))
    assert (out / "cs_sgan_training" / "backup").is_dir()  # trained by ambient_dcs.training.train in the run's folder

    # Again into the same folder: the finished training is reused, and the numbers are the same.
    capsys.readouterr()
    cs_sgan.main(flags)
    assert "holds a finished run" in capsys.readouterr().out
    again = json.loads((out / "results.json").read_text())
    assert again["test_accuracy"] == results["test_accuracy"]
    assert again["learned_step_size"] == results["learned_step_size"]
    # Other settings: the old checkpoint is not taken for the new model.
    cs_sgan.main(flags + ["--learning-rate", "1e-3"])
    assert "starting it over" in capsys.readouterr().out
