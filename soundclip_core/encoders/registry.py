"""Encoder kinds as data: each `configs/<kind>.json` declares preprocessing, layout and space."""

from __future__ import annotations

import json
import os
from functools import cache, lru_cache
from pathlib import Path

from ..weights.download import sha256_of

CONFIG_DIR = Path(__file__).with_name("configs")


@cache
def encoder_config(kind: str) -> dict:
    path = CONFIG_DIR / f"{kind}.json"
    if not path.is_file():
        raise KeyError(kind)
    return json.loads(path.read_text())


ENCODER_KINDS: tuple[str, ...] = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def metadata_path(path: str | os.PathLike) -> Path:
    """The sidecar of an encoder checkpoint we trained: `<file>.json` beside it (the file itself stays a plain
    state dict that the official code loads)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def checkpoint_metadata(path: str | os.PathLike) -> dict:
    """The sidecar's content ({"kind", "space", "frontend", ...}), {} when there is none."""
    sidecar = metadata_path(path)
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{sidecar}: unreadable encoder metadata ({error})") from error
    if not isinstance(meta, dict):
        raise ValueError(f"{sidecar}: encoder metadata must be a JSON object")
    return meta


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of(Path(path))


def checkpoint_space(kind: str, path: str | os.PathLike) -> str:
    """The embedding space of a checkpoint of `kind`.

    Files that share one layout but not one space (AudioCLIP Partial: vanilla OpenAI RN50; Full: its
    own fine-tuned towers) are told apart by content hash (`known_checkpoints`). Any other file of such
    a kind gets a space of its own, `<kind>/<12 hex digits of its sha256>`, which the CLIP towers in the
    same file share, so its sounds are never mixed with another model's texts by mistake. An encoder
    trained here names its space in its sidecar (`checkpoint_metadata`)."""
    space = checkpoint_metadata(path).get("space")
    if space:
        return str(space)
    config = encoder_config(kind)
    known = config.get("known_checkpoints")
    if not known:
        return config["space"]
    stat = Path(path).stat()
    digest = _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    return known.get(digest, f"{kind}/{digest[:12]}")
