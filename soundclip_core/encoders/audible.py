"""Clips of one sound -> one embedding each, the silent ones borrowing their nearest audible neighbour's.

A silent window (a break, a fade) says nothing about what is heard, so it takes the embedding of the nearest
window with sound; a sound with no audible window at all is refused. The audible clips are encoded in batches
(the encoder batches their network passes), with progress after each batch and Cancel asked before each: the
loop the instant video's frame windows and the semantic curves' windows share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..audio import Audio
from ..errors import AudioError, Cancelled
from .encoder import AudioEncoder

ENCODE_BATCH = 32  # clips per encoder call


def encode_audible(encoder: AudioEncoder, clips: Sequence[Audio], *, batch_size: int = ENCODE_BATCH,
                   positions: Sequence[float] | None = None, source: str | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   should_cancel: Callable[[], bool] | None = None) -> torch.Tensor:
    """[K, D] embeddings of `clips`; a silent clip takes the row of the audible clip nearest to it in `positions`
    (default: its index). `progress(done, audible)` after each batch; `source` names the sound in errors."""
    audible = [i for i, clip in enumerate(clips) if not clip.mono().silent]
    if not audible:
        raise AudioError("the sound is silent: there is nothing to hear in it", path=source or None,
                         fix="choose a sound with sound in it")
    rows = []
    for first in range(0, len(audible), batch_size):
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"encoding cancelled after {first} of {len(audible)} windows")
        batch = audible[first:first + batch_size]
        rows.append(encoder.encode([clips[i] for i in batch]).vectors)
        if progress is not None:
            progress(first + len(batch), len(audible))
    place = torch.as_tensor(list(range(len(clips))) if positions is None else positions, dtype=torch.float64)
    nearest = (place[:, None] - place[audible][None]).abs().argmin(1)
    return torch.cat(rows)[nearest]
