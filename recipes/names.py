"""The library's names that the recipes' command lines offer, in a module that imports nothing.

A recipe builds and checks its arguments before it imports the library (which imports TensorFlow,
seconds and hundreds of MB): ``--help`` and an argument error answer at once. The names below are
the library's own — each line says which constant it is — and ``tests/recipes/test_cli.py`` checks
every one against the library, so a name added there fails the tests until it is added here.
"""

#: ``ambient_dcs.data.datasets.DATASETS`` and ``SPLITS``.
DATASETS = ("mnist-embedded", "faces-embedded", "mnist", "fashion_mnist", "cifar10", "celeb_a")
SPLITS = ("train", "test")

#: ``ambient_dcs.training.distribute.STRATEGIES`` and the keys of ``PRECISIONS``.
STRATEGIES = ("default", "mirrored", "multiworker")
PRECISIONS = ("float32", "mixed-float16", "mixed-bfloat16")

#: ``ambient_dcs.experiments.main_job``: ``DEFAULT_OPERATOR``, ``DEFAULT_OPERATOR_ARGS``,
#: ``PRIOR_FAMILIES``, ``LASSO_MAX_RANDOM_IMAGES``.
MAIN_JOB_OPERATOR = "GaussianBlur"
MAIN_JOB_OPERATOR_ARGS = '{"sigma": 1.0, "size": 5, "noise": {"GaussianNoise": {"std": 0.5}}}'
PRIOR_FAMILIES = ("gan", "diffusion", "both")
LASSO_MAX_RANDOM_IMAGES = 500

#: ``ambient_dcs.experiments.ambient_grid``: the keys of ``SETTINGS``, and ``THETA_PROTOCOLS``.
GRID_SETTINGS = ("pixeldrop-0.5", "pixeldrop-0.8", "pixeldrop-0.95", "blur-noise-0.1", "blur-noise-0.5",
                 "blockdrop-14", "project-2", "project-2-theta")
THETA_PROTOCOLS = ("once", "per-batch")

#: ``ambient_dcs.experiments.ambient_diffusion.DEFAULT_SETTINGS``.
DIFFUSION_SETTINGS = ("pixeldrop-0.5", "pixeldrop-0.8", "pixeldrop-0.95", "blockdrop-14", "blur-noise-0.5")

#: ``ambient_dcs.experiments.prior_training.CANDIDATES``: name → its ``PriorConfig`` overrides.
PRIOR_CANDIDATES = {
    "default": {"batch_size": 32, "steps_per_execution": 25},
    "grid": {"batch_size": 16, "steps_per_execution": 50},
    "grid, lr ×2": {"batch_size": 16, "steps_per_execution": 50, "g_learning_rate": 2e-4, "d_learning_rate": 8e-4},
    "grid, lr ×3": {"batch_size": 16, "steps_per_execution": 50, "g_learning_rate": 3e-4, "d_learning_rate": 1.2e-3},
    "batch 64": {"batch_size": 64, "steps_per_execution": 25},
    "batch 16": {"batch_size": 16, "steps_per_execution": 25},
    "hinge": {"batch_size": 32, "steps_per_execution": 25, "loss": "hinge"},
    "lsgan": {"batch_size": 32, "steps_per_execution": 25, "loss": "lsgan"},
    "dcgan": {"batch_size": 32, "steps_per_execution": 25, "loss": "dcgan"},
    "lr ×2": {"batch_size": 32, "steps_per_execution": 25, "g_learning_rate": 2e-4, "d_learning_rate": 8e-4},
    "lr ×3": {"batch_size": 32, "steps_per_execution": 25, "g_learning_rate": 3e-4, "d_learning_rate": 1.2e-3},
    "width 0.5": {"batch_size": 32, "steps_per_execution": 25, "width": 0.5},
    "width 0.125": {"batch_size": 32, "steps_per_execution": 25, "width": 0.125},
    "2 critic steps": {"batch_size": 32, "steps_per_execution": 25, "d_steps": 2},
    "bilinear": {"batch_size": 32, "steps_per_execution": 25, "upsampling": "bilinear"},
}

#: ``ambient_dcs.models.csgan``: ``LATENT_OBJECTIVES``, ``PENALTY_ANCHORS``; and
#: ``ambient_dcs.experiments.csgan_experiments.VARIANTS``.
LATENT_OBJECTIVES = ("per-example", "batch-mean")
PENALTY_ANCHORS = ("initial", "projected")
CSGAN_VARIANTS = tuple(f"{o}:{a}" for o in LATENT_OBJECTIVES for a in PENALTY_ANCHORS)

#: ``ambient_dcs.experiments.csgm_vs_lasso.PAPER_MEASUREMENTS``.
PAPER_MEASUREMENTS = (10, 25, 50, 100, 200, 300, 400, 500, 750)

#: ``ambient_dcs.experiments.dcs_table.ROWS``.
DCS_ROWS = ("LINEAR", "NN", "LINEAR(L)", "NN(L)")
