"""How long the main job will take: a cost model from the run's own sizes, measured at two image sizes.

Each part of the job has a unit cost measured at 28×28 and at 64×64 by
``python -m benchmarks.main_job_costs`` (:data:`MEASURED`: seconds on the machine named there, whose
matmul peak the same run measured). Between and beyond the two sizes a unit cost follows the power
law through them, ``c(p) = c₂₈ · (p / 784)^k`` in the number of pixels ``p``; on another machine every
cost is scaled by the ratio of the two machines' matmul peaks (:func:`machine_speed`). This is an
estimate: the parts do not all scale with the matmul speed, and the first calls of a process pay for
tracing that the measurements spread over their calls.

Example:
    >>> parts = main_job_seconds(config, trainings=[PriorConfig(steps=2000)] * 3, csgm_priors=3, images=100,
    ...                          image_shape=(64, 64, 1), lasso=True)
    >>> parts["training"], parts["reconstruction"]      # seconds on this machine
"""

from __future__ import annotations

import math
import time

__all__ = ["MEASURED", "unit_cost", "matmul_gflops", "machine_speed", "gan_training_seconds", "main_job_seconds"]

#: ``python -m benchmarks.main_job_costs`` on the machine below: seconds per unit, by pixels per image.
#: ``gan_step``: a training step of a GAN prior (batch 32, width 0.25); ``gan_start``: the rest of a
#: prior's ``train_prior`` call; ``csgm_update``: a latent update (image × restart × step);
#: ``csgm_start``: the tracing a CSGM call starts with; ``lasso_image`` / ``lasso_start``: Lasso in the DCT and Haar bases
#: together, per image and per run; ``inverse_image``: the classical inverse; ``diffusion_step`` /
#: ``diffusion_start``: the diffusion prior (DiffusionEM, U-Net (16, 32), batch 64);
#: ``posterior_image`` / ``posterior_start``: posterior sampling (K = 8, 12 noise levels). A "start" is the
#: intercept of two call lengths: small ones are noisy (``csgm_start`` measured 0 at 64×64). The run's JSON:
#: ``docs/results/benchmarks/main_job_costs.json`` (``tests/ambient_dcs/test_costs.py`` checks these against it).
MEASURED = {
    "machine": "AMD EPYC, 2 cores",
    "matmul_gflops": 185.0,
    "costs": {
        784: {"gan_step": 0.02448, "gan_start": 4.415, "csgm_update": 0.0001918, "csgm_start": 0.74,
              "lasso_image": 0.001511, "lasso_start": 1.0, "inverse_image": 6.134e-05, "diffusion_step": 0.3666,
              "diffusion_start": 10.69, "posterior_image": 3.448, "posterior_start": 15.05},
        4096: {"gan_step": 0.1139, "gan_start": 8.817, "csgm_update": 0.001147, "csgm_start": 0.0,
              "lasso_image": 0.1923, "lasso_start": 13.55, "inverse_image": 0.0005983, "diffusion_step": 2.411,
              "diffusion_start": 82.6, "posterior_image": 9.282, "posterior_start": 14.27},
    },
}

_REFERENCE_BATCH = 32
# A GAN step's cost against its batch (a + b·batch, fitted to the default runs of earlier sessions).
_STEP_FIXED, _STEP_PER_EXAMPLE = 0.030, 0.00175


def unit_cost(name, pixels):
    """Seconds of the unit ``name`` of :data:`MEASURED` for images of ``pixels`` pixels, on the measuring machine."""
    (p0, c0), (p1, c1) = sorted((p, table[name]) for p, table in MEASURED["costs"].items())
    if c0 <= 0 or c1 <= 0:  # a cost too small to measure at one size: the other one, at every size
        return max(c0, c1)
    k = math.log(c1 / c0) / math.log(p1 / p0)
    return c0 * (pixels / p0) ** k


def matmul_gflops(seconds=1.0):
    """This machine's speed: GFLOP/s of a 1024² float32 matmul, the best of ``seconds`` of calls (what
    :data:`MEASURED` records of the measuring machine)."""
    import tensorflow as tf

    a = tf.random.stateless_normal((1024, 1024), seed=(0, 1))
    matmul = tf.function(lambda a: tf.reduce_sum(tf.matmul(a, a)))
    matmul(a).numpy()
    best, spent = math.inf, 0.0
    while spent < seconds:
        start = time.perf_counter()
        matmul(a).numpy()
        best = min(best, time.perf_counter() - start)
        spent += time.perf_counter() - start
    return 2 * 1024**3 / best / 1e9


def machine_speed(seconds=1.0):
    """How much slower this machine is than the measuring one: the ratio of the two :func:`matmul_gflops`
    (> 1 is slower)."""
    return MEASURED["matmul_gflops"] / matmul_gflops(seconds)


def gan_training_seconds(config, pixels=784, speed=1.0):
    """Seconds of ``train_prior`` with the :class:`~ambient_dcs.priors.gan.PriorConfig` ``config`` on images of
    ``pixels`` pixels: the measured step scaled with the batch, the width (FLOPs grow with its square) and
    the unrolled latent steps of ``--fast`` training (each ≈ half a step more)."""
    batch = (_STEP_FIXED + config.batch_size * _STEP_PER_EXAMPLE) / (_STEP_FIXED + _REFERENCE_BATCH * _STEP_PER_EXAMPLE)
    width = max((config.width / 0.25) ** 2, 1.0)
    step = unit_cost("gan_step", pixels) * batch * width * (1 + 0.5 * config.latent_steps)
    return speed * (unit_cost("gan_start", pixels) + config.steps * step)


def main_job_seconds(config, trainings, csgm_priors, images, image_shape, lasso, speed=1.0):
    """The main job's expected seconds by part: ``{"training", "reconstruction", "other", "total"}``.

    Args:
        config: the :class:`~ambient_dcs.experiments.main_job.MainJobConfig` (CSGM and posterior budgets).
        trainings: the configs of the priors still to train (``PriorConfig`` or ``DiffusionConfig``).
        csgm_priors: the GAN priors reconstructed with CSGM.
        images: the measurements to reconstruct.
        image_shape: ``(H, W, C)``.
        lasso: whether the Lasso baselines run.
        speed: :func:`machine_speed` (1: the measuring machine).
    """
    pixels = int(math.prod(image_shape))
    cost = lambda name: unit_cost(name, pixels) * speed  # noqa: E731
    training = 0.0
    for cfg in trainings:
        if hasattr(cfg, "latent_steps"):  # a GAN prior's PriorConfig
            training += gan_training_seconds(cfg, pixels, speed)
        else:
            training += cost("diffusion_start") + cfg.steps * cost("diffusion_step")
    reconstruction = images * cost("inverse_image")
    reconstruction += csgm_priors * (cost("csgm_start") + images * config.restarts * config.csgm_steps
                                     * cost("csgm_update"))
    if lasso:
        reconstruction += cost("lasso_start") + images * cost("lasso_image")
    if config.diffusion:
        reconstruction += cost("posterior_start") + images * cost("posterior_image") * (
            config.posterior_samples / 8) * (config.posterior_steps / 12)
    other = 30.0 * speed  # start-up, measuring the data, figures and report
    return {"training": training, "reconstruction": reconstruction, "other": other,
            "total": training + reconstruction + other}
