"""recipes.ambient_diffusion on a tiny budget: both priors trained for the same wall time, scored, tabled, reused."""

import json

import numpy as np
import pytest

from ambient_dcs.experiments.ambient_diffusion import doc_ambient_diffusion_table
from recipes import ambient_diffusion

pytestmark = pytest.mark.slow  # recipes: whole runs at a tiny budget


def test_tiny_run_scores_both_priors_at_the_same_budget_and_reuses_them(tmp_path, capsys):
    out = tmp_path / "ad"
    argv = ["--settings", "blockdrop-14", "--budget-seconds", "1", "--channels", "4", "8", "--samples", "20",
            "--sample-steps", "2", "--test-images", "3", "--posterior-samples", "2", "--posterior-steps", "2",
            "--csgm-steps", "2", "--restarts", "2", "--no-oracle", "--classifier-epochs", "1", "--out", str(out)]
    assert ambient_diffusion.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    rows = {r["prior"]: r for r in results["rows"]}
    assert set(rows) == {"AmbientGAN", "diffusion"} and rows["diffusion"]["trainer"] == "AmbientDiffusion"
    for r in rows.values():  # each trained until the budget ran out, then scored and reconstructed
        assert r["train_seconds"] >= 1 and r["steps"] > 0 and np.isfinite(r["fid"]) and np.isfinite(r["recon_error"])
        assert 0 <= r["calibration_coverage"] <= 1
    assert doc_ambient_diffusion_table(results) in (out / "table.md").read_text()
    for name in ("samples.png", "uncertainty.png", "blockdrop-14/diffusion.keras", "blockdrop-14/ambientgan.keras"):
        assert (out / name).stat().st_size > 0, name
    capsys.readouterr()
    assert ambient_diffusion.main(argv) == 0  # the finished setting is reused, not retrained
    assert "[blockdrop-14] reused" in capsys.readouterr().out


def test_bad_flags_are_refused(capsys):
    with pytest.raises(SystemExit):
        ambient_diffusion.parse_args(["--posterior-samples", "1"])
    assert "--posterior-samples" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ambient_diffusion.parse_args(["--settings", "nothing"])
