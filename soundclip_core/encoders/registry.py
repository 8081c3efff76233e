"""Encoder kinds as data: each `configs/<kind>.json` declares preprocessing, layout and space."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

CONFIG_DIR = Path(__file__).with_name("configs")


@cache
def encoder_config(kind: str) -> dict:
    path = CONFIG_DIR / f"{kind}.json"
    if not path.is_file():
        raise KeyError(kind)
    return json.loads(path.read_text())


ENCODER_KINDS: tuple[str, ...] = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))
