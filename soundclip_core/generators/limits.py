"""The largest generator soundclip agrees to build, checked on a config before any tensor is allocated.

A config comes from a file (our export's JSON, a pickle's settings, tensor shapes), so its numbers
are input: one asking for a million channels would have the constructor try to allocate terabytes
before anything could say why. Every size a config holds is checked against these bounds, which
sit well above every published StyleGAN (512-1024 channels, w_dim 512, 8 mapping layers, 1024 px,
15 StyleGAN3 layers); the weights all sizes together imply are bounded too (`check_total`: each
size may be sane and their product not).
"""

from __future__ import annotations

import math

MAX_CHANNELS = 2048
MAX_RESOLUTION = 4096
MAX_WIDTH = 2048  # z_dim, w_dim, label embedding
MAX_MAPPING_LAYERS = 32
MAX_LABELS = 10_000  # c_dim (ImageNet has 1000 classes, WikiArt 167 values)
MAX_LAYERS = 32  # StyleGAN3 synthesis layers
MAX_KERNEL = 7  # conv kernel size
MAX_FACTOR = 16  # StyleGAN3 up/down-sampling factors
MAX_TAPS = 256  # FIR filter taps
MAX_WEIGHTS = 2 ** 28  # 1 GiB in float32; a 1024 px StyleGAN2 config-f has 30 million, a StyleGAN3-R 15 million


def check_count(name: str, value: object, high: int, low: int = 1) -> None:
    """ValueError unless `value` is a whole number from `low` to `high` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} is {value!r}, expected a whole number from {low} to {high}")


def check_number(name: str, value: object, positive: bool = True) -> None:
    """ValueError unless `value` is a finite real number (and > 0 if `positive`)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or (positive and value <= 0):
        raise ValueError(f"{name} is {value!r}, expected a finite{' positive' if positive else ''} number")


def check_total(weights: int) -> None:
    """ValueError if a config's sizes imply more than MAX_WEIGHTS weights."""
    if weights > MAX_WEIGHTS:
        raise ValueError(f"these sizes make {weights / 1e9:.1f} billion weights ({weights * 4 / 2 ** 30:.0f} GiB), "
                         f"more than the {MAX_WEIGHTS / 1e9:.1f} billion soundclip builds")
