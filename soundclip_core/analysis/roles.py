"""Each role of a sound may be heard from its own audio (stems), the song by default.

A music video hears a song in four ways: its meaning (what is heard: the encoder's windows), its pulse
(loudness pushing the image), its motion (onsets moving it) and its beat (where keyframes and cuts fall).
A stem separated by any other tool (drums for the beat, bass for the pulse, vocals for the meaning) can
take a role; every role left out is heard from the song.

A stem must line up with the song in time, so `assign_roles` checks each one before anything is heard:

- sample rate: a stem at another rate is resampled to the song's (soxr, as everywhere);
- length: a stem up to LENGTH_TOLERANCE seconds shorter or longer than the song (a separator's padding to
  its hop, an encoder's priming samples) is padded with silence or trimmed at its end to the song's length,
  with a note saying so (and a warning); a stem further off is a different cut of the song, or another song,
  and is one AnalysisError naming the role and both lengths, since its beats would fall in the wrong places.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch

from ..audio import Audio
from ..errors import AnalysisError

ROLES = ("meaning", "pulse", "motion", "beat")
LENGTH_TOLERANCE = 0.5  # seconds a stem may differ from the song in length (padded or trimmed)


@dataclass(frozen=True)
class RoleAudio:
    """The song, and role -> the audio that role is heard from (every role present: the song where no stem
    was given). notes: what was changed to line a stem up with the song (empty when nothing was)."""

    song: Audio
    roles: dict[str, Audio]
    notes: tuple[str, ...] = field(default=())

    def __getitem__(self, role: str) -> Audio:
        return self.roles[role]

    def own(self, role: str) -> bool:
        """Whether `role` has a stem of its own (else it is heard from the song)."""
        return self.roles[role] is not self.song


def fit_stem(song: Audio, stem: Audio, role: str, tolerance: float = LENGTH_TOLERANCE) -> tuple[Audio, str]:
    """`stem` at the song's rate and length, and a note ("" if unchanged); see the module doc."""
    note = []
    if stem.sample_rate != song.sample_rate:
        note.append(f"resampled from {stem.sample_rate} Hz to the song's {song.sample_rate} Hz")
        stem = stem.resample(song.sample_rate)
    have, want = stem.waveform.shape[-1], song.waveform.shape[-1]
    if have != want:
        off = abs(have - want) / song.sample_rate
        if off > tolerance:
            raise AnalysisError(
                f"the {role} stem{f' ({stem.source})' if stem.source else ''} is {have / song.sample_rate:.2f} s "
                f"long and the song {want / song.sample_rate:.2f} s: more than {tolerance:g} s apart, so its "
                "beats and onsets would not line up with the song",
                fix=f"give the {role} role a stem separated from this same song, from its start to its end")
        if have < want:
            waveform = torch.nn.functional.pad(stem.waveform, (0, want - have))
            note.append(f"padded with {off:.3f} s of silence at its end to the song's length")
        else:
            waveform = stem.waveform[:, :want]
            note.append(f"trimmed by {off:.3f} s at its end to the song's length")
        stem = Audio(waveform, stem.sample_rate, stem.source)
    return stem, f"the {role} stem was {' and '.join(note)}" if note else ""


def assign_roles(song: Audio, tolerance: float = LENGTH_TOLERANCE, **stems: Audio | None) -> RoleAudio:
    """The audio of each role: `stems` role -> Audio (None or absent: the song), each checked against the song
    before anything is heard. An unknown role is refused, naming the known ones."""
    unknown = sorted(set(stems) - set(ROLES))
    if unknown:
        raise AnalysisError(f"unknown role(s) {unknown}", fix=f"use the roles {', '.join(ROLES)}")
    roles, notes = {}, []
    for role in ROLES:
        stem = stems.get(role)
        if stem is None:
            roles[role] = song
            continue
        roles[role], note = fit_stem(song, stem, role, tolerance)
        if note:
            notes.append(note)
            warnings.warn(note, stacklevel=2)
    return RoleAudio(song, roles, tuple(notes))
