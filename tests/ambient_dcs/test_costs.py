"""The main job's plan: its time estimate (unit costs measured at two image sizes, the power law between them, the
sum) and the held-out test images of a user's file."""

import json
import math
import pathlib

import numpy as np
import pytest

from ambient_dcs.experiments import costs
from ambient_dcs.experiments.main_job import MainJobConfig
from ambient_dcs.priors.diffusion import DiffusionConfig
from ambient_dcs.priors.gan import PriorConfig

SIZES = {784: (28, 28, 1), 4096: (64, 64, 1)}
ROOT = pathlib.Path(__file__).resolve().parents[2]


def measured(name, pixels):
    """The measured cost, or for one too small to measure at a size (0), the other size's."""
    table = costs.MEASURED["costs"]
    return table[pixels][name] or max(table[p][name] for p in table)


def test_the_costs_are_those_of_the_committed_benchmark_run():
    run = json.loads((ROOT / "docs/results/benchmarks/main_job_costs.json").read_text())
    assert costs.MEASURED["matmul_gflops"] == pytest.approx(run["matmul_gflops"], abs=0.05)
    for pixels, size in ((784, "28"), (4096, "64")):
        for name, value in costs.MEASURED["costs"][pixels].items():
            assert value == pytest.approx(run["costs"][size][name], rel=5e-4, abs=1e-12), (size, name)


@pytest.mark.parametrize("pixels", SIZES)
def test_unit_costs_are_the_measured_ones_at_the_measured_sizes(pixels):
    for name in costs.MEASURED["costs"][pixels]:
        assert costs.unit_cost(name, pixels) == pytest.approx(measured(name, pixels), rel=1e-9), name


def test_unit_costs_follow_a_power_law_between_and_beyond_the_sizes():
    for name in costs.MEASURED["costs"][784]:
        a, b = measured(name, 784), measured(name, 4096)
        if a == b:  # measured at one size only: constant
            assert costs.unit_cost(name, 16384) == a
            continue
        mid = costs.unit_cost(name, 2048)
        assert min(a, b) <= mid <= max(a, b), name
        k = math.log(b / a) / math.log(4096 / 784)
        assert costs.unit_cost(name, 16384) == pytest.approx(b * 4**k, rel=1e-9), name


@pytest.mark.parametrize("pixels", SIZES)
def test_the_main_jobs_estimate_adds_its_parts(pixels):
    config = MainJobConfig(prior="both", csgm_steps=300, restarts=3, posterior_samples=8, posterior_steps=12)
    gan, diffusion = PriorConfig(steps=2000, batch_size=32), DiffusionConfig(steps=600)
    parts = costs.main_job_seconds(config, [gan, gan, diffusion], csgm_priors=3, images=100,
                                   image_shape=SIZES[pixels], lasso=True, speed=2.0)
    c = lambda name: measured(name, pixels)  # noqa: E731
    training = 2 * (c("gan_start") + 2000 * c("gan_step")) + c("diffusion_start") + 600 * c("diffusion_step")
    reconstruction = (100 * c("inverse_image") + 3 * (c("csgm_start") + 100 * 3 * 300 * c("csgm_update"))
                      + c("lasso_start") + 100 * c("lasso_image") + c("posterior_start") + 100 * c("posterior_image"))
    assert parts["training"] == pytest.approx(2.0 * training)
    assert parts["reconstruction"] == pytest.approx(2.0 * reconstruction)
    assert parts["total"] == pytest.approx(parts["training"] + parts["reconstruction"] + parts["other"])
    bigger = costs.main_job_seconds(config, [PriorConfig(steps=2000, batch_size=64, width=0.5, latent_steps=3)], 0, 0,
                                    SIZES[pixels], lasso=False)
    step = (0.030 + 64 * 0.00175) / (0.030 + 32 * 0.00175) * 4 * 2.5 * c("gan_step")  # batch, width², 3 latent steps
    assert bigger["training"] == pytest.approx(c("gan_start") + 2000 * step)


def test_the_machine_speed_is_a_positive_ratio():
    assert 0 < costs.machine_speed(seconds=0.05) < 100


def test_a_users_image_file_holds_out_its_last_test_images(tmp_path):
    from ambient_dcs.experiments.main_job import JobError, _split

    images = np.random.default_rng(0).uniform(size=(10, 8, 8, 1)).astype("float32")
    np.save(tmp_path / "mine.npy", images)
    train, test = _split(MainJobConfig(dataset=str(tmp_path / "mine.npy"), test_images=3))
    np.testing.assert_array_equal(train, images[:7])
    np.testing.assert_array_equal(test, images[7:])  # not images it trains on
    with pytest.raises(JobError, match="holds 10 images; expected more than --test-images = 10"):
        _split(MainJobConfig(dataset=str(tmp_path / "mine.npy"), test_images=10))
