"""The CSGM-vs-Lasso recipe at a tiny budget: every output, rows that agree with each other."""

import csv
import json

import pytest

from ambient_dcs.experiments.csgm_vs_lasso import lasso_match
from recipes import csgm_vs_lasso

pytestmark = pytest.mark.slow  # recipes: whole runs at a tiny budget


def test_tiny_run_writes_every_output(tmp_path, monkeypatch):
    monkeypatch.setenv("AMBIENT_DCS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = csgm_vs_lasso.main(["--images", "4", "--measurements", "25", "50", "--steps", "5", "--restarts", "2",
                               "--range-images", "2", "--example-images", "2", "--vae-epochs", "1",
                               "--out", str(out)])
    assert code == 0
    for name in ("errors.csv", "errors.png", "sources_of_error.png", "superres.png", "inpainting.png",
                 "summary.md", "results.json"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(out / "errors.csv")))
    gaussian = {(r["method"], int(r["m"])) for r in rows if r["experiment"] == "gaussian"}
    assert gaussian == {(k, m) for k in ("VAE", "VAE+Reg", "Lasso") for m in (25, 50)}
    assert {r["experiment"] for r in rows} == {"gaussian", "range", "representation", "superres", "inpainting"}
    assert all(int(r["images"]) == 4 for r in rows if r["experiment"] == "gaussian")
    # The summary's "Lasso first matches" sentence is lasso_match() of the same rows.
    saved = json.loads((out / "results.json").read_text())["rows"]
    target, m = lasso_match(saved)
    summary = (out / "summary.md").read_text()
    assert f"({target:.4f})" in summary
    assert f"at m = {m if m is not None else 'none of the m tried'}." in summary
