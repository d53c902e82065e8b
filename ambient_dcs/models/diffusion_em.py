r"""A diffusion prior learned from linear measurements with Gaussian noise by expectation–maximisation.

Rozet et al., "Learning diffusion priors from observations by expectation maximization" (NeurIPS
2024, arXiv 2405.13712; ``francois-rozet/diffusion-priors``). For ``y = A_θ x + η``,
``η ~ N(0, σ_y² I)``, with any linear operator (blur + noise, Gaussian projection, super-resolution,
noisy masks), alternate

* **E**: draw a posterior sample ``x ~ q_k(x | y)`` of training measurements with the current prior
  ``q_k``: moment-matching posterior sampling (:func:`ambient_dcs.sampling.mmps_denoiser`; the linear
  system by ``cg_iterations`` conjugate-gradient steps through ``forward`` / ``adjoint``; Rozet et al.
  use 1) inside EDM's sampler with ``posterior_steps`` noise levels;
* **M**: train the denoiser on those samples (EDM's loss, as :class:`DiffusionPrior`);

starting from a **Gaussian prior** fitted to the measurements by the same EM with the Gaussian's exact
denoiser (:func:`~ambient_dcs.sampling.gaussian_denoise`): ``gaussian_laps`` laps, each
ending with the mean and covariance of the lap's posterior samples, from ``N(½, σ_d² I)``.

**Schedule on the trainer contract** (one ``train_step`` is one optimizer step, so checkpoints,
resume and ``tf.distribute`` work as for every trainer). A pool of ``pool`` posterior samples is kept
as a variable (saved in checkpoints, so a run resumes inside a lap); an E-step samples the posterior
of the step's batch of measurements and writes it into the next rows of the pool (a ring). A **lap**
is one refresh of the whole pool. During the Gaussian laps every step is an E-step; after them one
step in ``e_every`` is (an E-step costs about (2·``posterior_steps`` − 1)·(3 + 2·``cg_iterations``)
forward-pass equivalents per image — Heun's two denoiser calls per level, each a forward pass and
``cg_iterations`` + 1 vector–Jacobian products — against 3 for a training step). Every step also
takes one M-step on a batch drawn from the pool — so the network trains on the Gaussian's samples
first, then on its own (Rozet et al.'s first lap trains on the Gaussian's samples too). With a
training set of ``pool`` measurements shuffled each pass and batches of ``B``,
:meth:`DiffusionEM.steps_for` gives the steps of a number of laps; ``gaussian_laps`` ≥ 1 is
advised (with 0 the first E-steps sample with an untrained network).

Example:
    >>> op = measurements.GaussianBlur(sigma=1.0, noise=measurements.GaussianNoise(0.1))
    >>> em = DiffusionEM(unet((28, 28, 1), seed=0), op, pool=5000, seed=0)
    >>> em.compile()
    >>> ambient_dcs.train(em, measurement_batches, steps=em.steps_for(laps=4, batch_size=64), out_dir="runs/em")
    >>> PosteriorSampling(em, op, samples=8).reconstruct(y_test, theta_test)
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

import measurements
from measurements.validation import check_int

from ..sampling.edm import SAMPLERS, noise_levels, run_sampler, sampler_noise, sampler_start
from ..sampling.gaussian import GaussianPrior, gaussian_denoise
from ..sampling.guidance import mmps_denoiser
from ..training.distribute import gather_replicas
from .diffusion import DiffusionPrior, measurement_batch

__all__ = ["DiffusionEM"]


@keras.saving.register_keras_serializable(package="ambient_dcs")
class DiffusionEM(DiffusionPrior):
    """A diffusion prior learned by EM with moment-matching posterior sampling (see the module docstring).

    Args:
        network: as :class:`DiffusionPrior` (e.g. ``unet((28, 28, 1))``, no condition channels needed).
        operator: a linear operator with no noise or ``measurements.GaussianNoise``.
        pool: posterior samples kept (the training measurements per lap; ≥ 1).
        gaussian_laps: laps of EM with a Gaussian prior before the network's prior is used (≥ 0).
        e_every: after the Gaussian laps, one E-step every ``e_every`` steps (≥ 1).
        posterior_steps: noise levels of the E-step's sampler.
        cg_iterations: conjugate-gradient iterations per denoiser call of the E-step.
        sampler: ``"stochastic"`` or ``"heun"`` for the E-step.
        min_noise_var: σ_y² used for a noise-free operator (keeps the MMPS system well posed).
        shrinkage: added to the diagonal of the Gaussian's covariance at each refit.
        sigma_data, p_mean, p_std, sigma_min, sigma_max, seed: as :class:`DiffusionPrior`.

    Data: ``{"y": y, "theta": {...}}`` batches, as AmbientGAN's.
    """

    PARTS = ("network", "operator")
    METRICS = ("loss", "laps")

    def __init__(self, network, operator, pool, gaussian_laps=2, e_every=8, posterior_steps=8, cg_iterations=1,
                 sampler="stochastic", min_noise_var=1e-4, shrinkage=1e-4, sigma_data=0.5, p_mean=-1.2, p_std=1.2,
                 sigma_min=0.002, sigma_max=40.0, seed=None, **kwargs):
        owner = type(self).__name__
        if not isinstance(operator, measurements.Operator) or not operator.is_linear:
            raise ValueError(f"{owner}: expected a linear measurements.Operator (blur, projection, super-resolution, "
                             f"masks); received {type(operator).__name__}"
                             f"{'' if not isinstance(operator, measurements.Operator) else ', which is not linear'}.")
        noise_std = measurements.noise_std_of(operator)
        super().__init__(network, sigma_data=sigma_data, p_mean=p_mean, p_std=p_std, sigma_min=sigma_min,
                         sigma_max=sigma_max, seed=seed, **kwargs)
        self.pool = check_int(pool, owner, "pool", 1)
        self.gaussian_laps = check_int(gaussian_laps, owner, "gaussian_laps", 0)
        self.e_every = check_int(e_every, owner, "e_every", 1)
        self.posterior_steps = check_int(posterior_steps, owner, "posterior_steps", 1)
        self.cg_iterations = check_int(cg_iterations, owner, "cg_iterations", 1)
        if sampler not in SAMPLERS:
            raise ValueError(f"{owner}: expected sampler in {list(SAMPLERS)}; received {sampler!r}.")
        self.sampler = sampler
        self.min_noise_var = float(min_noise_var)
        self.shrinkage = float(shrinkage)
        if not (math.isfinite(self.min_noise_var) and self.min_noise_var > 0 and math.isfinite(self.shrinkage)
                and self.shrinkage >= 0):
            raise ValueError(f"{owner}: expected min_noise_var > 0 and shrinkage >= 0; received {min_noise_var!r} "
                             f"and {shrinkage!r}.")
        self.operator = operator
        operator.ensure_built(self.image_shape)
        self.noise_var = max(noise_std ** 2, self.min_noise_var)
        dim = int(np.prod(self.image_shape))
        shared = dict(trainable=False, aggregation="only_first_replica")
        self.samples_pool = self.add_weight(shape=(self.pool, *self.image_shape), initializer="zeros",
                                            name="samples_pool", **shared)
        self.rows_written = self.add_weight(shape=(), initializer="zeros", dtype="int64", name="rows_written",
                                            **shared)
        self.gaussian_mean = self.add_weight(shape=(dim,), initializer=keras.initializers.Constant(0.5),
                                             name="gaussian_mean", **shared)
        self.gaussian_vectors = self.add_weight(shape=(dim, dim), initializer="identity", name="gaussian_vectors",
                                                **shared)
        self.gaussian_eigenvalues = self.add_weight(
            shape=(dim,), initializer=keras.initializers.Constant(self.sigma_data ** 2), name="gaussian_eigenvalues",
            **shared)

    def settings(self):
        return {**super().settings(), "pool": self.pool, "gaussian_laps": self.gaussian_laps, "e_every": self.e_every,
                "posterior_steps": self.posterior_steps, "cg_iterations": self.cg_iterations, "sampler": self.sampler,
                "min_noise_var": self.min_noise_var, "shrinkage": self.shrinkage}

    def steps_for(self, laps, batch_size):
        """Training steps for the Gaussian laps and then ``laps`` laps of the network's prior, with
        global batches of ``batch_size`` measurements."""
        per_lap = math.ceil(self.pool / int(batch_size))
        return self.gaussian_laps * per_lap + int(laps) * per_lap * self.e_every

    @property
    def laps_done(self):
        """Refreshes of the whole pool so far (a float: a lap in progress counts its fraction)."""
        return float(keras.ops.convert_to_numpy(self.rows_written)) / self.pool

    def gaussian_prior(self):
        """The current Gaussian prior (the EM's start) as a :class:`GaussianPrior`."""
        vectors = keras.ops.convert_to_numpy(self.gaussian_vectors)
        cov = (vectors * keras.ops.convert_to_numpy(self.gaussian_eigenvalues)) @ vectors.T
        return GaussianPrior(keras.ops.convert_to_numpy(self.gaussian_mean), cov, self.image_shape,
                             sigma_min=self.sigma_min, sigma_max=self.sigma_max)

    def fit_gaussian(self, y, theta=None, laps=8, batch_size=500, seed=0):
        """Fits the initial Gaussian prior to measurements by ``laps`` laps of EM before training.

        Each lap draws one posterior sample of every measurement under the current Gaussian (MMPS with
        its exact denoiser, as the E-step) and refits the mean and covariance to them, so the network's
        first lap can start from a fitted Gaussian instead of ``N(½, σ_d² I)`` (Rozet et al. also fit
        the Gaussian by EM before the first lap); the Gaussian laps of the training then go on from it.
        Where it converges and where it does not: ``docs/results/lab_notes.md``.

        Args:
            y, theta: the training measurements ``(N, …)`` and their θ (arrays).
            laps: EM laps (≥ 1).
            batch_size: measurements per graph call.
            seed: seed of the samplers' noise.

        Returns:
            ``self``.
        """
        laps = check_int(laps, type(self).__name__, "laps", 1)
        y = np.asarray(y, np.float32)
        theta = {k: np.asarray(v) for k, v in (theta or {}).items()}
        sigmas = noise_levels(self.posterior_steps, self.sigma_min, self.sigma_max)
        rng = np.random.default_rng(seed)

        @tf.function(reduce_retracing=True, autograph=False)
        def sample(y_b, theta_b, start, noise):
            guided = mmps_denoiser(self._gaussian_denoise, self.operator, y_b, theta_b, self.noise_var,
                                   self.cg_iterations)
            return tf.clip_by_value(run_sampler(guided, start, sigmas, self.sampler, noise), 0.0, 1.0)

        for _ in range(laps):
            parts = []
            for lo in range(0, len(y), int(batch_size)):
                b = len(y[lo:lo + batch_size])
                start, noise = sampler_noise(rng, (b, *self.image_shape), sigmas, self.posterior_steps)
                parts.append(sample(tf.constant(y[lo:lo + b]), {k: tf.constant(v[lo:lo + b]) for k, v in theta.items()},
                                    tf.constant(start), tf.constant(noise)))
            mean, vectors, eigenvalues = self._refit_gaussian(tf.concat(parts, 0))
            self.gaussian_mean.assign(mean)
            self.gaussian_vectors.assign(vectors)
            self.gaussian_eigenvalues.assign(eigenvalues)
        return self

    # ------------------------------------------------------------------ E-step
    def _gaussian_denoise(self, x, sigma):
        return gaussian_denoise(x, sigma, self.gaussian_mean, self.gaussian_vectors, self.gaussian_eigenvalues)

    def _posterior_samples(self, y, theta, seed, gaussian):
        """Posterior samples ``(n, H, W, C)`` of this replica's measurements under the current prior."""
        n = tf.shape(y)[0]
        sigmas = noise_levels(self.posterior_steps, self.sigma_min, self.sigma_max)
        seeds = tf.random.experimental.stateless_split(seed, 2)
        start = sampler_start(self._noise(tf.zeros(tf.concat([[n], self.image_shape], 0)), seeds[0]), float(sigmas[0]))
        noise = self.global_draw(lambda rows: tf.random.stateless_normal(
            tf.concat([tf.reshape(rows, [1]), [self.posterior_steps], self.image_shape], 0), seeds[1]), n)
        noise = tf.transpose(noise, [1, 0, 2, 3, 4])

        def run(denoise):
            guided = mmps_denoiser(denoise, self.operator, y, theta, self.noise_var, self.cg_iterations)
            return tf.clip_by_value(run_sampler(guided, start, sigmas, self.sampler, noise), 0.0, 1.0)

        return tf.cond(gaussian, lambda: run(self._gaussian_denoise), lambda: run(lambda x, s: self.denoise(x, s)))

    def _refit_gaussian(self, pool):
        """Mean, eigenvectors and eigenvalues of the samples in ``pool`` (+ ``shrinkage`` on the diagonal)."""
        flat = tf.reshape(pool, [tf.shape(pool)[0], -1])
        mean = tf.reduce_mean(flat, axis=0)
        centred = flat - mean
        count = tf.cast(tf.maximum(tf.shape(flat)[0] - 1, 1), tf.float32)
        cov = tf.matmul(centred, centred, transpose_a=True) / count
        eigenvalues, vectors = tf.linalg.eigh(cov + self.shrinkage * tf.eye(tf.shape(cov)[0]))
        return mean, vectors, tf.maximum(eigenvalues, 0.0)

    def train_step(self, data):
        self._require_compiled()
        y, theta = measurement_batch(data, type(self).__name__)
        seeds = self.step_seeds("posterior", "pool_rows", "sigma", "noise")
        written = tf.convert_to_tensor(self.rows_written)
        gaussian_rows = self.gaussian_laps * self.pool
        gaussian = written < gaussian_rows
        e_step = gaussian | (tf.math.floormod(tf.cast(self.optimizer.iterations, tf.int64), self.e_every) == 0)
        pool = tf.convert_to_tensor(self.samples_pool)

        # E: this step's measurements, sampled on every replica and gathered, go to the next rows of
        # the ring. Branches compute only; the all-gather and the writes stay outside tf.cond (a
        # synchronisation point inside control flow is not allowed under tf.distribute).
        local = tf.cond(e_step, lambda: self._posterior_samples(y, theta, seeds["posterior"], gaussian),
                        lambda: tf.zeros(tf.concat([tf.shape(y)[:1], self.image_shape], 0)))
        rows = gather_replicas(local)

        def refreshed():
            count = tf.cast(tf.shape(rows)[0], tf.int64)
            index = tf.math.floormod(written + tf.range(count, dtype=tf.int64), self.pool)
            return tf.tensor_scatter_nd_update(pool, index[:, None], rows), written + count

        pool, written_now = tf.cond(e_step, refreshed, lambda: (pool, written))
        # The Gaussian's M-step, at the end of each Gaussian lap.
        refit = gaussian & (written_now // self.pool > written // self.pool)
        mean, vectors, eigenvalues = tf.cond(
            refit, lambda: self._refit_gaussian(pool),
            lambda: (tf.convert_to_tensor(self.gaussian_mean), tf.convert_to_tensor(self.gaussian_vectors),
                     tf.convert_to_tensor(self.gaussian_eigenvalues)))
        self.samples_pool.assign(pool)
        self.rows_written.assign(written_now)
        self.gaussian_mean.assign(mean)
        self.gaussian_vectors.assign(vectors)
        self.gaussian_eigenvalues.assign(eigenvalues)

        # M: one denoiser step on a batch drawn from the filled part of the pool.
        filled = tf.cast(tf.minimum(written_now, self.pool), tf.int32)
        index = self.global_draw(lambda rows: tf.random.stateless_uniform(
            tf.reshape(rows, [1]) if tf.is_tensor(rows) else [rows], seeds["pool_rows"], minval=0, maxval=filled,
            dtype=tf.int32), tf.shape(y)[0])
        loss = self._denoising_step(tf.gather(pool, index), seeds["sigma"], seeds["noise"])
        return self.track(loss=loss, laps=tf.cast(written_now, tf.float32) / self.pool)
