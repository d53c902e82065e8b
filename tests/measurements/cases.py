"""The operator configurations that drive every generic operator test.

Adding an operator to the library = adding one entry to ``OPERATORS``.
"""

import numpy as np
import pytest

import measurements as M

IMAGE_SHAPE = (12, 12, 2)

# (id, factory(**layer_kwargs) -> operator). Small sizes keep the suite fast.
OPERATORS = [
    ("GaussianProjection", lambda **kw: M.GaussianProjection(20, seed=0, **kw)),
    ("GaussianProjection-resample", lambda **kw: M.GaussianProjection(20, seed=0, resample=True, **kw)),
    ("PixelDrop", lambda **kw: M.PixelDrop(0.5, seed=0, **kw)),
    ("PixelDrop-shared-noisy", lambda **kw: M.PixelDrop(0.7, per_channel=False, noise=M.GaussianNoise(0.1), **kw)),
    ("RowDrop", lambda **kw: M.RowDrop(0.4, seed=0, **kw)),
    ("ColumnDrop", lambda **kw: M.ColumnDrop(0.4, seed=0, **kw)),
    ("RowColumnDrop", lambda **kw: M.RowColumnDrop(0.3, seed=0, **kw)),
    ("BlockDrop", lambda **kw: M.BlockDrop(5, seed=0, **kw)),
    ("KeepPatch", lambda **kw: M.KeepPatch(5, seed=0, **kw)),
    ("ExtractPatch", lambda **kw: M.ExtractPatch(5, seed=0, **kw)),
    ("Inpainting", lambda **kw: M.Inpainting.centered_square(IMAGE_SHAPE, 4, **kw)),
    ("GaussianBlur-noisy", lambda **kw: M.GaussianBlur(1.0, 5, noise=M.GaussianNoise(0.1, seed=1), **kw)),
    ("GaussianBlur-even", lambda **kw: M.GaussianBlur(0.8, 4, **kw)),
    ("PadRotateProject", lambda **kw: M.PadRotateProject(num_angles=2, seed=0, **kw)),
    ("PadRotateProject-theta", lambda **kw: M.PadRotateProject(num_angles=1, expose_theta=True, **kw)),
    ("SuperResolution", lambda **kw: M.SuperResolution(2, **kw)),
    ("Identity-poisson", lambda **kw: M.Identity(noise=M.PoissonNoise(50.0), **kw)),
    ("LearnedLinear", lambda **kw: M.LearnedLinear(7, seed=0, **kw)),
    ("LearnedNetwork", lambda **kw: M.LearnedNetwork(7, hidden=(16,), seed=0, **kw)),
    ("Compose-linear", lambda **kw: M.Compose(M.GaussianProjection(15, seed=2), M.SuperResolution(2), **kw)),
    ("Compose-random", lambda **kw: M.Compose(M.GaussianBlur(1.0, 3), M.PixelDrop(0.5), seed=3, **kw)),
    ("Compose-nonlinear", lambda **kw: M.Compose(
        M.LearnedNetwork(5, hidden=(8,), seed=1, dtype=kw.get("dtype")), M.BlockDrop(3), **kw)),
]

LINEAR = [(name, make) for name, make in OPERATORS if make().is_linear]
RANDOM = [(name, make) for name, make in OPERATORS if make().is_random]


def images(batch=3, shape=IMAGE_SHAPE, dtype="float32", seed=0):
    return np.random.default_rng(seed).random((batch, *shape)).astype(dtype)


def params(entries):
    return pytest.mark.parametrize("make", [m for _, m in entries], ids=[n for n, _ in entries])
