"""StyleGAN3 (configs T and R): a pure-PyTorch generator loaded from NVIDIA's pickles without running them."""

from .config import LayerSpec, Stylegan3Config, schedule
from .networks import Stylegan3Generator

__all__ = ["LayerSpec", "Stylegan3Config", "Stylegan3Generator", "schedule"]
