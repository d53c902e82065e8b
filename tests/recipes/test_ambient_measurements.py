"""recipes.ambient_measurements on a tiny budget: every run of the grid is trained, scored and tabled."""

import csv
import json

import numpy as np
import pytest

from ambient_dcs.experiments.ambient_grid import doc_grid_table, runs_of
from ambient_dcs.experiments.prior_training import doc_prior_training_table
from recipes import ambient_measurements, prior_training

pytestmark = pytest.mark.slow  # recipes: whole runs at a tiny budget


def test_grid_runs_scores_and_tables(tmp_path, capsys):
    out = tmp_path / "grid"
    code = ambient_measurements.main(["--settings", "blur-noise-0.1", "--theta", "once", "per-batch", "--steps", "2",
                                      "--batch-size", "16", "--width", "0.0625", "--samples", "40", "--no-reference",
                                      "--classifier-epochs", "1", "--quiet", "--out", str(out)])
    assert code == 0
    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    runs = {(r["setting"], r["mode"], r["theta"]) for r in rows}
    assert runs == {("blur-noise-0.1", "ambient", "once"), ("blur-noise-0.1", "ignore", "once"),
                    ("blur-noise-0.1", "unmeasure-wiener", "once"),
                    ("blur-noise-0.1", "ambient", "per-batch"), ("blur-noise-0.1", "ignore", "per-batch")}
    results = json.loads((out / "results.json").read_text())
    scored = {(r["setting"], r["mode"], r["theta"]): r for r in results["rows"]}
    for r in rows:  # the CSV holds exactly the scores recorded per run
        assert np.isfinite(float(r["fid"]))
        key = (r["setting"], r["mode"], r["theta"])
        assert float(r["inception_score"]) == pytest.approx(scored[key]["inception_score"])
    assert results["ceiling"]["n"] == 1000 and 0 < results["classifier_test_accuracy"] <= 1
    table = (out / "table.md").read_text()
    assert "| blur-noise-0.1 | ambient | once |" in table and "| blur-noise-0.1 | ambient | per-batch |" in table
    assert "Ceiling" in table and "blur-noise-0.1: ambient FID" in table and "blur-noise-0.1 (θ per-batch)" in table
    assert doc_grid_table(results) in table  # the doc's table is a function of results.json
    assert len(list((out / "samples").glob("*.png"))) == 5
    assert "trainings of 2 steps" in capsys.readouterr().out


def test_runs_of_skips_modes_that_do_not_exist():
    # ignore needs image-shaped measurements; the 1-D projections have no classical unmeasure inverse.
    assert runs_of(["project-2-theta", "blur-noise-0.5"], no_reference=True) == [
        ("project-2-theta", "ambient", "once", None), ("blur-noise-0.5", "ambient", "once", None),
        ("blur-noise-0.5", "ignore", "once", None), ("blur-noise-0.5", "unmeasure", "once", "wiener")]
    # one unmeasure baseline per classical inverse of a mask (blur fill, inpainting): the stronger one is there
    assert [r for r in runs_of(["pixeldrop-0.8"], no_reference=True) if r[1] == "unmeasure"] == [
        ("pixeldrop-0.8", "unmeasure", "once", "blur"), ("pixeldrop-0.8", "unmeasure", "once", "inpaint")]
    # per batch: no unmeasure run (its inverse is of a fixed dataset); the reference is protocol-free
    assert runs_of(["blur-noise-0.5"], no_reference=False, theta=("per-batch",)) == [
        ("blur-noise-0.5", "ambient", "per-batch", None), ("blur-noise-0.5", "ignore", "per-batch", None),
        ("clean", "reference", "–", None)]


def test_prior_training_curves_table_and_reuse(tmp_path, capsys):
    out = tmp_path / "pt"
    argv = ["--settings", "pixeldrop-0.8", "--candidates", "grid", "--budget-seconds", "2", "--every-seconds", "1",
            "--samples", "40", "--classifier-epochs", "1", "--out", str(out)]
    assert prior_training.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    [row] = results["rows"]
    assert (row["setting"], row["candidate"]) == ("pixeldrop-0.8", "grid")
    assert row["train_seconds"] >= 2 and row["steps"] > 0 and np.isfinite(row["fid_at_budget"])
    assert row["fid_at_budget"] == row["points"][-1]["fid"] and row["points"][0]["seconds"] >= 1
    assert doc_prior_training_table(results) in (out / "table.md").read_text()
    assert (out / "curves.png").stat().st_size > 0
    capsys.readouterr()
    assert prior_training.main(argv) == 0  # the finished run is reused, not retrained
    assert capsys.readouterr().out.count("reused") == 1


def test_prior_training_help_lists_the_candidates(capsys):
    with pytest.raises(SystemExit) as exit_info:
        prior_training.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "grid, lr ×3 = " in text and "--budget-seconds" in text and text.count("(default:") >= 6


def test_prior_training_refuses_bad_flags(capsys):
    with pytest.raises(SystemExit):
        prior_training.parse_args(["--budget-seconds", "0"])
    assert "--budget-seconds" in capsys.readouterr().err
