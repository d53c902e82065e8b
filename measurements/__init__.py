"""The measurement-operator library of ambient-dcs.

Every operator is a ``keras.layers.Layer`` mapping images ``x`` (``(N, H, W, C)``, float in
[0, 1]) and per-example parameters ``θ`` to measurements ``y = noise(A_θ(x))``. One operator object
measures the training data, simulates measurements of generated images for the AmbientGAN
discriminator, and defines the data term of CSGM and of Deep Compressed Sensing.

Example:
    >>> import measurements as M
    >>> op = M.PixelDrop(p=0.9, noise=M.GaussianNoise(std=0.1), seed=0)
    >>> theta = op.sample_theta(batch_size=64, seed=1, image_shape=(28, 28, 1))
    >>> y = op(x, theta=theta)              # noisy measurement
    >>> y_clean = op.forward(x, theta)      # noise-free A_θ(x), differentiable in x

This package imports only Keras, TensorFlow, NumPy, SciPy and scikit-image: a Keras user who
wants operators gets nothing else.
"""

from .base import LinearOperator, Operator
from .blur import GaussianBlur
from .compose import Compose
from .identity import Identity
from .masks import BlockDrop, ColumnDrop, Inpainting, KeepPatch, MaskOperator, PixelDrop, RowColumnDrop, RowDrop
from .noise import GaussianNoise, NoiseModel, PoissonNoise, noise_std_of
from .patches import ExtractPatch
from .projection import GaussianProjection, LearnedLinear, LearnedNetwork
from .registry import config_of, from_config, get
from .resolution import SuperResolution
from .tomography import PadRotateProject
from .unmeasure import available_methods, unmeasure
from . import testing

__all__ = [
    "Operator", "LinearOperator", "MaskOperator",
    "GaussianProjection", "PixelDrop", "RowDrop", "ColumnDrop", "RowColumnDrop", "BlockDrop",
    "KeepPatch", "ExtractPatch", "Inpainting", "GaussianBlur", "PadRotateProject",
    "SuperResolution", "Identity", "LearnedLinear", "LearnedNetwork", "Compose",
    "NoiseModel", "GaussianNoise", "PoissonNoise", "noise_std_of",
    "unmeasure", "available_methods", "get", "config_of", "from_config", "testing",
]
