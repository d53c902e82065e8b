"""Diffusion priors (EDM), Ambient Diffusion's further-corruption loss, EM, and posterior sampling (MMPS / DPS).

The closed forms of a Gaussian prior and a linear Gaussian measurement: ``gaussian_cases``.
"""

import numpy as np
import pytest
import tensorflow as tf

import measurements as M
from ambient_dcs.data.datasets import load_dataset
from ambient_dcs.models.diffusion import AmbientDiffusion, DiffusionPrior
from ambient_dcs.models.diffusion_em import DiffusionEM
from ambient_dcs.models.losses import ambient_loss
from ambient_dcs.networks import unet
from ambient_dcs.reconstruction.posterior import PosteriorSampling
from ambient_dcs.sampling import GaussianPrior

from .gaussian_cases import DIM, SHAPE, gaussian, linear_problem


def test_denoiser_preconditioning_limits():
    prior = DiffusionPrior(unet(SHAPE, channels=(8,), seed=0), seed=0)
    x = tf.random.stateless_uniform((3, *SHAPE), (1, 2))
    # σ → 0: c_skip → 1 and c_out → 0, so D(x; σ) → x; σ large: D → the data centre ½ + c_out·F.
    np.testing.assert_allclose(prior.denoise(x, 1e-5), x, atol=1e-4)
    # the network's output layer starts at zero: D = ½ + c_skip (x − ½)
    c_skip = 0.25 / (0.3**2 + 0.25)
    np.testing.assert_allclose(prior.denoise(x, 0.3), 0.5 + c_skip * (x - 0.5), atol=1e-6)


def test_ambient_loss_ignores_pixels_the_measurement_does_not_see():
    rng = np.random.default_rng(0)
    kept = tf.constant(rng.uniform(size=(2, *SHAPE)) > 0.5, tf.float32)
    further = kept * tf.constant(rng.uniform(size=(2, *SHAPE)) > 0.2, tf.float32)
    x_obs = tf.Variable(tf.constant(rng.uniform(size=(2, *SHAPE)), tf.float32) * kept)
    sigma = tf.fill((2, 1, 1, 1), 0.3)
    weights = tf.constant(rng.standard_normal((DIM * 2, DIM)), tf.float32)

    def denoise(x, s, condition):  # any function of what the network sees (the further-corrupted image)
        flat = tf.reshape(tf.concat([x, condition], -1), [2, -1])
        return tf.reshape(tf.tanh(flat @ weights), [2, *SHAPE])

    for held_out in (False, True):
        with tf.GradientTape() as tape:
            loss = ambient_loss(denoise, x_obs, kept, further, sigma, tf.zeros((2, *SHAPE)), tf.ones_like(sigma),
                                held_out_only=held_out)
        grad = tape.gradient(loss, x_obs).numpy()
        assert np.all(grad[kept.numpy() == 0] == 0)  # an unobserved pixel of the target has no influence
        assert np.abs(grad[kept.numpy() == 1]).max() > 0


def test_mmps_samples_have_the_closed_form_posterior_mean_and_covariance():
    prior, (op, a) = gaussian(), linear_problem(noise=0.05)
    x_true = prior.mean + np.linalg.cholesky(prior.cov) @ np.random.default_rng(2).standard_normal(DIM)
    y = (a @ x_true)[None].astype(np.float32)
    var = 0.05**2
    cov = np.linalg.inv(np.linalg.inv(prior.cov) + a.T @ a / var)
    mean = cov @ (np.linalg.solve(prior.cov, prior.mean) + a.T @ y[0] / var)
    rec = PosteriorSampling(prior, op, samples=2000, steps=48, cg_iterations=6, batch_size=1, seed=0).reconstruct(y)
    s = rec.samples[0].reshape(-1, DIM).astype(np.float64)
    assert rec.samples.shape == (1, 2000, *SHAPE) and rec.std.shape == (1, *SHAPE)
    np.testing.assert_allclose(s.mean(0), mean, atol=4 * np.sqrt(np.diag(cov).max() / 2000))
    # 48 steps of the stochastic sampler: standard deviations within 10 % (measured 0-8 %), correlations to 0.1
    np.testing.assert_allclose(s.std(0), np.sqrt(np.diag(cov)), rtol=0.1)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    np.testing.assert_allclose(np.corrcoef(s, rowvar=False), corr, atol=0.1)
    np.testing.assert_allclose(rec.x[0].reshape(-1), s.mean(0), atol=1e-6)


def test_blockdrop_posterior_std_is_larger_inside_the_block():
    x = load_dataset("mnist-embedded", "train")[:2000]
    prior = GaussianPrior.fit(x, sigma_max=10.0)
    op = M.BlockDrop(12, seed=0, noise=M.GaussianNoise(0.05, seed=1))
    op.ensure_built((28, 28, 1))
    y, theta = op.measure(load_dataset("mnist-embedded", "test")[:4])
    rec = PosteriorSampling(prior, op, samples=16, steps=16, cg_iterations=4, seed=0).reconstruct(y, theta)
    hidden = ~np.asarray(op.observed(theta, (28, 28, 1)))
    inside, outside = rec.std[hidden].mean(), rec.std[~hidden].mean()
    assert inside > 3 * outside, (inside, outside)


