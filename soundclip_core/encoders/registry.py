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


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of(Path(path))


def checkpoint_space(kind: str, path: str | os.PathLike) -> str:
    """The embedding space of a checkpoint of `kind`.

    Files that share one layout but not one space (AudioCLIP Partial: vanilla OpenAI RN50; Full: its
    own fine-tuned towers) are told apart by content hash (`known_checkpoints`). Any other file of such
    a kind gets a space of its own, `<kind>/<12 hex digits of its sha256>`, which the CLIP towers in the
    same file share, so its sounds are never mixed with another model's texts by mistake."""
    config = encoder_config(kind)
    known = config.get("known_checkpoints")
    if not known:
        return config["space"]
    stat = Path(path).stat()
    digest = _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    return known.get(digest, f"{kind}/{digest[:12]}")
