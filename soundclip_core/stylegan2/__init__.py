"""StyleGAN2: a fast pure-PyTorch generator and safe loaders for the checkpoints people download."""

from .checkpoint import load_generator, save_generator
from .config import GeneratorConfig
from .networks import NOISE_MODES, Generator

__all__ = ["Generator", "GeneratorConfig", "NOISE_MODES", "load_generator", "save_generator"]
