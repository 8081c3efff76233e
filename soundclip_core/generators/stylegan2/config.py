"""`GeneratorConfig`: the shape of a StyleGAN2 generator, as data.

Inferred from a checkpoint's tensor shapes (never from its file name) and stored as
JSON in our safetensors export, so any resolution and channel layout loads the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..limits import MAX_CHANNELS, MAX_RESOLUTION, check_count, check_number, check_total
from ..mapping import MappingConfig


def config_f_channels(resolution: int, channel_multiplier: int = 2) -> list[int]:
    """Channels per resolution level 4, 8, ..., resolution as in StyleGAN2 config-f (multiplier 2) / e (1)."""
    return [min(16384 * channel_multiplier // (2 ** level), 512) for level in range(2, int(math.log2(resolution)) + 1)]


@dataclass(frozen=True)
class GeneratorConfig(MappingConfig):
    """resolution: output size (power of two >= 4); channels: one count per level 4..resolution; the
    mapping network's settings (and labels) are `MappingConfig`'s."""

    resolution: int = 256
    channels: list[int] = field(default_factory=list)
    conv_clamp: float | None = None  # NVIDIA ada-trained nets clamp activations at 256

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count("resolution", self.resolution, MAX_RESOLUTION, low=4)
        if self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {self.resolution}")
        if not self.channels:
            object.__setattr__(self, "channels", config_f_channels(self.resolution))
        if not isinstance(self.channels, list | tuple) or len(self.channels) != self.levels:
            raise ValueError(f"need {self.levels} channel counts for {self.resolution} px, got {self.channels!r}"[:200])
        for count in self.channels:
            check_count("a channel count", count, MAX_CHANNELS)
        if self.conv_clamp is not None:
            check_number("conv_clamp", self.conv_clamp)
        c = self.channels  # the 3x3 convs: 4x4, then an up-sampling and a plain one per level
        convs = c[0] ** 2 + sum(c[i - 1] * c[i] + c[i] ** 2 for i in range(1, len(c)))
        check_total(self.mapping_weights() + 9 * convs)

    @property
    def levels(self) -> int:
        return int(math.log2(self.resolution)) - 1

    @property
    def num_ws(self) -> int:
        """W+ layers: one per conv plus the last ToRGB (14 at 256 px, 18 at 1024 px)."""
        return 2 * int(math.log2(self.resolution)) - 2
