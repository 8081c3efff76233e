"""StyleGAN2: a fast pure-PyTorch generator and its format readers (loaded through `soundclip_core.generators`)."""

from .config import GeneratorConfig
from .networks import NOISE_MODES, Generator

__all__ = ["Generator", "GeneratorConfig", "NOISE_MODES"]
