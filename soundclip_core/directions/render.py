"""Decoding StyleSpace styles, a few images at a time, and keeping them on disk beside an edit's image.

`decode_styles` is `noise_maps.decode` for styles: no gradients, `batch_size` images at once, so a large
batch costs no more memory than a few. A styles file is safetensors ("style.{i}" [B, channels] per style
layer, metadata "format" and a JSON "meta"), written atomically; reading it back checks it against the
generator's style layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_path
from ..errors import CheckpointError

FORMAT = "soundclip-stylespace-styles"


def decode_styles(generator, styles: Sequence[torch.Tensor], noise: Sequence[torch.Tensor] | None = None,
                  noise_mode: str = "const", batch_size: int = 4) -> torch.Tensor:
    """Images [B, 3, H, W] of styles (one [B, channels] tensor per style layer); per-sample noise maps [B, ...]
    follow their rows, shared [1, ...] ones serve every row."""
    styles = generator.check_styles(styles)
    device = generator.w_avg.device
    count = styles[0].shape[0]
    images = []
    with torch.no_grad():
        for first in range(0, count, batch_size):
            rows = slice(first, first + batch_size)
            maps = None if not noise else [(n if n.shape[0] == 1 else n[rows]).to(device) for n in noise]
            images.append(generator.synthesis_from_styles([s[rows].to(device) for s in styles], noise_mode, maps))
    return torch.cat(images)


def save_styles(path: str | os.PathLike, styles: Sequence[torch.Tensor], meta: dict | None = None) -> Path:
    """styles -> path (atomic); `meta` (JSON-serialisable) goes in the header."""
    tensors = {f"style.{i}": s.detach().float().cpu().contiguous() for i, s in enumerate(styles)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "meta": json.dumps(meta or {})})
    return Path(path)


def read_styles(path: str | os.PathLike, generator=None) -> tuple[list[torch.Tensor], dict]:
    """(styles, meta) from a styles file, checked against `generator`'s style layout when given."""
    path = Path(path)
    fix = "give a styles file written by `soundclip manipulate --instant`"
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            styles = [f.get_tensor(f"style.{i}") for i in range(len(f.keys()))]
    except Exception as error:  # safetensors reports a missing, short or garbled file in its own words
        raise CheckpointError(f"not a readable styles file ({str(error)[:120]})", path=path, fix=fix) from error
    if metadata.get("format") != FORMAT:
        raise CheckpointError("this safetensors file holds no StyleSpace styles", path=path, fix=fix)
    if generator is not None:
        styles = generator.check_styles(styles, f"the styles in {path}")
    return styles, json.loads(metadata.get("meta", "{}"))
