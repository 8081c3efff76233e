"""`GeneratorConfig`: the shape of a StyleGAN2 generator, as data.

Inferred from a checkpoint's tensor shapes (never from its file name) and stored as
JSON in our safetensors export, so any resolution and channel layout loads the same way.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field


def config_f_channels(resolution: int, channel_multiplier: int = 2) -> list[int]:
    """Channels per resolution level 4, 8, ..., resolution as in StyleGAN2 config-f (multiplier 2) / e (1)."""
    return [min(16384 * channel_multiplier // (2 ** level), 512) for level in range(2, int(math.log2(resolution)) + 1)]


LABEL_EMBEDDINGS = ("none", "concat", "embed")


@dataclass(frozen=True)
class GeneratorConfig:
    """resolution: output size (power of two >= 4); channels: one count per level 4..resolution.

    Class-conditional generators have `c_dim` > 0 label values, embedded to `embed_dim` by
    `label_embedding`: "concat" (original TF StyleGAN2 `LabelConcat`: raw weight, no bias, z and the
    embedding normalised together) or "embed" (stylegan2-ada `LabelEmbed` / `mapping.embed`: equalised
    weight with bias, normalised separately). `label_set` names a known label list ("wikiart"); empty
    means labels are plain class indices.
    """

    resolution: int = 256
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    channels: list[int] = field(default_factory=list)
    conv_clamp: float | None = None  # NVIDIA ada-trained nets clamp activations at 256
    c_dim: int = 0
    label_embedding: str = "none"
    embed_dim: int = 0
    label_set: str = ""

    def __post_init__(self) -> None:
        if self.label_embedding not in LABEL_EMBEDDINGS or (self.c_dim > 0) != (self.label_embedding != "none") \
                or (self.c_dim > 0) != (self.embed_dim > 0):
            raise ValueError(f"inconsistent label settings: c_dim {self.c_dim}, label_embedding "
                             f"{self.label_embedding!r}, embed_dim {self.embed_dim}")
        if self.resolution < 4 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {self.resolution}")
        if not self.channels:
            object.__setattr__(self, "channels", config_f_channels(self.resolution))
        if len(self.channels) != self.levels:
            raise ValueError(f"need {self.levels} channel counts for {self.resolution} px, got {len(self.channels)}")

    @property
    def levels(self) -> int:
        return int(math.log2(self.resolution)) - 1

    @property
    def num_ws(self) -> int:
        """W+ layers: one per conv plus the last ToRGB (14 at 256 px, 18 at 1024 px)."""
        return 2 * int(math.log2(self.resolution)) - 2

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GeneratorConfig:
        return cls(**json.loads(text))
