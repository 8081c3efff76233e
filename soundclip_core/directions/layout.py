"""Which StyleSpace channels a table covers, and the flat channel index <-> (layer, channel) bookkeeping.

StyleCLIP's table covers the conv layers at or below 128 px and never ToRGB ([SC] SingleChannel.py:88-90);
StyleGAN3's input style (4 transform parameters) is not a channel that modulates a conv and is left out too.
Rows follow the generator's `style_layers` order, channels in order within a layer (a conv's input index).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch

from ..errors import SoundClipError

MAX_RESOLUTION = 128  # StyleCLIP: layers up to 128 px


@dataclass(frozen=True)
class ChannelLayout:
    """The table's layers (indices into `generator.style_layers`), their names and channel counts."""

    layers: tuple[int, ...]
    names: tuple[str, ...]
    channels: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.channels)

    @property
    def offsets(self) -> list[int]:
        """First flat row of each layer (and the total at the end)."""
        out = [0]
        for c in self.channels:
            out.append(out[-1] + c)
        return out

    def locate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(style-layer index, channel) of every flat row: two long tensors [total]."""
        layer = torch.cat([torch.full((c,), li, dtype=torch.long) for li, c in zip(self.layers, self.channels,
                                                                                     strict=True)])
        channel = torch.cat([torch.arange(c) for c in self.channels])
        return layer, channel

    def split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """A [total, ...] tensor -> one [channels_l, ...] piece per table layer."""
        return list(flat.split(list(self.channels)))

    def to_json(self) -> str:
        return json.dumps([[i, n, c] for i, n, c in zip(self.layers, self.names, self.channels, strict=True)])

    @classmethod
    def from_json(cls, text: str) -> ChannelLayout:
        items = json.loads(text)
        return cls(tuple(int(i) for i, _, _ in items), tuple(str(n) for _, n, _ in items),
                   tuple(int(c) for _, _, c in items))


def table_layout(generator, max_resolution: int | None = MAX_RESOLUTION, include_torgb: bool = False) -> ChannelLayout:
    """The conv style layers of `generator` at or below `max_resolution` px (None: all), ToRGB only if asked."""
    chosen = [(i, la) for i, la in enumerate(generator.style_layers)
              if (la.kind == "conv" or (include_torgb and la.is_torgb))
              and (max_resolution is None or la.resolution <= max_resolution)]
    if not chosen:
        raise SoundClipError(f"{generator.source} has no style layers at or below {max_resolution} px",
                             fix="raise max_resolution, or pass None for every layer")
    return ChannelLayout(tuple(i for i, _ in chosen), tuple(la.name for _, la in chosen),
                         tuple(la.channels for _, la in chosen))
