"""The main job: learn a prior from lossy measurements, then reconstruct with it.

Not written yet: it arrives with issue 6 ("The main job"), after the AmbientGAN trainer and the CSGM
reconstructor. Until then this module says so and exits with status 2.
"""

import sys


def main(argv=None):
    print(
        "recipes.ambient_then_reconstruct is not available yet: it arrives with issue 6 (the main job).\n"
        "Available today: the measurement-operator library (import measurements) and the data loaders\n"
        "(ambient_dcs.data.load_dataset). See README.md.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