def test_ambient_diffusion_trains_and_samples_from_masked_data(tmp_path):
    op = M.PixelDrop(0.5, seed=0, noise=M.GaussianNoise(0.05))
    op.ensure_built(SHAPE)
    y, theta = op.measure(np.random.default_rng(0).uniform(size=(32, *SHAPE)).astype(np.float32))
    model = AmbientDiffusion(unet(SHAPE, channels=(8,), condition_channels=1, seed=0), op, delta=0.2, seed=0)
    model.compile()
    history = model.fit(tf.data.Dataset.from_tensors({"y": y, "theta": theta}).repeat(), steps_per_epoch=3,
                        epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][-1])
    samples = model.sample(5, steps=4, sampler="stochastic", seed=0)
    assert samples.shape == (5, *SHAPE) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, model.sample(5, steps=4, sampler="stochastic", seed=0))
    # the prior learned from masks reconstructs through posterior sampling, from memory or a saved file
    first = {k: v[:3] for k, v in theta.items()}
    rec = PosteriorSampling(model, op, samples=3, steps=3, cg_iterations=2, batch_size=3).reconstruct(y[:3], first)
    assert rec.samples.shape == (3, 3, *SHAPE) and rec.std.shape == (3, *SHAPE) and np.isfinite(rec.x).all()
    np.testing.assert_allclose(rec.x, rec.samples.mean(axis=1), atol=1e-6)
    model.save(tmp_path / "prior.keras")  # a saved prior: the same denoiser behind posterior sampling
    again = PosteriorSampling(str(tmp_path / "prior.keras"), op, samples=3, steps=3, cg_iterations=2, batch_size=3)
    mask = np.asarray(op.observed(first, SHAPE), np.float32)
    np.testing.assert_allclose(again.prior.denoise(y[:3], 0.3, mask), model.denoise(y[:3], 0.3, mask), atol=1e-6)


def test_em_gaussian_laps_learn_the_data_gaussian_from_masked_noisy_measurements():
    # Only measurements of a Gaussian (half the pixels deleted, noise 0.05): the EM's Gaussian laps,
    # from N(½, ¼ I), recover the data's mean and approach its covariance.
    truth = gaussian(1)
    x = np.clip(truth.mean + np.random.default_rng(0).multivariate_normal(np.zeros(DIM), truth.cov, 256), 0, 1)
    x = x.reshape(-1, *SHAPE).astype(np.float32)
    op = M.PixelDrop(0.5, seed=0, noise=M.GaussianNoise(0.05, seed=1))
    y, theta = op.measure(x, seed=0)
    em = DiffusionEM(unet(SHAPE, channels=(8,), seed=0), op, pool=256, gaussian_laps=4, posterior_steps=8,
                     cg_iterations=2, seed=0)
    em.compile()
    data = tf.data.Dataset.from_tensor_slices({"y": y, "theta": theta}).repeat().batch(64, drop_remainder=True)
    em.fit(data, steps_per_epoch=em.steps_for(0, 64), epochs=1, verbose=0)
    assert em.laps_done == 4
    flat = x.reshape(256, -1)
    fitted = em.gaussian_prior()
    cov = np.cov(flat, rowvar=False)
    assert np.abs(fitted.mean - flat.mean(0)).max() < 0.05
    # EM with half the pixels missing converges geometrically: after 4 laps the covariance is
    # 5× closer to the data's than the start (measured: 0.20 against 0.98 in Frobenius norm).
    assert np.linalg.norm(fitted.cov - cov) < 0.3 * np.linalg.norm(0.25 * np.eye(DIM) - cov)
    # The same EM on all the measurements at once, before training (DiffusionEM.fit_gaussian).
    prefit = DiffusionEM(unet(SHAPE, channels=(8,), seed=0), op, pool=256, posterior_steps=8, cg_iterations=2)
    prefit.fit_gaussian(y, theta, laps=4, batch_size=128, seed=0)
    again = prefit.gaussian_prior()
    assert np.abs(again.mean - flat.mean(0)).max() < 0.05
    assert np.linalg.norm(again.cov - cov) < 0.3 * np.linalg.norm(0.25 * np.eye(DIM) - cov)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="masking operator"):
        AmbientDiffusion(unet(SHAPE, channels=(8,), condition_channels=1), M.GaussianBlur(1.0, 3))
    with pytest.raises(ValueError, match="condition channel"):
        AmbientDiffusion(unet(SHAPE, channels=(8,)), M.PixelDrop(0.5))
    with pytest.raises(ValueError, match="sigma_max > sigma_min"):
        DiffusionPrior(unet(SHAPE, channels=(8,)), sigma_min=1.0, sigma_max=0.5)
    class Squared(M.Operator):  # a non-linear measurement
        def forward(self, x, theta):
            return x * x

    with pytest.raises(ValueError, match="linear operator"):
        PosteriorSampling(gaussian(), Squared())
    with pytest.raises(ValueError, match="method"):
        PosteriorSampling(gaussian(), M.PixelDrop(0.5), method="ddrm")
    with pytest.raises(ValueError, match="linear measurements.Operator"):
        DiffusionEM(unet(SHAPE, channels=(8,)), Squared(), pool=8)
    with pytest.raises(ValueError, match="pool"):
        DiffusionEM(unet(SHAPE, channels=(8,)), M.PixelDrop(0.5), pool=0)
    with pytest.raises(ValueError, match="divisible"):
        unet((6, 6, 1), channels=(8, 16, 32))
