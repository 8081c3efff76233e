"""A song heard for a video at one frame rate: every curve, per role, cached, ready to flow out.

`hear(song, fps, stems=...)` analyses the song and each role's own stem (roles.py) through the cache
(cache.py: one analysis per sound and settings, whatever the frame rate), and gives a `Hearing`:

- beats, tempo, downbeats and sections from the beat role's audio (the song unless a beat stem was given);
- curves: name -> one value per video frame: the song's (analyze.Analysis.curves: loudness, onset, centroid,
  chroma, per band level and onset), each stem's under "<role>.<name>" (e.g. "pulse.onset_20-150Hz"), and
  semantic curves added later (`with_curves`: label_<label>, similarity_<name>).

`to_json()` is the file `soundclip analyze` writes and scripts rely on: fps, duration (s), tempo (BPM or
null), beats, downbeats, sections (section start times in seconds, sorted, the first 0.0), curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..audio import Audio
from ..errors import AnalysisError
from .analyze import DEFAULT_BANDS, Analysis, analyze, check_tempo_range
from .cache import ANALYSES, audio_key
from .features import check_bands
from .roles import ROLES, RoleAudio, assign_roles


def analyze_cached(audio: Audio, *, bands=DEFAULT_BANDS, section_count: int | None = None,
                   tempo_range: tuple[float, float] | None = None) -> Analysis:
    """`analyze(audio, ...)`, or the analysis kept for the same sound and settings (cache.py)."""
    bands, tempo_range = check_bands(bands), check_tempo_range(tempo_range)
    key = ("analysis", audio_key(audio), bands, section_count, tempo_range)
    return ANALYSES.get(key, lambda: analyze(audio, bands=bands, section_count=section_count,
                                             tempo_range=tempo_range))


@dataclass(frozen=True)
class Hearing:
    """See the module doc. analyses: role -> Analysis (the song's object where the role has no stem)."""

    fps: float
    song: Analysis
    analyses: dict[str, Analysis]
    curves: dict[str, np.ndarray]
    notes: tuple[str, ...] = field(default=())

    @property
    def rhythm(self) -> Analysis:
        """The analysis beats, bars and sections come from: the beat role's."""
        return self.analyses["beat"]

    @property
    def duration(self) -> float:
        return self.song.duration

    @property
    def frame_count(self) -> int:
        return self.song.frame_count(self.fps)

    def with_curves(self, extra: dict[str, np.ndarray]) -> Hearing:
        """This hearing with more curves (one value per frame each; a name already present is replaced)."""
        for name, values in extra.items():
            if np.shape(values) != (self.frame_count,):
                raise AnalysisError(f"the curve '{name}' has {np.shape(values)} values, not one per frame "
                                    f"({self.frame_count})", fix="make it at this hearing's fps from the same sound")
        return replace(self, curves={**self.curves, **{k: np.asarray(v, np.float32) for k, v in extra.items()}})

    def curve(self, name: str) -> np.ndarray:
        """One curve by name, or the error listing the names there are."""
        if name not in self.curves:
            raise AnalysisError(f"there is no curve '{name}'", fix=f"use one of: {', '.join(self.curves)}")
        return self.curves[name]

    def to_json(self) -> dict:
        rhythm = self.rhythm
        return {"fps": self.fps, "duration": self.duration, "frames": self.frame_count,
                "tempo": rhythm.tempo, "beats": rhythm.beats.times.tolist(), "beats_reason": rhythm.beats.reason,
                "downbeats": rhythm.bars.downbeats.tolist(), "meter": rhythm.bars.meter,
                "sections": sorted(float(t) for t in rhythm.sections),
                "curves": {name: values.astype(float).round(6).tolist() for name, values in self.curves.items()},
                "notes": list(self.notes)}

    def to_rows(self) -> tuple[list[str], list[list[float]]]:
        """CSV: the header (frame, time, then the curve names) and one row per frame."""
        names = list(self.curves)
        times = np.arange(self.frame_count) / self.fps
        columns = [times] + [self.curves[n] for n in names]
        rows = [[i] + [round(float(c[i]), 6) for c in columns] for i in range(self.frame_count)]
        return ["frame", "time", *names], rows


def check_fps(fps: float) -> float:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise AnalysisError(f"fps must be a positive number, got {fps!r}", fix="use the video's frame rate, e.g. 24")
    return float(fps)


def hear(song: Audio, fps: float, *, stems: dict[str, Audio | None] | None = None, bands=DEFAULT_BANDS,
         section_count: int | None = None, tempo_range: tuple[float, float] | None = None) -> Hearing:
    """The song and each role's stem heard at `fps` (see the module doc); stems checked before any is heard."""
    fps = check_fps(fps)
    roles: RoleAudio = assign_roles(song, **(stems or {}))
    settings = dict(bands=bands, section_count=section_count, tempo_range=tempo_range)
    analysis = analyze_cached(song, **settings)
    analyses = {role: analyze_cached(roles[role], **settings) if roles.own(role) else analysis for role in ROLES}
    curves = dict(analysis.curves(fps))
    for role in ROLES:
        if roles.own(role):
            curves.update({f"{role}.{name}": values for name, values in analyses[role].curves(fps).items()})
    return Hearing(fps, analysis, analyses, curves, roles.notes)
