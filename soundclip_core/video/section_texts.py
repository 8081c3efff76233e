"""A text per song section ("at night; fireworks"), mixed with each keyframe's sound.

The list is split on ";" (a text may hold commas). Section s (0-based, in time order) takes text
s mod T: with fewer texts than sections the list cycles, so "verse text; chorus text" alternates as verse and
chorus do; with more texts than sections the extra ones are unused and a note says so. A window belongs to the
section its centre falls in. Each window's target is then the usual mix, sound_weight * sound +
text_weight * its section's text, renormalised (embedding.combine, as one text mixes into every window).
"""

from __future__ import annotations

import numpy as np
import torch

from ..embedding import Embedding
from ..errors import SoundClipError
from .windows import Windows


def parse_section_texts(spec: str) -> list[str]:
    """'at night; fireworks' -> ['at night', 'fireworks']; empty parts are refused (a ';' too many)."""
    parts = [part.strip() for part in spec.split(";")]
    if not spec.strip():
        return []
    if not all(parts):
        raise SoundClipError(f"an empty text in the section texts {spec!r}",
                             fix="separate one text per section with ';', e.g. 'at night; fireworks'")
    return parts


def window_sections(windows: Windows, sections) -> list[int]:
    """The section index of each window (the section its centre falls in)."""
    starts = np.asarray(sections, np.float64)
    return [max(0, int(np.searchsorted(starts, t, side="right")) - 1) for t in windows.times]


def section_text_indices(windows: Windows, sections, count: int) -> tuple[list[int], str]:
    """(the text index of each window, a note for the user or "") for `count` texts (module doc)."""
    if count < 1:
        raise SoundClipError("no section texts given", fix="give one text per section, separated by ';'")
    note = ""
    if count > len(sections):
        note = (f"{count} section texts for {len(sections)} section{'s' if len(sections) != 1 else ''}: the last "
                f"{count - len(sections)} are unused")
    return [s % count for s in window_sections(windows, sections)], note


def section_text_embedding(clip, texts: list[str], windows: Windows, sections) -> tuple[Embedding, str]:
    """One text embedding per window [K, D] (its section's text, encoded once per text by `clip`), and a note."""
    indices, note = section_text_indices(windows, sections, len(texts))
    encoded = clip.encode_text(texts)
    rows = encoded.vectors[torch.tensor(indices, dtype=torch.long, device=encoded.vectors.device)]
    return Embedding(rows, encoded.space, f"section texts: {'; '.join(texts)}"), note
