"""recipes.ambient_measurements on a tiny budget: every run of the grid is trained, scored and tabled."""

import csv
import json

import numpy as np
import pytest

from ambient_dcs.evaluation.ambient_grid import runs_of
from recipes import ambient_measurements

pytestmark = pytest.mark.slow  # recipes: whole runs at a tiny budget


def test_grid_runs_scores_and_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AMBIENT_DCS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "grid"
    code = ambient_measurements.main(["--settings", "pixeldrop-0.8", "--steps", "2",
                                      "--batch-size", "16", "--width", "0.0625", "--samples", "40",
                                      "--classifier-epochs", "1", "--quiet", "--out", str(out)])
    assert code == 0
    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    runs = {(r["setting"], r["mode"]) for r in rows}
    assert runs == {("pixeldrop-0.8", "ambient"), ("pixeldrop-0.8", "ignore"), ("pixeldrop-0.8", "unmeasure"),
                    ("clean", "reference")}
    results = json.loads((out / "results.json").read_text())
    scored = {(r["setting"], r["mode"]): r for r in results["rows"]}
    for r in rows:  # the CSV holds exactly the scores recorded per run
        assert np.isfinite(float(r["fid"]))
        assert float(r["inception_score"]) == pytest.approx(scored[(r["setting"], r["mode"])]["inception_score"])
    assert results["ceiling"]["n"] == 1000 and 0 < results["classifier_test_accuracy"] <= 1
    table = (out / "table.md").read_text()
    assert "| pixeldrop-0.8 | ambient |" in table and "Ceiling" in table and "pixeldrop-0.8: ambient FID" in table
    assert len(list((out / "samples").glob("*.png"))) == 4
    assert "trainings of 2 steps" in capsys.readouterr().out


def test_runs_of_skips_modes_that_do_not_exist():
    # ignore needs image-shaped measurements; the 1-D projections have no classical unmeasure inverse.
    assert runs_of(["project-2-theta", "blur-noise-0.5"], no_reference=True) == [
        ("project-2-theta", "ambient"), ("blur-noise-0.5", "ambient"), ("blur-noise-0.5", "ignore"),
        ("blur-noise-0.5", "unmeasure")]
