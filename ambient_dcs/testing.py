"""Tiny trainers for tests: one entry per trainer drives the trainer contract test.

:data:`TRAINER_CASES` maps a trainer's name to a zero-argument function that returns a compiled, tiny
instance of it (8×8×1 images, hidden width 16, latent size 4) and a deterministic ``tf.data``
dataset of batches of 8 (16 fixed examples, shuffled with ``seed=0``). Every network, operator and
trainer is seeded, so two calls of the same function give the same model, the same data and, trained
the same way, the same weights. ``tests/ambient_dcs/test_trainer_contract.py`` runs the contract of
:mod:`ambient_dcs.models.base` (config round trip, fresh-process load, same seed same steps, resume
after ``kill -9``, NaN guard, one vs two replicas) over every entry: a new trainer is one entry here.

Call a case function inside ``strategy.scope()`` to get a model for a ``tf.distribute`` strategy.
The optimizers are SGD with momentum: they keep state (the momenta, which a resume must restore), and
their step is proportional to the gradient, so a loss scaled wrongly across replicas shows in the
weights (Adam's step hardly depends on the gradient's scale and would hide it). Latent optimisations
take one unrolled step (``latent_steps=1``): tracing a train step is most of the cost of these tests.

Example:
    >>> import numpy as np
    >>> from ambient_dcs.testing import TRAINER_CASES, weights_of
    >>> from ambient_dcs.training import train
    >>> model, data = TRAINER_CASES["VAE"]()
    >>> history = train(model, data, steps=4, out_dir="/tmp/vae-a", checkpoint_every=2, verbose=0)
    >>> again, data = TRAINER_CASES["VAE"]()                  # the same model and data ...
    >>> history = train(again, data, steps=4, out_dir="/tmp/vae-b", checkpoint_every=2, verbose=0)
    >>> all(np.allclose(a, b) for a, b in zip(weights_of(model), weights_of(again)))   # ... the same steps
    True
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import measurements

from .models import (CSGAN, CSSGAN, VAE, AmbientDiffusion, AmbientGAN, AmbientGANWithInversion, DeepCompressedSensing,
                     DiffusionEM, DiffusionPrior)
from .networks import mlp_discriminator, mlp_generator, unet, vae_decoder, vae_encoder

__all__ = ["TRAINER_CASES", "IMAGE_SHAPE", "BATCH_SIZE", "LATENT_DIM", "images", "labels", "dataset", "weights_of",
           "optimizer_variables_of", "generated_by"]

IMAGE_SHAPE = (8, 8, 1)
BATCH_SIZE = 8
LATENT_DIM = 4
HIDDEN = (16,)
EXAMPLES = 16  # two batches: a resume at an odd step lands in the middle of a pass over the data
LEARNING_RATE, MOMENTUM = 0.02, 0.9


def images(n=EXAMPLES, seed=0):
    """``n`` fixed images ``(n, 8, 8, 1)`` float32, uniform in [0, 1]."""
    return np.random.default_rng(seed).uniform(0, 1, (n, *IMAGE_SHAPE)).astype("float32")


def labels(n=EXAMPLES, classes=3):
    """``n`` fixed labels in ``[0, classes)``, some ``−1`` (unlabelled), unevenly spread over the batches."""
    out = (np.arange(n) % classes).astype("int32")
    out[[i for i in (0, 1, 2, 5, 9) if i < n]] = -1
    return out


def dataset(*arrays, passes=64):
    """The arrays (one, a tuple, or one dict of arrays) as batches of :data:`BATCH_SIZE`: ``passes``
    passes over the data, each in another order, then repeated.

    The order is drawn with NumPy (seed 0), so the batches depend neither on TensorFlow's global seed
    (which ``tf.data``'s ``shuffle`` mixes into its own, and which other code may have set) nor on how
    often the dataset was opened (Keras opens it once more under a ``tf.distribute`` strategy).
    """
    n = len(tf.nest.flatten(arrays[0])[0])
    rng = np.random.default_rng(0)
    order = np.concatenate([rng.permutation(n) for _ in range(passes)])
    data = tuple(tf.nest.map_structure(lambda a: np.asarray(a)[order], a) for a in arrays)
    return tf.data.Dataset.from_tensor_slices(data[0] if len(data) == 1 else data).repeat().batch(
        BATCH_SIZE, drop_remainder=True)


def weights_of(model):
    """Every weight of ``model`` (networks, operator, learned step sizes) as a list of NumPy arrays."""
    return [np.array(keras.ops.convert_to_numpy(w)) for w in model.weights]


def optimizer_variables_of(model):
    """Every variable of every optimizer in ``model.optimizers`` (iterations, moments …) as NumPy arrays."""
    return [np.array(keras.ops.convert_to_numpy(v)) for opt in model.optimizers.values() for v in opt.variables]


def generated_by(model, n=5):
    """What a trained model makes of a fixed input, as NumPy: its generator on fixed latents, or for
    a diffusion prior (no latent) its denoiser at σ = 0.5 on fixed noisy images."""
    rng = np.random.default_rng(0)
    if hasattr(model, "generator"):
        dim = model.generator.input_shape[-1]
        return np.asarray(model.generator(rng.standard_normal((n, dim)).astype("float32"), training=False))
    return np.asarray(model.denoise(rng.uniform(0, 1, (n, *model.image_shape)).astype("float32"), 0.5))


def _optimizer():
    return keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM)


def _generator(seed=1):
    return mlp_generator(LATENT_DIM, IMAGE_SHAPE, HIDDEN, seed=seed)


def ambient_gan():
    model = AmbientGAN(_generator(), mlp_discriminator(IMAGE_SHAPE, HIDDEN, seed=2),
                       measurements.PixelDrop(0.5, seed=0), d_steps=2, seed=3)
    model.compile(g_optimizer=_optimizer(), d_optimizer=_optimizer())
    return model, dataset(images())


def ambient_gan_with_inversion():
    model = AmbientGANWithInversion(_generator(), mlp_discriminator(IMAGE_SHAPE, HIDDEN, seed=2),
                                    measurements.PixelDrop(0.5, seed=0), latent_steps=1, d_steps=1,
                                    latent_distribution="normal", seed=3)
    model.compile(g_optimizer=_optimizer(), d_optimizer=_optimizer())
    return model, dataset(images())


def vae():
    model = VAE(vae_encoder(IMAGE_SHAPE, LATENT_DIM, HIDDEN, seed=1), vae_decoder(LATENT_DIM, IMAGE_SHAPE, HIDDEN, seed=2),
                seed=3)
    model.compile(optimizer=_optimizer())
    return model, dataset(images())


def deep_compressed_sensing():
    # A learned measurement trained on its own optimizer (Algorithm 2, alternating): two optimizers.
    model = DeepCompressedSensing(_generator(), measurements.LearnedLinear(6, seed=0), latent_steps=1,
                                  update="alternating", seed=3)
    model.compile(optimizer=_optimizer(), measurement_optimizer=_optimizer())
    return model, dataset(images())


def cs_gan():
    model = CSGAN(_generator(), mlp_discriminator(IMAGE_SHAPE, HIDDEN, outputs=2, seed=2), latent_steps=1, seed=3)
    model.compile(g_optimizer=_optimizer(), d_optimizer=_optimizer())
    return model, dataset(images())


def cs_sgan():
    model = CSSGAN(_generator(), mlp_discriminator(IMAGE_SHAPE, HIDDEN, outputs=4, seed=2), latent_steps=1, seed=3)
    model.compile(g_optimizer=_optimizer(), d_optimizer=_optimizer())
    return model, dataset(images(), labels())


def diffusion_prior():
    model = DiffusionPrior(unet(IMAGE_SHAPE, channels=(8,), seed=1), seed=3)
    model.compile(optimizer=_optimizer())
    return model, dataset(images())


def ambient_diffusion():
    op = measurements.PixelDrop(0.5, seed=0, noise=measurements.GaussianNoise(0.05))
    y, theta = op.measure(images())
    model = AmbientDiffusion(unet(IMAGE_SHAPE, channels=(8,), condition_channels=1, seed=1), op, delta=0.2, seed=3)
    model.compile(optimizer=_optimizer())
    return model, dataset({"y": np.asarray(y), "theta": {k: np.asarray(v) for k, v in theta.items()}})


def diffusion_em():
    op = measurements.GaussianBlur(sigma=1.0, noise=measurements.GaussianNoise(0.1))
    y, theta = op.measure(images(), seed=0)
    # pool 16, batches of 8: the Gaussian lap is steps 1-2, then an E-step every 2 steps, so a resume
    # at step 3 lands inside the network's first lap.
    model = DiffusionEM(unet(IMAGE_SHAPE, channels=(8,), seed=1), op, pool=EXAMPLES, gaussian_laps=1, e_every=2,
                        posterior_steps=2, seed=3)
    model.compile(optimizer=_optimizer())
    return model, dataset({"y": np.asarray(y), "theta": {k: np.asarray(v) for k, v in theta.items()}})


#: Trainer name → zero-argument function returning ``(compiled tiny model, tf.data.Dataset of batches)``.
TRAINER_CASES = {
    "AmbientGAN": ambient_gan,
    "AmbientGANWithInversion": ambient_gan_with_inversion,
    "VAE": vae,
    "DeepCompressedSensing": deep_compressed_sensing,
    "CSGAN": cs_gan,
    "CSSGAN": cs_sgan,
    "DiffusionPrior": diffusion_prior,
    "AmbientDiffusion": ambient_diffusion,
    "DiffusionEM": diffusion_em,
}
