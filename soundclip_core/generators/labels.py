"""Labels for class-conditional generators: text such as "genre=landscape, style=impressionism" or "3,7"
turned into the float label vector c [1, c_dim] the mapping network takes.

A label is not always one class: Baylies' WikiArt models take a 167-value multi-hot vector (an
artist, a genre and a style block). Known label lists ship as JSON in `label_sets/` (names in the
model's order); a generator whose `label_set` names one accepts `block=name` entries, every
conditional generator accepts class indices. Each entry sets its value to 1 (or to `:weight`).

A mistyped name gets a short error with the closest names (a group of 129 artists is never
printed whole in an error); `block=?` asks for a group's full list, `?` for every group's.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from ..errors import SoundClipError

LABEL_SETS = Path(__file__).resolve().parent / "label_sets"
LISTED_IN_ERRORS = 30  # a group this small is listed whole when a name in it is mistyped
SUGGESTIONS = 5


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

    def closest(self, value: str) -> list[str]:
        """Up to SUGGESTIONS names (as typed) for a mistyped `value`: names containing it ('monet' ->
        'claude-monet'), then the most similar spellings."""
        wanted, names = slug(value), [slug(n) for n in self.names]
        containing = [n for n in names if wanted and wanted in n]
        similar = difflib.get_close_matches(wanted, names, n=SUGGESTIONS, cutoff=0.6)
        return list(dict.fromkeys(containing + similar))[:SUGGESTIONS]


@dataclass(frozen=True)
class LabelSet:
    name: str
    size: int
    blocks: tuple[LabelBlock, ...]
    example: str = ""  # a label as an artist would type it


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
    return LabelSet(raw["name"], int(raw["size"]), blocks, raw.get("example", ""))


def label_set_for_size(c_dim: int) -> str:
    """The known label list with exactly `c_dim` values, or '' (labels are then class indices)."""
    matches = [name for name in known_label_sets() if load_label_set(name).size == c_dim]
    return matches[0] if len(matches) == 1 else ""


def _indices(c_dim: int) -> str:
    return f"class indices 0-{c_dim - 1}, e.g. '3' or '3,7'"


def describe(c_dim: int, label_set: str = "") -> str:
    """Everything a generator with these labels accepts, every name listed (the loader node's info, `?`)."""
    if not label_set:
        return _indices(c_dim)
    labels = load_label_set(label_set)
    blocks = "; ".join(f"{b.name}=<{', '.join(slug(n) for n in b.names)}>" for b in labels.blocks)
    return f"{blocks}; or {_indices(c_dim)} (e.g. '{labels.example}'; ':2' after an entry sets its value)"


def summary(c_dim: int, label_set: str = "", source: str = "label") -> str:
    """What a generator with these labels accepts in one short line, for errors: the groups and their sizes,
    an example and how to list a group's names (`source` is the input a user types them into)."""
    if not label_set:
        return _indices(c_dim)
    labels = load_label_set(label_set)
    groups = ", ".join(f"{b.name}=<one of {len(b.names)}>" for b in labels.blocks)
    return (f"{groups} (e.g. {source} '{labels.example}'; {source} '{labels.blocks[0].name}=?' lists a group's "
            f"names, ':2' after an entry sets its value); or {_indices(c_dim)}")


def _unknown_name(source: str, entry: str, block: LabelBlock, value: str,
                  blocks: dict[str, LabelBlock]) -> SoundClipError:
    close = block.closest(value)
    elsewhere = [other.name for other in blocks.values() if other is not block and other.index_of(value) is not None]
    problem = f"{source} '{entry}': unknown {block.name} '{value.strip()}'"
    problem += f" (it is a {elsewhere[0]}: '{elsewhere[0]}={slug(value)}')" if elsewhere else ""
    problem += f"; closest: {', '.join(close)}" if close else ""
    if len(block.names) <= LISTED_IN_ERRORS:
        return SoundClipError(problem, fix=f"this generator accepts these {len(block.names)} {block.name} names: "
                                           f"{', '.join(slug(n) for n in block.names)}")
    return SoundClipError(problem, fix=f"this generator accepts {len(block.names)} {block.name} names; list them "
                                       f"all with {source} '{block.name}=?'")


def _listing(source: str, entry: str, text: str) -> SoundClipError:
    """The answer to a `?` request: the names asked for, as the one message a label input can give."""
    return SoundClipError(f"{source} '{entry}': this generator accepts {text}", fix="choose from the list above")


def parse_label(text: str, c_dim: int, label_set: str = "", source: str = "label") -> torch.Tensor:
    """Label text -> c [1, c_dim] float32. `source` names the input in errors (a CLI flag, a node input)."""
    fix = f"this generator accepts {summary(c_dim, label_set, source)}"
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if entries == ["?"]:
        raise _listing(source, "?", describe(c_dim, label_set))
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
            if block is None:
                raise SoundClipError(f"{source} '{entry}': unknown label group '{key.strip()}'", fix=fix)
            if value.strip() == "?":
                raise _listing(source, entry, f"these {len(block.names)} {block.name} names: "
                                              f"{', '.join(slug(n) for n in block.names)}")
            index = block.index_of(value)
            if index is None:
                raise _unknown_name(source, entry, block, value, blocks)
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
