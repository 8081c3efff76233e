"""StyleGAN3 (configs T and R): a pure-PyTorch generator loaded from NVIDIA's pickles without running them."""

from ..architecture import Architecture
from . import nvidia
from .config import KINDS, LayerSpec, Stylegan3Config, schedule
from .networks import Stylegan3Generator

ARCHITECTURE = Architecture(kinds=KINDS, config=Stylegan3Config, generator=Stylegan3Generator,
                            recognises=nvidia.recognises, convert=nvidia.convert)

__all__ = ["ARCHITECTURE", "LayerSpec", "Stylegan3Config", "Stylegan3Generator", "schedule"]
