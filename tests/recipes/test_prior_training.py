"""recipes.prior_training on a tiny budget: curves, table, figure, and reuse of finished runs."""

import json

import numpy as np
import pytest

from ambient_dcs.evaluation.prior_training import doc_prior_training_table
from recipes import prior_training

pytestmark = pytest.mark.slow  # a whole recipe at a tiny budget


def test_curves_table_and_reuse(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AMBIENT_DCS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "pt"
    argv = ["--settings", "pixeldrop-0.8", "--candidates", "default", "hinge", "--budget-seconds", "2",
            "--every-seconds", "1", "--samples", "40", "--classifier-epochs", "1", "--out", str(out)]
    assert prior_training.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert [(r["setting"], r["candidate"]) for r in results["rows"]] == [("pixeldrop-0.8", "default"),
                                                                         ("pixeldrop-0.8", "hinge")]
    for r in results["rows"]:
        assert r["train_seconds"] >= 2 and r["steps"] > 0 and np.isfinite(r["fid_at_budget"])
        assert r["fid_at_budget"] == r["points"][-1]["fid"] and len(r["points"]) >= 1
    assert doc_prior_training_table(results) in (out / "table.md").read_text()
    assert (out / "curves.png").stat().st_size > 0
    capsys.readouterr()
    assert prior_training.main(argv) == 0  # the finished runs are reused, not retrained
    assert capsys.readouterr().out.count("reused") == 2


def test_bad_flags_are_refused(capsys):
    with pytest.raises(SystemExit):
        prior_training.parse_args(["--budget-seconds", "0"])
    assert "--budget-seconds" in capsys.readouterr().err
