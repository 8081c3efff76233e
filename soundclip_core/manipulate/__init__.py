"""Sound-guided manipulation: latent optimisation with a per-layer mask, and style mixing."""

from .layers import default_mix_layers, mask_options, parse_layer_weights, parse_layers
from .mask import MASK_MODES
from .mix import style_mix
from .optimize import CLIP_INPUTS, Result, optimize
from .presets import PRESETS
from .region import Region, composite, feathered
from .schedule import learning_rate

__all__ = ["CLIP_INPUTS", "MASK_MODES", "PRESETS", "Region", "Result", "composite", "default_mix_layers", "feathered",
           "learning_rate", "mask_options", "optimize", "parse_layer_weights", "parse_layers", "style_mix"]
