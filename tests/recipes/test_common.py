"""What every recipe shares: the flags of recipes.common, a short file, a working --help."""

import argparse
import importlib
import pathlib

import pytest

from recipes import common

pytestmark = pytest.mark.slow  # recipes: whole runs at a tiny budget

RECIPES = ["ambient_diffusion", "ambient_measurements", "ambient_then_reconstruct", "cs_sgan", "csgan_latent_steps", "csgm_vs_lasso",
           "dcs_table", "make_measurements", "prior_training"]
ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_recipe_is_listed_and_short():
    found = sorted(p.stem for p in (ROOT / "recipes").glob("*.py") if p.stem not in ("__init__", "common", "names", "startup"))
    assert found == RECIPES
    for name in RECIPES + ["common", "names", "startup"]:
        lines = len((ROOT / "recipes" / f"{name}.py").read_text().splitlines())
        assert lines <= 150, f"recipes/{name}.py has {lines} lines"


def _flags(module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(["--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", RECIPES)
def test_shared_flags_come_from_common(name, capsys):
    module = importlib.import_module(f"recipes.{name}")
    text = _flags(module, capsys)
    assert "--out" in text and ("--seed " in text or "--seeds " in text)
    if name != "make_measurements":  # the only recipe that trains nothing
        assert "--strategy" in text and "--precision" in text
        args = module.parse_args([])
        assert args.out == f"results/{name}" and args.strategy == "default" and args.precision == "float32"
    assert "common" in vars(module)


def test_seeds_are_non_negative_integers(capsys):
    p = common.add_common_flags(argparse.ArgumentParser(), "x", seed_help="seed")
    assert p.parse_args(["--seed", "3"]).seed == 3
    for bad in ("-1", "x"):
        with pytest.raises(SystemExit):
            p.parse_args(["--seed", bad])
        assert "non-negative integer" in capsys.readouterr().err


def test_setup_applies_the_shared_flags(tmp_path):
    args = argparse.Namespace(strategy="default", precision="float32", out=str(tmp_path / "a" / "b"))
    out, strategy = common.setup(args, create_out=False)
    assert not out.exists() and strategy is not None
    out, _ = common.setup(args)
    assert out.is_dir()
