"""StyleGAN2: a fast pure-PyTorch generator and its format readers (loaded through `soundclip_core.generators`)."""

from ..architecture import Architecture
from . import nvidia
from .config import GeneratorConfig
from .networks import Generator

ARCHITECTURE = Architecture(kinds=("stylegan2",), config=GeneratorConfig, generator=Generator,
                            recognises=nvidia.recognises, convert=nvidia.convert)

__all__ = ["ARCHITECTURE", "Generator", "GeneratorConfig"]
