"""Labels for class-conditional generators: text such as "genre=landscape, style=impressionism" or "3,7"
turned into the float label vector c [1, c_dim] the mapping network takes.

A label is not always one class: Baylies' WikiArt models take a 167-value multi-hot vector (an
artist, a genre and a style block). Known label lists ship as JSON in `label_sets/` (names in the
model's order); a generator whose `label_set` names one accepts `block=name` entries, every
conditional generator accepts class indices. Each entry sets its value to 1 (or to `:weight`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from ..errors import SoundClipError

LABEL_SETS = Path(__file__).resolve().parent / "label_sets"


@dataclass(frozen=True)
class LabelBlock:
    name: str  # e.g. "artist"
    offset: int  # index of its first name in the label vector
    names: tuple[str, ...]

    def index_of(self, value: str) -> int | None:
        wanted = slug(value)
        for i, name in enumerate(self.names):
            if slug(name) == wanted:
                return self.offset + i
        return None


@dataclass(frozen=True)
class LabelSet:
    name: str
    size: int
    blocks: tuple[LabelBlock, ...]


def slug(text: str) -> str:
    """'Joaquín Sorolla' -> 'joaquin-sorolla', 'M.C. Escher' -> 'm-c-escher' (how labels are typed)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def known_label_sets() -> list[str]:
    return sorted(p.stem for p in LABEL_SETS.glob("*.json"))


@cache
def load_label_set(name: str) -> LabelSet:
    raw = json.loads((LABEL_SETS / f"{name}.json").read_text(encoding="utf-8"))
    blocks = tuple(LabelBlock(b["name"], int(b["offset"]), tuple(b["names"])) for b in raw["blocks"])
    return LabelSet(raw["name"], int(raw["size"]), blocks)


def label_set_for_size(c_dim: int) -> str:
    """The known label list with exactly `c_dim` values, or '' (labels are then class indices)."""
    matches = [name for name in known_label_sets() if load_label_set(name).size == c_dim]
    return matches[0] if len(matches) == 1 else ""


def describe(c_dim: int, label_set: str = "") -> str:
    """What a generator with these labels accepts, for error messages and node tooltips."""
    indices = f"class indices 0-{c_dim - 1}, e.g. '3' or '3,7'"
    if not label_set:
        return indices
    blocks = "; ".join(f"{b.name}=<{', '.join(slug(n) for n in b.names)}>" for b in load_label_set(label_set).blocks)
    return f"{blocks}; or {indices} (e.g. 'genre=landscape, style=impressionism'; ':2' after an entry sets its value)"


def parse_label(text: str, c_dim: int, label_set: str = "", source: str = "label") -> torch.Tensor:
    """Label text -> c [1, c_dim] float32. `source` names the input in errors (a CLI flag, a node input)."""
    fix = f"this generator accepts {describe(c_dim, label_set)}"
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if not entries:
        raise SoundClipError(f"{source}: this generator is class-conditional ({c_dim} label values) and needs "
                             "a label", fix=fix)
    blocks = {b.name: b for b in load_label_set(label_set).blocks} if label_set else {}
    c = torch.zeros(1, c_dim)
    for entry in entries:
        body, _, weight_text = entry.partition(":")
        try:
            weight = float(weight_text) if weight_text.strip() else 1.0
        except ValueError:
            raise SoundClipError(f"{source} '{entry}': the weight after ':' is not a number", fix=fix) from None
        key, has_key, value = body.partition("=")
        if has_key:
            block = blocks.get(slug(key))
            index = None if block is None else block.index_of(value)
            if block is None:
                raise SoundClipError(f"{source} '{entry}': unknown label group '{key.strip()}'", fix=fix)
            if index is None:
                raise SoundClipError(f"{source} '{entry}': unknown {block.name} '{value.strip()}'", fix=fix)
        elif body.strip().lstrip("-").isdigit():
            index = int(body)
            if not 0 <= index < c_dim:
                raise SoundClipError(f"{source} '{entry}': class index {index} is out of range "
                                     f"(this generator has {c_dim} classes, 0-{c_dim - 1})", fix=fix)
        else:
            raise SoundClipError(f"{source} '{entry}': not a class index or a group=name entry", fix=fix)
        c[0, index] = weight
    return c


def label_for(generator, text: str | None, source: str = "label") -> torch.Tensor | None:
    """The c [1, c_dim] for `generator` from label text: None for an unconditional generator given no
    label; a clear error for a conditional one without a valid label or an unconditional one with one."""
    text = (text or "").strip()
    if not generator.c_dim:
        if text:
            raise SoundClipError(f"{source} '{text}': {generator.source} is not class-conditional",
                                 fix="leave the label empty for this generator")
        return None
    return parse_label(text, generator.c_dim, generator.config.label_set, source)
