"""`locate`: where in a picture a sound (or a text, or a mix) is, as a heatmap at the picture's resolution.

Any image size: the picture is resized so its short side is `detail` CLIP inputs (S px) long, then covered by
the fewest S x S tiles along each side, spread evenly (they overlap where the side is not a multiple of S); every
tile goes through the tower at the resolution it was trained at (no positional-embedding interpolation: a ViT's
embedding is only ever used at its own grid). Each tile's cell map is upsampled bilinearly to the tile's pixels
and the tiles are averaged where they overlap, then the map is resized to the picture. A square picture at
detail 1 is one tile: one tower pass, the cost of one CLIP encoding; a 16:9 picture two.

The map holds cosines in CLIP space (`cosine`); MaskCLIP's cosines differ little between regions, so the
heatmap a person sees and the mask are made from the per-picture min-max normalised map (CLIP Surgery's
`get_similarity_map` does the same): 1 = the best matching region of this picture, 0 = the worst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..embedding import Embedding, check_same_space
from ..errors import SoundClipError
from .dense import dense_features

TILES_AT_ONCE = 16  # tiles per tower pass: bounds memory for large pictures


@dataclass
class Located:
    """cosine: [B, H, W] cosine of each pixel's region with the target; heatmap: [B, H, W] the same,
    min-max normalised per picture to [0, 1]; mask: [B, H, W] float, 1 where heatmap >= threshold."""

    cosine: torch.Tensor
    heatmap: torch.Tensor
    mask: torch.Tensor
    threshold: float


def tile_origins(length: int, size: int) -> list[int]:
    """Start offsets of the fewest size-long tiles covering `length`, spread evenly from 0 to length - size."""
    count = math.ceil(length / size)
    if count == 1:
        return [0]
    return [round(i * (length - size) / (count - 1)) for i in range(count)]


def _check(images: torch.Tensor, embedding: Embedding, clip, threshold: float, detail: int) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise SoundClipError(f"locate needs pictures [B, 3, H, W], got {tuple(images.shape)}",
                             fix="give RGB pictures (a ComfyUI IMAGE or an image file)")
    if not bool(torch.isfinite(images).all()):
        raise SoundClipError("the picture has NaN or infinite pixels", fix="re-run the step that made it")
    check_same_space([embedding], expected=clip.space)
    if {images.shape[0], embedding.batch_size} - {1, max(images.shape[0], embedding.batch_size)}:
        raise SoundClipError(f"{images.shape[0]} pictures and {embedding.batch_size} embeddings do not pair up",
                             fix="give one of each, equal numbers, or one of either")
    if not 0.0 <= threshold <= 1.0:
        raise SoundClipError(f"threshold {threshold} is outside 0..1", fix="use e.g. 0.5 (of the heatmap's range)")
    if detail < 1:
        raise SoundClipError("detail must be at least 1", fix="use 1 (one CLIP input on the short side) or more")


def cosine_map(images: torch.Tensor, embedding: Embedding, clip, detail: int = 1) -> torch.Tensor:
    """[B, 3, H, W] in [-1, 1] -> [B, H, W] cosines of each region with the (normalised) target, tiled as
    the module docstring says. `embedding` [1|B, D] pairs with the pictures as the edit pairs latents."""
    size = clip.image_size
    height, width = images.shape[-2:]
    scale = size * detail / min(height, width)
    scaled_h, scaled_w = max(size, round(height * scale)), max(size, round(width * scale))
    device = clip.device
    with torch.no_grad():
        pictures = F.interpolate(images.float().to(device), size=(scaled_h, scaled_w), mode="bilinear",
                                 antialias=True, align_corners=False)
        windows = [(top, left) for top in tile_origins(scaled_h, size) for left in tile_origins(scaled_w, size)]
        tiles = torch.stack([pictures[:, :, t:t + size, left:left + size] for t, left in windows], 1)
        batch = images.shape[0]
        flat = clip.prepare_images(tiles.flatten(0, 1))
        features = torch.cat([dense_features(clip.model.visual, flat[i:i + TILES_AT_ONCE])
                              for i in range(0, flat.shape[0], TILES_AT_ONCE)])
        target = embedding.vectors.to(device)
        target = target.expand(batch, -1) if target.shape[0] == 1 else target
        rows = features.shape[0] // batch
        target = target.repeat_interleave(rows, 0)[:, :, None, None]
        cells = F.cosine_similarity(features, target, dim=1)  # [B * tiles, h, w]
        upsampled = F.interpolate(cells[:, None], size=(size, size), mode="bilinear", align_corners=False)
        upsampled = upsampled.view(batch, rows, size, size)
        total = pictures.new_zeros(batch, scaled_h, scaled_w)
        count = pictures.new_zeros(scaled_h, scaled_w)
        for index, (top, left) in enumerate(windows):
            total[:, top:top + size, left:left + size] += upsampled[:, index]
            count[top:top + size, left:left + size] += 1
        cosine = (total / count)[:, None]
        if (scaled_h, scaled_w) != (height, width):
            cosine = F.interpolate(cosine, size=(height, width), mode="bilinear", align_corners=False)
    return cosine[:, 0].cpu()


def normalise(cosine: torch.Tensor) -> torch.Tensor:
    """Per picture min-max to [0, 1] (a flat map is all 0: no region stands out)."""
    low = cosine.flatten(1).min(1).values[:, None, None]
    high = cosine.flatten(1).max(1).values[:, None, None]
    return ((cosine - low) / (high - low).clamp(min=1e-12)).clamp(0, 1)


def locate(images: torch.Tensor, embedding: Embedding, clip, threshold: float = 0.5, detail: int = 1) -> Located:
    """Where `embedding` (a sound, text or mix in `clip`'s space) is in `images` [B, 3, H, W] in [-1, 1]:
    the cosine map, its normalised heatmap and the mask heatmap >= threshold, all [B, H, W] (see the module
    docstring). Pictures and embeddings broadcast: one sound over a batch of pictures, or one picture per sound."""
    _check(images, embedding, clip, threshold, detail)
    batch = max(images.shape[0], embedding.batch_size)
    cosine = cosine_map(images.expand(batch, -1, -1, -1), embedding, clip, detail)
    heatmap = normalise(cosine)
    return Located(cosine, heatmap, (heatmap >= threshold).float(), float(threshold))
