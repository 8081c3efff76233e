"""W+ latents on disk (.safetensors with metadata, or inside a PNG), so runs can be continued and mixed.

A latent may carry per-layer noise maps (an inversion that optimised them): they are stored with
it as `noise_{k}` tensors and come back with `read_latent`. The same safetensors payload, base64
encoded, sits in a PNG text chunk (`soundclip-latent`), so a picture can be re-opened and edited on.
Files written before noise maps existed load unchanged.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from .atomic import atomic_path
from .errors import SoundClipError

FORMAT = "soundclip-wplus"
PNG_KEY = "soundclip-latent"
PNG_CHUNK = 512 * 1024
MAX_PNG_PAYLOAD = 48 * 1024 * 1024  # PIL reads at most 64 MiB of text chunks
FIX_PNG_CHANGED = ("use the PNG as soundclip saved it: an editor or upload that re-saved it changed its "
                   "text chunks")


@dataclass
class Latent:
    """ws [B, num_ws, w_dim]; noise: per-layer maps [B|1, 1, H_k, W_k] or None (the generator's const noise)."""

    ws: torch.Tensor
    noise: list[torch.Tensor] | None = None
    meta: dict = field(default_factory=dict)


def latent_bytes(ws: torch.Tensor, meta: dict | None = None, noise: list[torch.Tensor] | None = None) -> bytes:
    """The safetensors payload of a latent (the .safetensors file's content and the PNG chunk's)."""
    tensors = {"ws": ws.detach().float().cpu().contiguous()}
    for k, n in enumerate(noise or []):
        tensors[f"noise_{k}"] = n.detach().float().cpu().contiguous()
    return save_bytes(tensors, metadata={"format": FORMAT, "meta": json.dumps(meta or {})})


def save_latent(path: str | os.PathLike, ws: torch.Tensor, meta: dict | None = None,
                noise: list[torch.Tensor] | None = None) -> Path:
    """ws [B, num_ws, w_dim] (+ noise maps) -> path (atomic); meta (JSON-serialisable) goes in the header."""
    payload = latent_bytes(ws, meta, noise)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def _parse(payload: bytes, source: Path) -> Latent:
    try:
        (length,) = struct.unpack("<Q", payload[:8])
        header = json.loads(payload[8:8 + length]).get("__metadata__") or {}
        tensors = load_bytes(payload)
    except Exception as error:
        raise SoundClipError(f"not a soundclip latent ({str(error)[:200]})", path=source,
                             fix="use a latent written by soundclip (manipulate, invert or mix)") from error
    if header.get("format") != FORMAT or "ws" not in tensors:
        raise SoundClipError("not a soundclip latent (no W+ `ws` tensor)", path=source,
                             fix="use a latent written by soundclip (manipulate, invert or mix)")
    count = sum(1 for k in tensors if k.startswith("noise_"))
    noise = [_checked(tensors.get(f"noise_{k}"), f"noise_{k}", 4, source) for k in range(count)]
    return Latent(_checked(tensors["ws"], "ws", 3, source), noise or None, json.loads(header.get("meta", "{}")))


def _checked(tensor: torch.Tensor | None, name: str, ndim: int, source: Path) -> torch.Tensor:
    """A latent tensor as float32. Any float precision is widened; integers are refused, not converted:
    a W+ vector rounded to integers is a different (and wrong) image, and no soundclip writer makes one."""
    if tensor is None or tensor.ndim != ndim:
        shape = "missing" if tensor is None else f"of shape {tuple(tensor.shape)}"
        raise SoundClipError(f"not a valid W+ latent: `{name}` is {shape}, expected {ndim} dimensions", path=source,
                             fix="use a latent written by soundclip (manipulate, invert or mix)")
    if not tensor.is_floating_point():
        raise SoundClipError(f"not a valid W+ latent: `{name}` holds {str(tensor.dtype).removeprefix('torch.')} "
                             "numbers; a latent is floating point", path=source,
                             fix="save the latent from float values (soundclip writes float32)")
    if not bool(torch.isfinite(tensor).all()):
        raise SoundClipError(f"not a valid W+ latent: `{name}` has NaN or infinite values (must be finite)",
                             path=source, fix="use a latent from a run that did not diverge")
    return tensor.float()


def read_latent(path: str | os.PathLike) -> Latent:
    """A latent (with its noise maps, if any) from a .safetensors file or a PNG written with one."""
    path = Path(path)
    if not path.is_file():
        raise SoundClipError("latent file not found", path=path, fix="check the path")
    with open(path, "rb") as f:
        is_png = f.read(8) == b"\x89PNG\r\n\x1a\n"
    if not is_png:
        return _parse(path.read_bytes(), path)
    try:
        with Image.open(path) as picture:
            chunks = picture.text  # reads the text chunks, not the pixels
            text = chunks.get(PNG_KEY)
            if text is not None:
                text += "".join(chunks[f"{PNG_KEY}.{i}"] for i in range(1, int(chunks.get(f"{PNG_KEY}.parts", 1))))
    except KeyError as error:
        raise SoundClipError(f"the PNG's latent is incomplete (chunk {error} missing)", path=path,
                             fix=FIX_PNG_CHANGED) from error
    except Exception as error:
        raise SoundClipError(f"unreadable PNG ({str(error)[:200]})", path=path,
                             fix="copy or download the PNG again (it is damaged)") from error
    if text is None:
        raise SoundClipError("this PNG carries no soundclip latent", path=path,
                             fix="use a PNG saved by `soundclip invert`/`manipulate` or the Save Image with Latent "
                                 "node; to edit any other picture, invert it first (`soundclip invert` / --image)")
    if len(text) > MAX_PNG_PAYLOAD:
        raise SoundClipError("the PNG's latent chunk is implausibly large", path=path, fix=FIX_PNG_CHANGED)
    try:
        payload = base64.b64decode(text, validate=True)
    except ValueError as error:
        raise SoundClipError("the PNG's latent chunk is damaged (not base64)", path=path,
                             fix=FIX_PNG_CHANGED) from error
    return _parse(payload, path)


def load_latent(path: str | os.PathLike) -> tuple[torch.Tensor, dict]:
    """(ws, meta) from a .safetensors latent or PNG (`read_latent` also gives its noise maps)."""
    latent = read_latent(path)
    return latent.ws, latent.meta


def png_text(ws: torch.Tensor, meta: dict | None = None, noise: list[torch.Tensor] | None = None) -> dict[str, str]:
    """The PNG text chunks that carry a latent: base64 of its safetensors payload under PNG_KEY, split
    into PNG_KEY, PNG_KEY.1, ... of at most PNG_CHUNK characters (PIL refuses text chunks over 1 MiB)."""
    text = base64.b64encode(latent_bytes(ws, meta, noise)).decode("ascii")
    pieces = [text[i:i + PNG_CHUNK] for i in range(0, len(text), PNG_CHUNK)]
    chunks = {PNG_KEY: pieces[0], f"{PNG_KEY}.parts": str(len(pieces))}
    chunks.update({f"{PNG_KEY}.{i}": piece for i, piece in enumerate(pieces[1:], start=1)})
    return chunks
