"""Edits confined to a region: a picture mask (white = may change) on the optimisation.

A latent edit moves the whole image; a mask says where it may. Outside the mask the edit is held at the
source by a loss (Blended Diffusion's background term, Avrahami et al. 2022: pixels and perceptual features):

    lam_pixels * sum((1 - a) * (x - x_s)^2) / (3 * sum(1 - a))                  (mean over the kept pixels)
  + lam_perceptual * sum_k sum((1 - a_k) * (taps_k(x) - taps_k(x_s))^2)          (LPIPS restricted to them)

a = the feathered mask: the user's mask times its Gaussian blur (sigma = `feather` px), so it is 0 wherever
the user's mask is 0 and ramps up inside the edge instead of cutting there; a_k is a area-resized to
VGG stage k. The perceptual term needs the VGG16-LPIPS network (`invert.load_perceptual`); without it the
pixels alone hold the outside. A latent cannot change pixels one by one, so the outside still moves a little;
`composite` then puts the source's own pixels back there: a * edit + (1 - a) * source (exact outside).

The mask is any size: it is centre-cropped to a square and resized to the generator's resolution (bilinear,
`picture.fit_mask`), as a photo is cropped for inversion (`picture.fit_square`'s "crop"), so a mask drawn on a
centre-cropped photo fits the edit. A photo padded to a square or a face aligned from it needs its mask fitted
the same way first (`picture.fit_mask(..., "pad")`, `faces.align_mask`). A mask with nothing white is refused:
nothing could change.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import SoundClipError
from ..picture import fit_mask

LAM_PIXELS = 10.0  # per unit of mean squared pixel difference (images in [-1, 1]) outside the mask
LAM_PERCEPTUAL = 1.0  # per unit of LPIPS outside the mask
FEATHER = 4.0  # px at the generator's resolution


def _blur(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, round(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=mask.dtype, device=mask.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(mask, (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, -1, 1))
    return F.conv2d(rows, kernel.view(1, 1, 1, -1))


def feathered(mask: torch.Tensor, resolution: int, feather: float = FEATHER, name: str = "mask") -> torch.Tensor:
    """A user's mask ([H, W], [B, H, W] or [B, 1, H, W], 0..1, white = may change) -> the weight a
    [B, 1, resolution, resolution] of the module docstring; refused when nothing may change."""
    mask = torch.as_tensor(mask).detach().float().cpu()
    mask = mask[None, None] if mask.ndim == 2 else mask[:, None] if mask.ndim == 3 else mask
    if mask.ndim != 4 or mask.shape[1] != 1 or min(mask.shape[-2:]) < 1:
        raise SoundClipError(f"the {name} must be one channel [H, W] or [B, H, W], got {tuple(mask.shape)}",
                             fix="give a greyscale mask (white = may change)")
    if not bool(torch.isfinite(mask).all()):
        raise SoundClipError(f"the {name} has NaN or infinite values", fix="re-run the step that made it")
    mask = fit_mask(mask, resolution, "crop")
    if not bool((mask.flatten(1).amax(1) > 1e-3).all()):
        raise SoundClipError(f"the {name} is all black: nothing may change, so there is nothing to edit",
                             fix="paint white where the edit may change the picture (or give no mask)")
    if feather > 0:
        mask = mask * _blur(mask, feather)
    return mask


@dataclass
class Region:
    """Where an edit may change the picture (`allowed`, the feathered mask [1|B, 1, R, R]) and how strongly
    the rest is held (weights of the module docstring; `perceptual` a VGG16LPIPS or None)."""

    allowed: torch.Tensor
    lam_pixels: float = LAM_PIXELS
    lam_perceptual: float = LAM_PERCEPTUAL
    perceptual: object | None = None

    def rows(self, part: slice, count: int, device: torch.device) -> torch.Tensor:
        """The mask rows of one chunk of an edit batch (a single mask serves every row)."""
        allowed = self.allowed if self.allowed.shape[0] == 1 else self.allowed[part]
        if allowed.shape[0] not in (1, count):
            raise SoundClipError(f"{self.allowed.shape[0]} masks for an edit of {count} rows",
                                 fix="give one mask, or one per edit")
        return allowed.to(device)

    def keep(self, source: torch.Tensor, allowed: torch.Tensor) -> Kept:
        """What the loss holds the outside to: the source images [B|1, 3, R, R] (and their VGG taps)."""
        with torch.no_grad():
            taps = self.perceptual.taps(source) if self.perceptual is not None and self.lam_perceptual else None
        return Kept(self, source, allowed, taps)


@dataclass
class Kept:
    """One chunk's source and mask, prepared once for every step."""

    region: Region
    source: torch.Tensor
    allowed: torch.Tensor
    taps: list[torch.Tensor] | None

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        """[B] the outside terms of the module docstring for `images` [B, 3, R, R]."""
        outside = 1 - self.allowed
        pixels = (outside * (images - self.source).square()).sum((1, 2, 3)) / (3 * outside.sum((1, 2, 3)) + 1e-8)
        loss = self.region.lam_pixels * pixels
        if self.taps is not None:
            for tap, reference in zip(self.region.perceptual.taps(images), self.taps, strict=True):
                weight = F.interpolate(outside, size=tap.shape[-2:], mode="area")
                loss = loss + self.region.lam_perceptual * (weight * (tap - reference).square()).sum((1, 2, 3))
        return loss


def composite(edit: torch.Tensor, source: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """The edit where the mask allows, the source elsewhere: a * edit + (1 - a) * source, on edit's device."""
    allowed = allowed.to(edit.device, edit.dtype)
    return allowed * edit + (1 - allowed) * source.to(edit.device, edit.dtype)
