"""Applying a relevance to styles: StyleCLIP's `SplitS` + `MSCode`: s'_l = s_l + alpha * r_l * sigma_l.

Only the table's layers move (ToRGB and layers above its resolution get zeros in SplitS); `layers` (a W+
range spec as in Style Mix and the optimisation mask, e.g. "0-6") restricts them further to the style layers
that read those W+ entries. alpha = 0 gives the source styles back exactly.
"""

from __future__ import annotations

import torch

from ..errors import SoundClipError
from ..manipulate.layers import parse_layers
from .table import ChannelTable

MAX_ALPHA = 100.0  # |alpha| beyond this throws every moved channel 100 sigma away: an error, not an edit


def apply_relevance(generator, styles: list[torch.Tensor], table: ChannelTable, r: torch.Tensor, alpha: float,
                    layers: str | None = None) -> list[torch.Tensor]:
    """Edited styles (a new list; untouched layers are the same tensors). r: [1 or B, channels] from
    `relevance`; styles: one [B, channels] tensor per style layer of `generator`."""
    styles = generator.check_styles(styles)
    if not abs(float(alpha)) <= MAX_ALPHA:
        raise SoundClipError(f"alpha {alpha:g} is outside -{MAX_ALPHA:g}..{MAX_ALPHA:g}",
                             fix="use alpha between -10 and 10 (StyleCLIP's range)")
    if r.ndim != 2 or r.shape[1] != table.layout.total:
        raise SoundClipError(f"the relevance has shape {tuple(r.shape)}, the table {table.layout.total} channels",
                             fix="make the relevance with this table")
    allowed = None if layers is None else set(parse_layers(layers, generator.num_ws))
    style_layers = generator.style_layers
    out = list(styles)
    for li, piece in zip(table.layout.layers, table.layout.split(r.t()), strict=True):
        if allowed is not None and style_layers[li].w_index not in allowed:
            continue
        s = styles[li]
        shift = piece.t().to(s.device, s.dtype) * table.stats.std[li].to(s.device, s.dtype)
        out[li] = s + float(alpha) * shift
    return out
