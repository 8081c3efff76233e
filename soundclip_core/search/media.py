"""What a search encodes: pictures through CLIP's image tower, sounds through an audio encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..audio import load_audio
from ..datasets.media import AUDIO_EXTENSIONS
from ..picture import fit_square, load_image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SOUND_EXTENSIONS = AUDIO_EXTENSIONS


def image_vectors(clip, images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [-1, 1], any size -> unit vectors [B, D]: centre-cropped to a square as CLIP's own
    preprocessing does, then CLIP's image embedding."""
    square = fit_square(images, clip.image_size, "crop", "picture")
    return clip.encode_image(square.to(clip.device)).vectors


def embed_pictures(clip):
    """An `index.Embed` for picture files (one batch through CLIP)."""
    def embed(paths: Sequence[Path]) -> torch.Tensor:
        pictures = [fit_square(load_image(p), clip.image_size, "crop", str(p)) for p in paths]
        return clip.encode_image(torch.cat(pictures).to(clip.device)).vectors
    return embed


def embed_sounds(encoder):
    """An `index.Embed` for sound files (each its own length; long ones averaged over windows, as encode does)."""
    def embed(paths: Sequence[Path]) -> torch.Tensor:
        return encoder.encode([load_audio(p) for p in paths]).vectors
    return embed
