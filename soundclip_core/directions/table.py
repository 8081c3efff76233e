"""`ChannelTable`: for one generator and one CLIP space, a unit CLIP image-embedding direction per StyleSpace
channel (StyleCLIP's `fs3`), with what it was made from, and the two ways of computing it.

- "finite" (`finite.py`): StyleCLIP's recipe, two renders per channel per image;
- "gradient" (`gradient.py`): from the CLIP embedding's Jacobian w.r.t. the styles, clip_dim backward passes
  per image.
Both work in chunks and report a `Partial` after each, from which `compute_table` resumes (`files.py` keeps it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import Cancelled, SoundClipError
from .layout import ChannelLayout
from .statistics import StyleStats

METHODS = ("finite", "gradient")
STRENGTH = 5.0  # StyleCLIP: the channel at its mean +- 5 sigma
IMAGES = 100  # StyleCLIP: averaged over the first 100 sample images


@dataclass
class ChannelTable:
    """rows [layout.total, clip_dim] float32 CPU, unit rows (a channel that never moves the image: zero).
    `stats` are the generator's channel statistics (every style layer), needed to apply a direction."""

    rows: torch.Tensor
    layout: ChannelLayout
    space: str
    method: str
    generator: str
    stats: StyleStats
    images: int
    strength: float
    clip_input: str = "area"  # how the renders were fitted to CLIP's input (`clip.prepare_images` mode)

    @property
    def clip_dim(self) -> int:
        return int(self.rows.shape[1])


@dataclass
class Partial:
    """A table under way: `rows` and how much of the work is `done` (finite: rows finished, in order;
    gradient: images whose per-channel directions are summed into `rows`)."""

    rows: torch.Tensor
    done: int


Progress = Callable[[int, int], None]


def check_cancel(should_cancel: Callable[[], bool] | None) -> None:
    if should_cancel is not None and should_cancel():
        raise Cancelled("the StyleSpace table was cancelled (what was finished is kept for a resume)")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise SoundClipError(f"unknown table method '{method}'", fix=f"use one of {', '.join(METHODS)}")
    return method


def clip_features(clip, images: torch.Tensor, clip_input: str = "area") -> torch.Tensor:
    """Unnormalised CLIP image features [B, D] of generator images in [-1, 1]."""
    return clip.image_features(clip.prepare_images(images, mode=clip_input))
