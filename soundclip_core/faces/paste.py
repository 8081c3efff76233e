"""The edited face back into the photo: the aligned square warped back onto its quad and blended in through a
feathered mask, so everything outside the square is the photo's own pixels, untouched."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..errors import SoundClipError
from .align import FaceTransform

DEFAULT_FEATHER = 0.1  # of the face square's side


class FaceBox(NamedTuple):
    """The photo pixels the aligned square can reach: their places in the square `coords` [h, w, 2] (0..1 across
    it, outside it elsewhere), the box's top-left pixel (`top`, `left`) in the photo."""

    coords: torch.Tensor
    top: int
    left: int


def face_coordinates(transform: FaceTransform, device: torch.device | str = "cpu") -> FaceBox:
    """The photo pixels in the square's bounding box (clipped to the photo), with their place in the square.
    Only the box: a small face in a 48 MP photo costs its own size, not float64 grids of the whole photo."""
    quad = torch.tensor(transform.quad, dtype=torch.float64)
    origin, across, down = quad[0], quad[3] - quad[0], quad[1] - quad[0]
    width, height = transform.photo_size
    left, top = (max(0, math.floor(v)) for v in quad.min(0).values.tolist())
    right, bottom = (min(limit, math.ceil(v) + 1) for v, limit in zip(quad.max(0).values.tolist(),
                                                                        (width, height), strict=True))
    right, bottom = max(right, left), max(bottom, top)  # a square wholly off the photo: an empty box
    ys, xs = torch.meshgrid(torch.arange(top, bottom, dtype=torch.float64),
                            torch.arange(left, right, dtype=torch.float64), indexing="ij")
    offset = torch.stack([xs, ys], dim=-1) - origin
    # the quad is a square (two perpendicular sides of equal length), so each coordinate is a projection
    a = offset @ across / across.dot(across)
    b = offset @ down / down.dot(down)
    return FaceBox(torch.stack([a, b], dim=-1).float().to(device), top, left)


def paste_back(edited: torch.Tensor, transform: FaceTransform, photo: torch.Tensor,
               feather: float = DEFAULT_FEATHER) -> torch.Tensor:
    """edited [3, S, S] (any S: the generator's resolution) + its transform + the photo [3, H, W], both in
    [0, 1] -> the photo with the face replaced; pixels outside the square are the photo's exactly (only the
    square's bounding box is computed)."""
    width, height = transform.photo_size
    if tuple(photo.shape[-2:]) != (height, width):
        raise SoundClipError(f"this face was aligned from a {width}x{height} picture, not a "
                             f"{photo.shape[-1]}x{photo.shape[-2]} one",
                             fix="paste back into the photo the face was aligned from")
    if not 0 < feather <= 0.5:
        raise SoundClipError(f"feather {feather} is outside (0, 0.5]", fix="give a fraction of the face's side, "
                                                                           "e.g. 0.1")
    coords, top, left = face_coordinates(transform, photo.device)
    pasted = photo.float().clone()
    if coords.numel() == 0:
        return pasted
    face = edited.float()[None]
    side = float(torch.tensor(transform.quad[3]).sub(torch.tensor(transform.quad[0])).norm())
    if round(side) < face.shape[-1]:  # the face is smaller in the photo: downsize first, antialiased, not aliased
        face = F.interpolate(face, size=(max(round(side), 1),) * 2, mode="bicubic", antialias=True,
                             align_corners=False)
    warped = F.grid_sample(face, (coords * 2 - 1)[None], mode="bilinear", padding_mode="border",
                           align_corners=False)[0].clamp(0, 1)
    edge = torch.minimum(coords.min(dim=-1).values, (1 - coords).min(dim=-1).values)
    mask = (edge / feather).clamp(0, 1)
    box = pasted[:, top:top + coords.shape[0], left:left + coords.shape[1]]
    box.copy_(torch.where(mask > 0, box * (1 - mask) + warped * mask, box))
    return pasted
