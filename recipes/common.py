"""What every recipe shares: the parser, the flags ``--strategy``, ``--precision``, ``--seed`` (or ``--seeds``)
and ``--out``, their checks, and the set-up they imply.

A recipe parses and checks its arguments first and imports the library (and with it TensorFlow)
after, so ``--help`` and an argument error answer at once; :func:`setup` then starts TensorFlow
without its C++ start-up lines (:func:`recipes.startup.start_tensorflow`).

    p = common.parser("recipes.my_recipe", __doc__)
    p.add_argument("--steps", type=int, default=2000, help="training steps")
    common.add_common_flags(p, "my_recipe", seed_help="seed of everything")
    args = p.parse_args(argv)
    common.require_positive(p, args, ["steps"])
    out, strategy = common.setup(args)   # TensorFlow started, precision set, strategy made, output folder created
    from ambient_dcs.experiments.my_experiment import my_experiment   # the library, once the arguments are good
"""

from __future__ import annotations

import argparse
import pathlib

from recipes import names
from recipes.startup import ENVIRONMENT_HELP, start_tensorflow

__all__ = ["parser", "add_common_flags", "add_strategy_argument", "require_positive", "settings", "setup", "run",
           "seed", "start_tensorflow"]


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
    description and (``epilog=True``) the rest after the flags, then :data:`ENVIRONMENT_HELP`."""
    rest = doc.split("\n\n", 1)[1] + "\n\n" if epilog else ""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0],
                                   epilog=rest + ENVIRONMENT_HELP,
                                   formatter_class=HelpFormatter if epilog else argparse.ArgumentDefaultsHelpFormatter)


def add_strategy_argument(p):
    """Adds ``--strategy`` and ``--precision`` to ``p`` (the names of ``ambient_dcs.training.distribute``)."""
    p.add_argument(
        "--strategy", choices=names.STRATEGIES, default="default",
        help="tf.distribute strategy of the training: 'default' (one device), 'mirrored' (all local GPUs, "
             "the global batch split across them) or 'multiworker' (one process per machine, cluster from "
             "TF_CONFIG); see README 'Running on a GPU / several GPUs'")
    p.add_argument(
        "--precision", choices=list(names.PRECISIONS), default="float32",
        help="numerics of the networks: 'mixed-float16' (GPUs with tensor cores; losses scaled dynamically) "
             "or 'mixed-bfloat16' (recent GPUs/TPUs): float16/bfloat16 compute, float32 weights. On a CPU "
             "they are slower, not faster")
    return p


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
    """Applies the shared flags, once the arguments are checked: TensorFlow started quietly
    (:func:`recipes.startup.start_tensorflow`), Keras' precision policy, the ``tf.distribute`` strategy and (unless
    ``create_out=False``: the recipe makes it once its inputs are checked) the output folder.

    Returns:
        ``(out, strategy)``: the output folder as a ``Path`` and the strategy.
    """
    start_tensorflow()
    from ambient_dcs.reporting.tables import prepare_output_dir
    from ambient_dcs.training.distribute import make_strategy, set_precision

    if getattr(args, "precision", None) is not None:
        set_precision(args.precision)
    strategy = make_strategy(args.strategy) if getattr(args, "strategy", None) is not None else None
    out = prepare_output_dir(args.out) if create_out else pathlib.Path(args.out)
    return out, strategy


def run(args, strategy, experiment, config_class, write_report):
    """The rest of an experiment recipe's ``main``, after :func:`setup`: ``experiment(config_class(**flags),
    strategy=…)``, then its report written and printed. Returns the exit status (0)."""
    result = experiment(config_class(**settings(args)), strategy=strategy)
    print("\n" + write_report(result))
    print(f"Results written to {result.out}/")
    return 0
