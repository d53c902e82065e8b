"""Network builders (functional ``keras.Model`` s): generators, critics, VAE encoders / decoders, MLPs.

See :mod:`ambient_dcs.networks.builders` for the table of builders and their origins.
"""

from .builders import *  # noqa: F401,F403
from .builders import RESIZE_OUTPUT_BIAS, UPSAMPLINGS, __all__  # noqa: F401
