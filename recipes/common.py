"""What every recipe shares: the parser, the flags ``--strategy``, ``--precision``, ``--seed`` (or ``--seeds``)
and ``--out``, their checks, and the set-up they imply.

    p = common.parser("recipes.my_recipe", __doc__)
    p.add_argument("--steps", type=int, default=2000, help="training steps")
    common.add_common_flags(p, "my_recipe", seed_help="seed of everything")
    args = p.parse_args(argv)
    common.require_positive(p, args, ["steps"])
    out, strategy = common.setup(args)   # precision set, strategy made, output folder created
"""

from __future__ import annotations

import argparse
import pathlib

from ambient_dcs.reporting.tables import prepare_output_dir
from ambient_dcs.training.distribute import add_strategy_argument, make_strategy, set_precision

def seed(text):
    """An ``argparse`` type: a non-negative integer (what every seed of the library accepts)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer; received {text!r}")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in every flag's help, and the module docstring's paragraphs kept as written."""


def parser(module, doc, epilog=True):
    """An ``ArgumentParser`` for ``python -m <module>``: the docstring's first paragraph as the
    description and (``epilog=True``) the rest after the flags."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0],
                                   epilog=doc.split("\n\n", 1)[1] if epilog else None,
                                   formatter_class=HelpFormatter if epilog else argparse.ArgumentDefaultsHelpFormatter)


def add_common_flags(p, recipe=None, *, seed_help=None, seeds=None, seeds_help="seeds (one run per seed)",
                     strategy=True, out_help="output folder", out_required=False):
    """Adds the shared flags to ``p`` (a parser or an argument group).

    Args:
        recipe: the default output folder is ``results/<recipe>``.
        seed_help: adds ``--seed`` (a non-negative integer, default 0) with this help.
        seeds: adds ``--seeds`` (several seeds, one run each) with this default list instead.
        strategy: adds ``--strategy`` and ``--precision`` (recipes that train).
        out_required: ``--out`` has no default (a file rather than a folder).
    """
    if seed_help is not None:
        p.add_argument("--seed", type=seed, default=0, help=seed_help)
    if seeds is not None:
        p.add_argument("--seeds", type=seed, nargs="+", default=list(seeds), help=seeds_help)
    if strategy:
        add_strategy_argument(p)
    if out_required:
        p.add_argument("--out", required=True, help=out_help)
    else:
        p.add_argument("--out", default=f"results/{recipe}", help=out_help)
    return p


def require_positive(p, args, names, message="must be >= 1; received", minimum=1):
    """``p.error`` (exit 2) for the first of ``names`` whose value is below ``minimum``."""
    for name in names:
        if getattr(args, name) < minimum:
            p.error(f"--{name.replace('_', '-')} {message} {getattr(args, name)}")


def settings(args, drop=()):
    """The parsed flags as keyword arguments of an experiment's config (``drop``: flags it has not)."""
    return {k: v for k, v in vars(args).items() if k not in drop}


def setup(args, create_out=True):
    """Applies the shared flags: Keras' precision policy, the ``tf.distribute`` strategy and (unless
    ``create_out=False``: the recipe makes it once its inputs are checked) the output folder.

    Returns:
        ``(out, strategy)``: the output folder as a ``Path`` and the strategy.
    """
    if getattr(args, "precision", None) is not None:
        set_precision(args.precision)
    strategy = make_strategy(args.strategy) if getattr(args, "strategy", None) is not None else None
    out = prepare_output_dir(args.out) if create_out else pathlib.Path(args.out)
    return out, strategy


def run(args, experiment, config_class, write_report):
    """The ``main`` of an experiment recipe: :func:`setup`, ``experiment(config_class(**flags), strategy=…)``,
    then its report written and printed. Returns the exit status (0)."""
    _, strategy = setup(args)
    result = experiment(config_class(**settings(args)), strategy=strategy)
    print("\n" + write_report(result))
    print(f"Results written to {result.out}/")
    return 0
