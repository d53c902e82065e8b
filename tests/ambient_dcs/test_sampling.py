"""Diffusion sampling against closed forms: EDM's noise levels, the samplers, the Gaussian's exact denoiser, MMPS."""

import numpy as np
import pytest
import tensorflow as tf

from ambient_dcs.sampling import mmps_denoiser, noise_levels, run_sampler, sampler_noise, sampler_start

from .gaussian_cases import DIM, SHAPE, gaussian, linear_problem


def test_noise_levels_follow_edm():
    s = noise_levels(18, 0.002, 80.0)
    assert len(s) == 19 and s[-1] == 0 and s[0] == pytest.approx(80.0) and s[-2] == pytest.approx(0.002)
    assert np.all(np.diff(s) < 0)
    with pytest.raises(ValueError, match="steps"):
        noise_levels(0, 0.002, 80.0)


def test_gaussian_prior_denoiser_is_the_posterior_mean():
    prior = gaussian()
    x = tf.random.stateless_normal((5, *SHAPE), (3, 4))
    sigma = 0.2
    expected = prior.mean + (prior.cov @ np.linalg.inv(prior.cov + sigma**2 * np.eye(DIM))
                             @ (x.numpy().reshape(5, DIM) - prior.mean).T).T
    np.testing.assert_allclose(prior.denoise(x, sigma).numpy().reshape(5, DIM), expected, atol=1e-5)


@pytest.mark.parametrize("sampler", ["heun", "stochastic"])
def test_samplers_draw_the_prior_of_an_exact_denoiser(sampler):
    prior, n = gaussian(), 3000
    sigmas = noise_levels(40, 0.002, 20.0)
    rng = np.random.default_rng(0)
    start = tf.constant(0.5 + sigmas[0] * rng.standard_normal((n, *SHAPE)), tf.float32)
    noise = tf.constant(rng.standard_normal((40, n, *SHAPE)), tf.float32)
    x = run_sampler(prior.denoise, start, sigmas, sampler, noise).numpy().reshape(n, DIM)
    np.testing.assert_allclose(x.mean(0), prior.mean, atol=4 * np.sqrt(np.diag(prior.cov).max() / n))
    np.testing.assert_allclose(x.std(0), np.sqrt(np.diag(prior.cov)), rtol=0.08)


def test_mmps_posterior_mean_equals_the_closed_form():
    prior, (op, a) = gaussian(), linear_problem(noise=0.05)
    rng = np.random.default_rng(1)
    x_t = tf.constant(rng.uniform(size=(3, *SHAPE)), tf.float32)
    y = tf.constant(rng.standard_normal((3, a.shape[0])) * 0.3, tf.float32)
    sigma, var = 0.4, 0.05**2
    guided = mmps_denoiser(prior.denoise, op, y, {}, var, cg_iterations=a.shape[0])(x_t, tf.constant(sigma))
    precision = np.linalg.inv(prior.cov) + np.eye(DIM) / sigma**2 + a.T @ a / var
    rhs = (np.linalg.solve(prior.cov, prior.mean)[None] + x_t.numpy().reshape(3, DIM) / sigma**2
           + y.numpy().astype(np.float64) @ a / var)
    np.testing.assert_allclose(guided.numpy().reshape(3, DIM), np.linalg.solve(precision, rhs.T).T, atol=2e-4)


def test_sampler_noise_is_drawn_in_order_from_the_start_at_sigma_max():
    sigmas = noise_levels(4, 0.002, 10.0)
    start, noise = sampler_noise(np.random.default_rng(5), (2, *SHAPE), sigmas, steps=4)
    rng = np.random.default_rng(5)
    first = rng.standard_normal((2, *SHAPE)).astype(np.float32)
    np.testing.assert_array_equal(start, 0.5 + sigmas[0] * first)
    np.testing.assert_array_equal(noise, rng.standard_normal((4, 2, *SHAPE)).astype(np.float32))
    assert start.dtype == noise.dtype == np.float32
    np.testing.assert_allclose(sampler_start(tf.ones((1, 2)), 3.0).numpy(), [[3.5, 3.5]])
