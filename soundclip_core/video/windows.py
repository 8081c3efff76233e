"""A song cut into overlapping windows, each encoded into the audio encoder's CLIP space.

One window becomes one keyframe: its embedding says what the image should look like around the
window's centre. Windows start every `hop` seconds; when the last one does not reach the end of
the sound, one more window ending exactly at the end is added, so no part of the song is unheard. A sound
shorter than one window becomes one shorter window (the whole sound), with a note saying so: refusing a short
sound would only make the user guess a --window that fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..audio import Audio
from ..embedding import Embedding
from ..errors import AudioError, Cancelled, SoundClipError

DEFAULT_WINDOW = 5.0  # seconds: about two bars of music at 100 bpm, a new image idea every few seconds
DEFAULT_HOP = 2.5  # seconds: half-overlapping windows, so neighbouring keyframes share half their sound


@dataclass(frozen=True)
class Windows:
    """starts, ends: sample indices [K] into the sound; times: window centres in seconds [K]; note: what was
    changed from what was asked, for the user ("" when nothing was); cut: what they were cut on (fixed, beats,
    bars, sections: video/cuts.py)."""

    starts: list[int]
    ends: list[int]
    sample_rate: int
    note: str = ""
    cut: str = "fixed"

    @property
    def times(self) -> list[float]:
        return [(s + e) / 2 / self.sample_rate for s, e in zip(self.starts, self.ends, strict=True)]

    @property
    def spans(self) -> list[tuple[float, float]]:
        """(start, end) of each window in seconds, as `Audio.window` takes them."""
        return [(s / self.sample_rate, e / self.sample_rate) for s, e in zip(self.starts, self.ends, strict=True)]

    def __len__(self) -> int:
        return len(self.starts)


def cut_windows(audio: Audio, window: float = DEFAULT_WINDOW, hop: float = DEFAULT_HOP) -> Windows:
    """Window layout for `audio`; refuses windows or hops that are not positive, naming the fix. A sound
    shorter than one window gives one window of the whole sound (and a `note`)."""
    if not (math.isfinite(window) and math.isfinite(hop)) or window <= 0 or hop <= 0:
        raise SoundClipError(f"window ({window} s) and hop ({hop} s) must be positive numbers of seconds",
                             fix="e.g. --window 5 --hop 2.5")
    rate = audio.sample_rate
    total, size, step = audio.waveform.shape[-1], int(round(window * rate)), max(1, int(round(hop * rate)))
    if size > total:
        return Windows([0], [total], rate, f"the sound is {audio.duration:.2f} s long, shorter than one {window:g} s "
                                           f"window: using one {audio.duration:.2f} s window")
    starts = list(range(0, total - size + 1, step))
    if starts[-1] + size < total:
        starts.append(total - size)
    return Windows(starts, [s + size for s in starts], rate)


def encode_windows(encoder, audio: Audio, windows: Windows, should_cancel=None) -> Embedding:
    """One embedding per window [K, D]. A silent window (a break, a fade) says nothing about the image,
    so it takes the embedding of the nearest window with sound; a song with no sound at all is refused."""
    clips = [audio.window(start, end) for start, end in windows.spans]
    audible = [not clip.mono().silent for clip in clips]
    if not any(audible):
        raise AudioError("the sound is silent: there is nothing to guide the video with", path=audio.source or None,
                         fix="choose a song with sound")
    rows: dict[int, torch.Tensor] = {}
    for index, clip in enumerate(clips):
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"encoding cancelled at window {index} of {len(windows)}")
        if audible[index]:
            rows[index] = encoder.encode(clip).vectors[0]
    heard = torch.tensor(sorted(rows))
    nearest = [int(heard[(heard - i).abs().argmin()]) for i in range(len(windows))]
    vectors = torch.stack([rows[i] for i in nearest])
    return Embedding(vectors, encoder.space, f"{encoder.kind}: {len(windows)} windows of {audio.source or 'a sound'}")
