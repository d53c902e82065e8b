"""The standard callbacks of a run: what :func:`ambient_dcs.train` runs, and what a ``fit`` call can use."""

from __future__ import annotations

import os

from .checkpoint import checkpointing
from .divergence import DivergenceGuard
from .sample_grid import SampleGrid
from .stop_at_step import StopAtStep
from .tensorboard_scalars import tensorboard

__all__ = ["standard_callbacks"]


def standard_callbacks(out_dir, operator=None, checkpoint_every=500, samples_every=1, num_samples=64, seed=0,
                       delete_checkpoint=True, samples=True, steps=None, start=0):
    """The usual set, writing under ``out_dir``, in this order (the checkpoint first, the guard last):

    1. :func:`~ambient_dcs.training.callbacks.checkpoint.checkpointing`: a backup every
       ``checkpoint_every`` steps in ``out_dir/backup``, restored when the same run starts again;
    2. with ``steps``: :class:`StopAtStep` — the run ends after exactly ``steps`` steps (``start``:
       the steps a resumed run had done when this ``fit`` began);
    3. with ``samples``: :class:`SampleGrid` — PNG grids of samples (and of their measurements by
       ``operator``) every ``samples_every`` epochs in ``out_dir/samples``;
    4. :func:`~ambient_dcs.training.callbacks.tensorboard_scalars.tensorboard`: the logged scalars
       per epoch in ``out_dir/logs`` (``tensorboard --logdir out_dir/logs``);
    5. :class:`DivergenceGuard`: stops at the first NaN/Inf logged value.

    Args:
        out_dir: the run's folder.
        operator: measures the sample grids' samples (``None``: no measured grid).
        checkpoint_every: steps between backups.
        samples_every, num_samples: epochs between sample grids, and images per grid.
        seed: seed of the sample grids' fixed latents (and θ, noise).
        delete_checkpoint: remove the backup when the run finishes normally.
        samples: include the sample grids.
        steps, start: the step limit (``None``: none).

    Returns:
        A list of Keras callbacks.

    Example:
        >>> gan.fit(dataset, epochs=20, callbacks=standard_callbacks("results/run1", operator=op))
    """
    out_dir = str(out_dir)
    callbacks = [checkpointing(out_dir, every_steps=checkpoint_every, delete_checkpoint=delete_checkpoint)]
    if steps is not None:
        callbacks.append(StopAtStep(steps, start=start))
    if samples:
        callbacks.append(SampleGrid(os.path.join(out_dir, "samples"), num_samples=num_samples,
                                    every_epochs=samples_every, operator=operator, seed=seed))
    return callbacks + [tensorboard(os.path.join(out_dir, "logs")), DivergenceGuard()]
