"""W+ latents on disk (.safetensors with metadata), so runs can be continued and mixed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .atomic import atomic_path
from .errors import SoundClipError


def save_latent(path: str | os.PathLike, ws: torch.Tensor, meta: dict | None = None) -> Path:
    """ws [B, num_ws, w_dim] -> path (atomic); meta (JSON-serialisable) goes in the header."""
    with atomic_path(path) as tmp:
        save_file({"ws": ws.detach().float().cpu().contiguous()}, str(tmp),
                  metadata={"format": "soundclip-wplus", "meta": json.dumps(meta or {})})
    return Path(path)


def load_latent(path: str | os.PathLike) -> tuple[torch.Tensor, dict]:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            ws = f.get_tensor("ws")
    except Exception as error:
        raise SoundClipError(f"not a soundclip latent file ({str(error)[:200]})", path=path,
                             fix="use a .safetensors latent written by `soundclip manipulate` or `soundclip mix`",
                             ) from error
    if header.get("format") != "soundclip-wplus" or ws.ndim != 3 or not bool(torch.isfinite(ws).all()):
        raise SoundClipError("not a valid W+ latent ([B, num_ws, w_dim], finite)", path=path)
    return ws, json.loads(header.get("meta", "{}"))
