"""Applying a relevance to styles: StyleCLIP's `SplitS` + `MSCode`: s'_l = s_l + alpha * r_l * sigma_l.

Only the table's layers move (ToRGB and layers above its resolution get zeros in SplitS); `layers` (a W+
range spec as in Style Mix and the optimisation mask, e.g. "0-6") restricts them further to the style layers
that read those W+ entries. alpha = 0 gives the source styles back exactly.

alpha is meant for -10..10 (StyleCLIP's slider); beyond +-MAX_ALPHA every moved channel would be thrown more
than 100 sigma off its mean, which is noise, not an edit: such an alpha is clamped to +-MAX_ALPHA with an
`AlphaClamped` warning (a NaN alpha is an error).
"""

from __future__ import annotations

import math
import warnings

import torch

from ..errors import SoundClipError
from ..manipulate.layers import parse_layers
from .table import ChannelTable

MAX_ALPHA = 100.0  # |alpha| beyond this throws every moved channel 100 sigma away: clamped, with a warning


class AlphaClamped(UserWarning):
    """alpha was outside -MAX_ALPHA..MAX_ALPHA and was clamped (the nodes log it)."""


def clamp_alpha(alpha: float) -> float:
    """alpha within -MAX_ALPHA..MAX_ALPHA (warning `AlphaClamped` when it was not); NaN is refused."""
    alpha = float(alpha)
    if math.isnan(alpha):
        raise SoundClipError("alpha is NaN", fix="use alpha between -10 and 10 (StyleCLIP's range)")
    if abs(alpha) > MAX_ALPHA:
        clamped = math.copysign(MAX_ALPHA, alpha)
        warnings.warn(f"alpha {alpha:g} is outside -{MAX_ALPHA:g}..{MAX_ALPHA:g}: clamped to {clamped:g} "
                      "(StyleCLIP's range is -10..10)", AlphaClamped, stacklevel=3)
        alpha = clamped
    return alpha


def apply_relevance(generator, styles: list[torch.Tensor], table: ChannelTable, r: torch.Tensor, alpha: float,
                    layers: str | None = None) -> list[torch.Tensor]:
    """Edited styles (a new list; untouched layers are the same tensors). r: [1 or B, channels] from
    `relevance`; styles: one [B, channels] tensor per style layer of `generator`; `table`: anything with the
    table's `layout` and `stats` (a `ChannelTable` or a `Direction`).

    R rows of r on one image (a batch of sounds editing one picture) give R edited images: every style layer,
    moved or not, is expanded to R, so the batch stays one batch. R rows on B > 1 images other than R is
    refused (which row edits which image is not known)."""
    styles = generator.check_styles(styles)
    alpha = clamp_alpha(alpha)
    if r.ndim != 2 or r.shape[1] != table.layout.total:
        raise SoundClipError(f"the relevance has shape {tuple(r.shape)}, the table {table.layout.total} channels",
                             fix="make the relevance with this table")
    rows, batch = r.shape[0], styles[0].shape[0]
    if rows != 1 and rows != batch:
        if batch != 1:
            raise SoundClipError(f"the direction has {rows} target rows, the latent {batch} images",
                                 fix="give one target per image, one target for all images, or a single image "
                                     "for several targets")
        styles = [s.expand(rows, -1).contiguous() for s in styles]
    allowed = None if not (layers or "").strip() else set(parse_layers(layers, generator.num_ws))
    style_layers = generator.style_layers
    out = list(styles)
    kept = []  # the pieces of r in the allowed layers
    for li, piece in zip(table.layout.layers, table.layout.split(r.t()), strict=True):
        if allowed is not None and style_layers[li].w_index not in allowed:
            continue
        s = styles[li]
        shift = piece.t().to(s.device, s.dtype) * table.stats.std[li].to(s.device, s.dtype)
        out[li] = s + alpha * shift
        kept.append(piece)
    # a range that keeps none of the direction's channels is a mistake worth saying (one check, after the loop:
    # no host sync per layer); an all-zero r (alpha 0 folded in, as the instant video does) is not
    if allowed is not None and bool((r != 0).any()) and not (kept and bool(torch.cat(kept).ne(0).any())):
        raise SoundClipError(f"no channel of the layers '{layers}' moves at this beta (the channels it keeps lie "
                             "in other layers)", fix="widen the layer range, or lower beta")
    return out
