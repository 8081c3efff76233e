"""Conversions between generator images and ComfyUI IMAGE tensors / PIL files.

Generators produce float [B, 3, H, W] in about [-1, 1]; ComfyUI's IMAGE type is
float [B, H, W, C] in [0, 1] on the CPU. Keeping both conversions here means every
node and the CLI agree on rounding and clamping.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .atomic import atomic_path
from .errors import SoundClipError


def to_comfy_image(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [-1, 1] -> ComfyUI IMAGE [B, H, W, 3] in [0, 1], float32 on CPU."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images [B, 3, H, W], got {tuple(images.shape)}")
    return ((images.detach().float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).contiguous().cpu()


def from_comfy_image(image: torch.Tensor) -> torch.Tensor:
    """ComfyUI IMAGE [B, H, W, C] in [0, 1] -> [B, 3, H, W] in [-1, 1] (alpha dropped)."""
    if image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise ValueError(f"expected a ComfyUI IMAGE [B, H, W, 3|4], got {tuple(image.shape)}")
    return image[..., :3].permute(0, 3, 1, 2).float() * 2 - 1


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """[B, 3, H, W] in [-1, 1] -> list of 8-bit RGB PIL images."""
    arrays = (to_comfy_image(images).numpy() * 255).round().astype(np.uint8)
    return [Image.fromarray(a) for a in arrays]


def grid(images: torch.Tensor, columns: int | None = None) -> torch.Tensor:
    """Tile [B, 3, H, W] into one [1, 3, rows*H, columns*W] image (for previews and batches)."""
    b, c, h, w = images.shape
    columns = columns or b
    rows = -(-b // columns)
    canvas = images.new_full((c, rows * h, columns * w), -1.0)
    for i in range(b):
        r, col = divmod(i, columns)
        canvas[:, r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
    return canvas[None]


# the formats an output image may be, by suffix (Pillow's writers); only a PNG carries text (an embedded latent)
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
LOSSY_QUALITY = 95  # JPEG and WebP: Pillow's default 75 shows blocks in GAN detail


def save_png(images: torch.Tensor, path: str | os.PathLike, text: dict[str, str] | None = None) -> Path:
    """Save a batch as one PNG (tiled when B > 1), written atomically; `text` goes into tEXt chunks."""
    return _save(images, path, "PNG", text)


def save_image(images: torch.Tensor, path: str | os.PathLike, text: dict[str, str] | None = None) -> Path:
    """Save a batch as one image in the format its suffix names (IMAGE_FORMATS), atomically; `text` is kept
    only in a PNG (JPEG and WebP have no place for it)."""
    image_format = IMAGE_FORMATS.get(Path(path).suffix.lower())
    if image_format is None:
        raise SoundClipError(f"cannot write a '{Path(path).suffix}' image", path=path,
                             fix=f"name the image with one of {', '.join(IMAGE_FORMATS)}")
    return _save(images, path, image_format, text)


def _save(images: torch.Tensor, path: str | os.PathLike, image_format: str, text: dict[str, str] | None) -> Path:
    picture = to_pil(grid(images) if images.shape[0] > 1 else images)[0]
    if image_format == "PNG":
        info = PngInfo()
        for key, value in (text or {}).items():
            info.add_text(key, value)
        options = {"pnginfo": info}
    else:
        options = {"quality": LOSSY_QUALITY}
    with atomic_path(path) as tmp:
        picture.save(tmp, format=image_format, **options)
    return Path(path)


def save_mask(masks: torch.Tensor, path: str | os.PathLike) -> Path:
    """Masks [B, H, W] in [0, 1] -> one 8-bit greyscale PNG (white = 1; tiled side by side when B > 1),
    written atomically."""
    if Path(path).suffix.lower() != ".png":
        raise SoundClipError("a mask is written as a PNG", path=path, fix="name the mask e.g. mask.png")
    tiled = torch.cat(list(masks.detach().float().cpu()), dim=-1)
    picture = Image.fromarray((tiled.clamp(0, 1).numpy() * 255).round().astype(np.uint8), mode="L")
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
    return Path(path)
