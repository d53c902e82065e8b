"""Measure a dataset with an operator and write what an instrument would record, as one .npz file.

The file holds the measurements ``y``, the per-example parameters θ of a random operator
(``theta/<key>``), the image shape and the operator's config, and no clean image: it is the input
of the domain scientist's path,

    python -m recipes.make_measurements --operator PixelDrop --operator-args '{"p": 0.9}' --out pd.npz
    python -m recipes.ambient_then_reconstruct --measurements pd.npz

so anyone can try that path end to end. ``--truth`` also writes the clean images to a separate
file (to check reconstructions afterwards; the main job never reads it).
"""

from __future__ import annotations

import json
import sys

from recipes import common, names

DEFAULT_OPERATOR = "PixelDrop"
DEFAULT_OPERATOR_ARGS = '{"p": 0.9, "noise": {"GaussianNoise": {"std": 0.1}}}'


def parse_args(argv=None):
    p = common.parser("recipes.make_measurements", __doc__)
    p.add_argument("--dataset", default="mnist-embedded",
                   help=f"images to measure: one of {list(names.DATASETS)} or a .npy/.npz file of images (N, H, W, C)")
    p.add_argument("--split", default="train", choices=names.SPLITS, help="split of the dataset")
    p.add_argument("--operator", default=DEFAULT_OPERATOR,
                   help="operator name (see measurements.__all__) or an operator config .json file")
    p.add_argument("--operator-args", default=DEFAULT_OPERATOR_ARGS,
                   help="JSON object of the operator's arguments (noise as {\"GaussianNoise\": {\"std\": 0.1}})")
    p.add_argument("--count", type=int, default=None, help="measure only the first COUNT images (default: all)")
    common.add_common_flags(p, seed_help="seed of θ and of the noise", strategy=False, out_help="output .npz file",
                            out_required=True)
    p.add_argument("--truth", default=None, help="also write the clean images to this .npy file")
    args = p.parse_args(argv)
    if not args.out.endswith(".npz"):
        p.error(f"--out must end in .npz; received {args.out!r}")
    if args.count is not None and args.count < 1:
        p.error(f"--count must be >= 1; received {args.count}")
    if args.operator != DEFAULT_OPERATOR and args.operator_args == DEFAULT_OPERATOR_ARGS:
        args.operator_args = "{}"  # the default arguments belong to the default operator
    return args


def main(argv=None):
    args = parse_args(argv)
    common.start_tensorflow()  # the library imports TensorFlow: started quietly first
    from ambient_dcs.data.files import MeasurementFileError, operator_from_spec
    from ambient_dcs.experiments.main_job import measure_to_file

    json_file = args.operator.endswith(".json")
    try:
        op = operator_from_spec(args.operator, None if json_file else args.operator_args)
        path, y, theta, image_shape = measure_to_file(args.out, op, args.dataset, args.split, count=args.count,
                                                      seed=args.seed, truth=args.truth)
    except (MeasurementFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    keys = ", ".join(f"theta/{k} {tuple(v.shape)}" for k, v in theta.items()) or "no θ (deterministic operator)"
    print(f"Wrote {len(y)} measurements of {args.dataset} ({args.split}) by {type(op).__name__} "
          f"{args.operator if json_file else json.dumps(json.loads(args.operator_args))}"
          f" to {path}: y {tuple(y.shape)}, {keys}, image shape {image_shape}."
          + (f" Clean images: {args.truth}." if args.truth else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
