"""Network builders (functional ``keras.Model`` s): generators, critics, VAE encoders / decoders, MLPs,
and the U-Net of the diffusion denoisers.

See :mod:`ambient_dcs.networks.builders` for the table of builders and their origins, and
:mod:`ambient_dcs.networks.unet` for the U-Net.
"""

from .builders import *  # noqa: F401,F403
from .builders import RESIZE_OUTPUT_BIAS, UPSAMPLINGS  # noqa: F401
from .builders import __all__ as _builders
from .unet import NoiseEmbedding, unet

__all__ = [*_builders, "unet", "NoiseEmbedding"]
