"""``SampleGrid``: PNG grids of a generative model's samples (and their measurements) during training."""

from __future__ import annotations

import os
import sys

import keras
import numpy as np
import tensorflow as tf

from ...reporting.figures import save_array_image, save_image_grid

__all__ = ["SampleGrid"]


class SampleGrid(keras.callbacks.Callback):
    """Saves PNG grids of generator samples at the end of every ``every_epochs`` epochs.

    Files (``NNN`` = the 1-based epoch): ``samples_epochNNN.png``, generator samples for a ``z``
    fixed at the start of training (so grids of successive epochs are comparable); and, when
    ``operator`` is given, ``measured_epochNNN.png``, the same samples measured with a fixed θ
    and fixed noise. Image-shaped measurements are shown as a grid (rescaled from their min..max
    when they leave [0, 1], e.g. the ×1/(1−p) of ``PixelDrop``; channels other than 1 or 3 are
    averaged); vector measurements as one image whose rows are the samples' measurement vectors.

    The generator is ``model.generator`` (or the model itself), ``z`` comes from
    ``model.sample_latent(num_samples, seed)`` when the model has it, else U[−1, 1]. A model without
    a latent (a diffusion prior) is sampled with ``model.sample(num_samples, seed=seed, steps=12)``:
    the same starting noise every epoch.

    Args:
        out_dir: folder for the PNGs (created).
        num_samples: images per grid.
        every_epochs: save every this many epochs (and never more often).
        operator: optional ``measurements.Operator`` for the measured grid.
        seed: seed of the fixed ``z``, θ and noise.
    """

    def __init__(self, out_dir, num_samples=64, every_epochs=1, operator=None, seed=0):
        super().__init__()
        self.out_dir = str(out_dir)
        self.num_samples = int(num_samples)
        self.every_epochs = max(int(every_epochs), 1)
        self.operator = operator
        self.seed = int(seed)
        self._z = None
        self._theta = None

    def _generator(self):
        return getattr(self.model, "generator", self.model)

    def _latent_free(self):
        return getattr(self.model, "latent_dim", 1) is None and hasattr(self.model, "denoise")

    def on_train_begin(self, logs=None):
        if self._latent_free():
            self._z = self.seed
        elif hasattr(self.model, "sample_latent"):
            self._z = self.model.sample_latent(self.num_samples, seed=self.seed)
        else:
            dim = self._generator().input_shape[-1]
            self._z = tf.random.stateless_uniform([self.num_samples, dim], [self.seed, 0], -1.0, 1.0)
        self._theta = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_epochs:
            return
        self.save(epoch + 1)

    def save(self, epoch):
        """Writes the grids for ``epoch`` (1-based) now; returns the paths written."""
        if self._z is None:
            self.on_train_begin()
        if self._latent_free():
            images = tf.constant(self.model.sample(self.num_samples, seed=self.seed, steps=12))
        else:
            images = self._generator()(self._z, training=False)
        values = np.asarray(images)
        if not np.isfinite(values).all():
            print(f"SampleGrid: epoch {epoch}: the generator returned NaN/Inf; no grid saved.", file=sys.stderr)
            return []
        paths = [save_image_grid(values, os.path.join(self.out_dir, f"samples_epoch{epoch:03d}.png"),
                                 title=f"samples, epoch {epoch}")]
        if self.operator is not None:
            paths.append(self._save_measured(images, epoch))
        return paths

    def _save_measured(self, images, epoch):
        op = self.operator
        if self._theta is None:
            self._theta = op.sample_theta(self.num_samples, seed=self.seed, image_shape=tuple(images.shape[1:]))
        y = np.asarray(op(images, theta=self._theta, seed=self.seed + 1))
        path = os.path.join(self.out_dir, f"measured_epoch{epoch:03d}.png")
        name = type(op).__name__
        if y.ndim == 4:
            if y.shape[-1] not in (1, 3):
                y = y.mean(axis=-1, keepdims=True)
            lo, hi = float(y.min()), float(y.max())
            title = f"{name} measurements, epoch {epoch}"
            if lo < 0.0 or hi > 1.0:
                y = (y - lo) / (hi - lo if hi > lo else 1.0)
                title += f" (shown {lo:.2g}..{hi:.2g} → 0..1)"
            return save_image_grid(y, path, title=title)
        rows = y.reshape(len(y), -1)
        return save_array_image(rows, path, title=f"{name} measurements, epoch {epoch} (one row per sample)",
                                pixel_scale=max(1, min(3, 600 // max(rows.shape[1], 1))))
