"""Analyses kept per sound and settings, so moving a slider does not hear the song again.

A small in-process LRU: the key is the sound's content (a BLAKE2b digest of its samples and rate, so the
same song loaded twice or passed through another node is found again) plus the settings that change the
result; the value is whatever was computed. ComfyUI re-runs a node whenever one of its inputs changes: an
envelope or frame-rate change then costs milliseconds, not a new analysis. Kept in memory only (an
Analysis holds about 12 KB per second of sound: 2 MB for a 3-minute song, 130 MB for a 3-hour mix), at most
MAX_ENTRIES of them, the least recently used dropped.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np
import torch

from ..audio import Audio

MAX_ENTRIES = 8
T = TypeVar("T")


def digest(tensor: torch.Tensor, salt: str = "") -> str:
    """A BLAKE2b digest of a tensor's values, shape and dtype (about 1 GB/s: 0.03 s for a 3-minute song)."""
    values = np.ascontiguousarray(tensor.detach().cpu().numpy())
    hashed = hashlib.blake2b(values.data, digest_size=16)
    hashed.update(f"{values.shape}|{values.dtype}|{salt}".encode())
    return hashed.hexdigest()


def audio_key(audio: Audio) -> str:
    """The sound's content: its samples, channel count and rate."""
    return digest(audio.waveform, str(audio.sample_rate))


class Memo:
    """An LRU of computed results keyed by hashable keys (see the module doc)."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self.entries: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T], valid: Callable[[T], bool] = lambda value: True) -> T:
        """The result kept for `key` if `valid(result)`, else `compute()` kept under it."""
        if key in self.entries and valid(self.entries[key]):  # type: ignore[arg-type]
            self.entries.move_to_end(key)
            return self.entries[key]  # type: ignore[return-value]
        value = compute()
        self.entries[key] = value
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self.entries.clear()


ANALYSES = Memo()  # analyze_cached's
SEMANTIC = Memo()  # semantic curves, keyed with the models' identity too
