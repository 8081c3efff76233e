"""A user's picture in: whatever file they have, turned into the generator's square input (for inversion,
and for the frames a training set pairs with its sounds).

Any file PIL reads (8/16-bit, greyscale, palette, CMYK, with alpha, rotated by EXIF) becomes RGB
in [-1, 1]; transparency is composited onto white. The picture is then centre-cropped (or
padded with its edge pixels) to a square and resized to the generator's resolution: antialiased
bicubic, so downsizing averages like a proper image resize instead of aliasing.
Huge files are refused from their header, before any pixel is decoded.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import SoundClipError

MAX_PIXELS = 64 * 1024 * 1024  # 8192 x 8192
MIN_SIDE = 8
FITS = ("crop", "pad")


class ImageInputError(SoundClipError):
    """An image to invert cannot be read or is unusable."""


def _to_rgb_array(picture: Image.Image, path: Path) -> np.ndarray:
    """Any PIL mode -> float32 [H, W, 3] in [0, 1]. Float pictures (32-bit TIFF) are taken as [0, 1]
    when they fit it, as most tools write them; NaN or infinite pixels are refused, not clipped."""
    if picture.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16/32-bit greyscale
        values = np.asarray(picture, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ImageInputError("the image has NaN or infinite pixels (a damaged floating-point picture)",
                                  path=path, fix="re-export it as an 8- or 16-bit PNG or TIFF")
        top = float(values.max())
        peak = (1.0 if picture.mode == "F" and top <= 1.0 else
                65535.0 if picture.mode.startswith("I;16") or top > 255 else 255.0)
        grey = np.clip(values / peak, 0, 1)
        return np.repeat(grey[..., None], 3, axis=-1)
    if picture.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba)
    return np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file -> [1, 3, H, W] in [-1, 1] (see the module docstring)."""
    return _load(path, _to_rgb_array)[None] * 2 - 1


def load_mask(path: str | os.PathLike) -> torch.Tensor:
    """A mask file -> [1, H, W] in [0, 1]: its brightness (white = 1), any mode; transparency reads as white
    (as any picture here), so paint masks opaque."""
    return _load(path, lambda picture, where: _to_rgb_array(picture, where).mean(-1, keepdims=True))


def _load(path: str | os.PathLike, convert) -> torch.Tensor:
    """A picture file, checked as the module docstring says, through `convert` -> [C, H, W] float."""
    path = Path(path)
    if not path.is_file():
        raise ImageInputError("image not found", path=path, fix="check the path")
    if path.stat().st_size == 0:
        raise ImageInputError("the image file is empty (0 bytes)", path=path, fix="use a real picture")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as picture:  # reads the header only
                width, height = picture.size
                if width * height > MAX_PIXELS:
                    raise ImageInputError(f"the image is {width}x{height} pixels, more than this accepts "
                                          f"({MAX_PIXELS // 2**20} megapixels)", path=path,
                                          fix="downsize it first (the generator only needs its own resolution)")
                if min(width, height) < MIN_SIDE:
                    raise ImageInputError(f"the image is only {width}x{height} pixels", path=path,
                                          fix=f"use a picture of at least {MIN_SIDE} px a side")
                picture.load()
                array = convert(ImageOps.exif_transpose(picture), path)
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageInputError(f"the image is too large to decode safely ({error})", path=path,
                              fix="downsize it first (the generator only needs its own resolution)") from error
    except UnidentifiedImageError as error:
        raise ImageInputError(f"not a readable image ({type(error).__name__})", path=path,
                              fix="use a PNG, JPEG, WebP, TIFF or BMP picture") from error
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageInputError(f"the image is corrupt or truncated ({str(error)[:120]})", path=path,
                              fix="re-export or re-download the picture") from error
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def fit_square(images: torch.Tensor, resolution: int, fit: str = "crop", name: str = "image") -> torch.Tensor:
    """[B, 3, H, W] in [-1, 1] of any size -> [B, 3, resolution, resolution]: centre crop (or edge pad)
    to a square, then an antialiased bicubic resize. `name` names the input in errors."""
    if fit not in FITS:
        raise SoundClipError(f"unknown fit '{fit}'", fix=f"use one of {', '.join(FITS)}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ImageInputError(f"{name} must be [B, 3, H, W], got {tuple(images.shape)}",
                              fix="give RGB pictures (a ComfyUI IMAGE, or an image file); drop any alpha channel first")
    h, w = images.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ImageInputError(f"{name} is only {w}x{h} pixels", fix=f"use a picture of at least {MIN_SIDE} px a side")
    if not bool(torch.isfinite(images).all()):
        raise ImageInputError(f"{name} has NaN or infinite pixels",
                              fix="load the picture from its file, or re-run the step that made it")
    images = _to_square(images.float(), fit)
    if images.shape[-1] != resolution:
        images = F.interpolate(images, size=(resolution, resolution), mode="bicubic", antialias=True,
                               align_corners=False)
    return images.clamp(-1, 1).contiguous()


def fit_mask(mask: torch.Tensor, resolution: int, fit: str = "crop") -> torch.Tensor:
    """A mask drawn on a picture, [B, 1, H, W] in [0, 1] -> [B, 1, resolution, resolution], made square exactly as
    `fit_square` makes the picture (the same crop, or the same edge pad), so it still covers what it covered;
    bilinear (antialiased when shrinking) keeps it within [0, 1]."""
    if fit not in FITS:
        raise SoundClipError(f"unknown fit '{fit}'", fix=f"use one of {', '.join(FITS)}")
    mask = _to_square(mask.float(), fit)
    if mask.shape[-1] != resolution:
        mask = F.interpolate(mask, size=(resolution, resolution), mode="bilinear", align_corners=False,
                             antialias=mask.shape[-1] > resolution)
    return mask.clamp(0, 1)


def _to_square(images: torch.Tensor, fit: str) -> torch.Tensor:
    """[B, C, H, W] -> the centred square of side min(H, W) ("crop"), or of side max(H, W) with the edge
    pixels repeated outward ("pad")."""
    h, w = images.shape[-2:]
    if fit == "crop":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        return images[:, :, top:top + side, left:left + side]
    if h == w:
        return images
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    return F.pad(images, (left, side - w - left, top, side - h - top), mode="replicate")
