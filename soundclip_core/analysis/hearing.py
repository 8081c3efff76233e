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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..audio import Audio
from ..embedding import Embedding
from ..errors import AnalysisError
from ..evaluate.zeroshot import DEFAULT_TEMPLATES
from .analyze import DEFAULT_BANDS, Analysis, analyze, check_tempo_range
from .cache import ANALYSES, audio_key
from .features import check_bands
from .plot import plot_curves
from .roles import LENGTH_TOLERANCE, ROLES, RoleAudio, assign_roles
from .semantic import semantic_curves_cached


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

    def plot(self, names: Sequence[str] = (), width: int = 1024, lane_height: int = 80) -> np.ndarray:
        """uint8 [H, W, 3]: the named curves (none: loudness, onset, each band's onset and every semantic curve)
        against time, with the sections and beats (plot.py)."""
        names = list(names) or [n for n in self.curves if n in ("loudness", "onset")
                                or n.startswith(("onset_", "label_", "similarity_"))]
        rhythm = self.rhythm
        return plot_curves({n: self.curve(n) for n in names}, self.fps, beats=rhythm.beats.times,
                           downbeats=rhythm.bars.downbeats, sections=rhythm.sections, width=width,
                           lane_height=lane_height)

    def report(self) -> str:
        """A few lines for people: tempo, beats, bars, sections, notes, and the curve names there are."""
        rhythm = self.rhythm
        tempo = f"{rhythm.tempo:.1f} BPM, {len(rhythm.beats.times)} beats" if rhythm.tempo else rhythm.beats.reason
        bars = (f"{len(rhythm.bars.downbeats)} bars of {rhythm.bars.meter}" if rhythm.bars.meter else
                rhythm.bars.reason)
        starts = ", ".join(f"{t:.1f}" for t in rhythm.sections[:12])
        lines = [f"{self.duration:.1f} s at {self.fps:g} fps: {self.frame_count} frames", f"tempo: {tempo}",
                 f"bars: {bars}", f"sections start at {starts}{' ...' if len(rhythm.sections) > 12 else ''} s",
                 *self.notes, f"curves: {', '.join(self.curves)}"]
        return "\n".join(lines)

    def to_json(self) -> dict:
        rhythm = self.rhythm
        return {"fps": self.fps, "duration": self.duration, "frames": self.frame_count,
                "tempo": rhythm.tempo, "beats": rhythm.beats.times.tolist(), "beats_reason": rhythm.beats.reason,
                "downbeats": rhythm.bars.downbeats.tolist(), "meter": rhythm.bars.meter,
                "sections": sorted(float(t) for t in rhythm.sections),
                "curves": {name: values.astype(float).round(6).tolist() for name, values in self.curves.items()},
                "notes": list(self.notes)}

    def csv_header(self) -> list[str]:
        return ["frame", "time", *self.curves]

    def csv_rows(self) -> Iterator[list[float]]:
        """One row per frame (frame, time, then each curve), made as they are written: a 3-hour mix at 24 fps
        is 259,200 rows."""
        columns = list(self.curves.values())
        for i in range(self.frame_count):
            yield [i, round(i / self.fps, 6), *(round(float(c[i]), 6) for c in columns)]


def parse_bands(text: str) -> tuple[tuple[float, float], ...]:
    """ "20-150, 150-2000" (Hz) -> ((20.0, 150.0), (150.0, 2000.0)); checked as `analyze` checks bands."""
    bands = []
    for part in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
        low, _, high = part.lower().removesuffix("hz").partition("-")
        try:
            bands.append((float(low), float(high)))
        except ValueError:
            raise AnalysisError(f"cannot read the band {part!r}",
                                fix="write bands as low-high in Hz, e.g. 20-150, 150-2000") from None
    return check_bands(bands)


def check_fps(fps: float) -> float:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise AnalysisError(f"fps must be a positive number, got {fps!r}", fix="use the video's frame rate, e.g. 24")
    return float(fps)


def hear(song: Audio, fps: float, *, stems: dict[str, Audio | None] | None = None, bands=DEFAULT_BANDS,
         section_count: int | None = None, tempo_range: tuple[float, float] | None = None) -> Hearing:
    """The song and each role's stem heard at `fps` (see the module doc); stems checked before any is heard."""
    fps = check_fps(fps)
    return hear_roles(assign_roles(song, **(stems or {})), fps, bands=bands, section_count=section_count,
                      tempo_range=tempo_range)


def hear_roles(roles: RoleAudio, fps: float, *, bands=DEFAULT_BANDS, section_count: int | None = None,
               tempo_range: tuple[float, float] | None = None) -> Hearing:
    """`hear` for roles already assigned (roles.assign_roles): for a caller that needs the fitted stems too,
    e.g. the meaning stem's windows for the semantic curves."""
    fps = check_fps(fps)
    song = roles.song
    settings = dict(bands=bands, section_count=section_count, tempo_range=tempo_range)
    analysis = analyze_cached(song, **settings)
    analyses = {role: analyze_cached(roles[role], **settings) if roles.own(role) else analysis for role in ROLES}
    curves = dict(analysis.curves(fps))
    for role in ROLES:
        if roles.own(role):
            curves.update({f"{role}.{name}": values for name, values in analyses[role].curves(fps).items()})
    return Hearing(fps, analysis, analyses, curves, roles.notes)


def add_semantic(heard: Hearing, encoder, audio: Audio, spans: Sequence[tuple[float, float]], *, clip=None,
                 labels: Sequence[str] = (), targets: dict[str, Embedding] | None = None,
                 templates: Sequence[str] = DEFAULT_TEMPLATES, progress=None, should_cancel=None) -> Hearing:
    """`heard` with the semantic curves of `audio` (semantic.py; the song or the meaning stem, heard in the
    windows `spans`, with semantic.encode_spans' progress and should_cancel) added, cached per sound, models and
    settings. A sound of another length than the
    analysed song (beyond roles.LENGTH_TOLERANCE) is refused: its curves would not line up with the frames."""
    if abs(audio.duration - heard.duration) > LENGTH_TOLERANCE:
        raise AnalysisError(f"the sound for the semantic curves{f' ({audio.source})' if audio.source else ''} is "
                            f"{audio.duration:.2f} s long and the analysed song {heard.duration:.2f} s",
                            fix="give the song that was analysed, or a stem separated from it")
    return heard.with_curves(semantic_curves_cached(encoder, audio, spans, heard.fps, heard.frame_count, clip=clip,
                                                    labels=labels, targets=targets, templates=templates,
                                                    progress=progress, should_cancel=should_cancel))
