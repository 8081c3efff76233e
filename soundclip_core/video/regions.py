"""Each keyframe's edit confined to where its sound is: the mask follows each window's localisation (issue 27).

With a located region, every keyframe's optimisation gets a mask (manipulate/region.py: outside it the loss
holds the source image), found on the source image by `locate` (MaskCLIP's dense CLIP map,
soundclip_core.locate):

- by a fixed text (`text="the sky"`): one region, where the text is in the source image, for every keyframe;
- by sound (`by_sound=True`): each keyframe its own region, where that window's sound embedding is in the source
  image, so a song whose rain turns to birdsong moves the edit from the sky to the trees.

A mask is the heatmap at `threshold` (of that map's own range: 1 is its best matching region), feathered by
`feather` px. All windows still go through one batched optimisation: the region holds one mask row per keyframe,
and each chunk takes its rows (Region.rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..embedding import Embedding
from ..errors import SoundClipError
from ..locate import locate
from ..manipulate import Region, feathered
from ..manipulate.region import FEATHER, LAM_PIXELS
from ..noise_maps import decode

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class LocatedRegion:
    """Where each keyframe may change (module doc): `text` or `by_sound`; `lam_pixels`, `perceptual` (a VGG16LPIPS
    or None: pixels only): how the outside is held (region.py)."""

    text: str = ""
    by_sound: bool = False
    threshold: float = DEFAULT_THRESHOLD
    feather: float = FEATHER
    lam_pixels: float = LAM_PIXELS
    perceptual: object | None = field(default=None, compare=False, repr=False)

    def check(self) -> bool:
        """Refuse bad settings before any work; whether a region is asked for at all."""
        if self.text.strip() and self.by_sound:
            raise SoundClipError("the region is asked to follow both a text and each window's sound",
                                 fix="locate it by a fixed text (--region) or by each window's sound (--region-audio)")
        if not (isinstance(self.threshold, (int, float)) and 0.0 <= self.threshold <= 1.0):
            raise SoundClipError(f"the region threshold {self.threshold} is outside 0..1",
                                 fix="use e.g. 0.5 (of each heatmap's range)")
        if not (math.isfinite(self.feather) and self.feather >= 0 and math.isfinite(self.lam_pixels)
                and self.lam_pixels > 0):
            raise SoundClipError(f"feather ({self.feather} px) must be 0 or more and lam_pixels "
                                 f"({self.lam_pixels}) more than 0", fix=f"use e.g. feather {FEATHER:g}")
        return bool(self.text.strip() or self.by_sound)

    @property
    def label(self) -> str:
        """How the region was found, for the keyframes' settings."""
        return f"text: {self.text.strip()}" if self.text.strip() else "each window's sound"


def window_regions(located: LocatedRegion, generator, clip, w_source: torch.Tensor, sounds: Embedding,
                   noise: list[torch.Tensor] | None = None) -> tuple[Region, torch.Tensor]:
    """(the Region for a batched keyframe edit from `w_source` [1, num_ws, w_dim], the hard masks [K|1, R, R]):
    one mask per window of `sounds` [K, D] located by its sound, or one for all by the text."""
    located.check()
    image = decode(generator, w_source, noise)  # [1, 3, R, R] in [-1, 1]: what the edit starts from
    target = clip.encode_text([located.text.strip()]) if located.text.strip() else sounds
    masks = locate(image, target, clip, located.threshold).mask
    names = [f"region located for '{located.text.strip()}'"] if located.text.strip() else \
        [f"region located for window {index + 1}" for index in range(masks.shape[0])]
    allowed = torch.cat([feathered(mask, generator.resolution, located.feather, name)
                         for mask, name in zip(masks, names, strict=True)])
    return Region(allowed.to(w_source.device), lam_pixels=located.lam_pixels,
                  perceptual=located.perceptual), masks
