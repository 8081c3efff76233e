"""One analysis of a sound, reused for every frame rate: `analyze(audio)` -> `Analysis`.

The sound is heard once, streamed (stream.py: mono, 22050 Hz, chunk by chunk, one STFT for every
feature), into per-frame features (features.py, 86.1 frames per second, about 12 KB per second of sound
with the default bands: a 3-hour mix keeps about 130 MB besides its own samples). From those come beats
and tempo (beats.py), bars (downbeats.py), sections (sections.py) and onset times per band (onsets.py).
`Analysis.curves(fps)` turns the features into one value per video frame (timeline.py) without hearing
the sound again, so a change of frame rate or of a curve's shaping costs milliseconds.

Bad input has a documented result, not a crash: silence, a drone or speech give no beats, tempo None and
a `reason`; a clip of a few seconds gives whatever beats it holds (none under two, with a reason); no
downbeats without four beats; one section (start 0.0) when nothing changes or the clip is short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..audio import Audio
from ..errors import AnalysisError
from .beats import Beats, track_beats
from .downbeats import Bars, find_bars
from .features import PITCH_CLASSES, Band, FrameFeatures, band_name, check_bands
from .onsets import onset_times
from .sections import find_sections
from .stream import CHUNK_SECONDS, HOP, RATE, Framer, mono_chunks
from .timeline import to_fps, video_frames

DEFAULT_BANDS: tuple[Band, ...] = ((20.0, 150.0), (150.0, 2000.0), (2000.0, 11025.0))  # bass, mids, highs


@dataclass(frozen=True)
class Analysis:
    """What was heard in a sound of `samples` samples at `sample_rate` Hz. `frames`: name -> float32
    per analysis frame (centre j * HOP / RATE s): rms, rms_db, centroid (Hz), chroma [n, 12], onset,
    mfcc [n, 13], and per band level_<lo>-<hi>Hz (dB) and onset_<lo>-<hi>Hz. `onsets`: "all" and each band
    name -> onset times (s)."""

    samples: int
    sample_rate: int
    bands: tuple[Band, ...]
    frames: dict[str, np.ndarray]
    beats: Beats
    bars: Bars
    sections: np.ndarray
    onsets: dict[str, np.ndarray]

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate

    @property
    def tempo(self) -> float | None:
        return self.beats.tempo

    @property
    def frame_rate(self) -> float:
        """Analysis frames per second."""
        return RATE / HOP

    def frame_count(self, fps: float) -> int:
        return video_frames(self.samples, self.sample_rate, fps)

    def curves(self, fps: float) -> dict[str, np.ndarray]:
        """name -> float32 [frame_count(fps)], one value per video frame: loudness (RMS), loudness_db,
        onset, centroid (Hz), chroma_C ... chroma_B, and per band level_<band> (dB) and onset_<band>.
        Levels and colours are the frame's mean, onsets its maximum (timeline.py)."""
        n = self.frame_count(fps)
        f = self.frames
        out = {"loudness": to_fps(f["rms"], fps, n), "loudness_db": to_fps(f["rms_db"], fps, n),
               "onset": to_fps(f["onset"], fps, n, "max"), "centroid": to_fps(f["centroid"], fps, n)}
        chroma = to_fps(f["chroma"], fps, n)
        out.update({f"chroma_{name}": chroma[:, k] for k, name in enumerate(PITCH_CLASSES)})
        for band in self.bands:
            name = band_name(band)
            out[f"level_{name}"] = to_fps(f[f"level_{name}"], fps, n)
            out[f"onset_{name}"] = to_fps(f[f"onset_{name}"], fps, n, "max")
        return out


def check_tempo_range(tempo_range) -> tuple[float, float] | None:
    """(min BPM, max BPM) with 0 < min < max, as floats, or None; anything else is one AnalysisError."""
    if tempo_range is None:
        return None
    try:
        low, high = (float(v) for v in tempo_range)
    except (TypeError, ValueError):
        raise AnalysisError(f"a tempo range must be two numbers (min BPM, max BPM), got {tempo_range!r}",
                            fix="give e.g. (150, 250) for a fast song read at half its tempo") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise AnalysisError(f"the tempo range {low:g}-{high:g} BPM is empty or not positive",
                            fix="give the slowest tempo first, both above 0, e.g. (150, 250)")
    return low, high


def open_tempo_range(low: float | None, high: float | None) -> tuple[float, float]:
    """A tempo range with either end left open (None or 0): (1, high) or (low, 1000) BPM."""
    return (low or 1.0, high or 1000.0)


def analyze(audio: Audio, *, bands=DEFAULT_BANDS, chunk_seconds: float = CHUNK_SECONDS,
            section_count: int | None = None, tempo_range: tuple[float, float] | None = None) -> Analysis:
    """Hear `audio` once (see the module doc). bands: (low Hz, high Hz) pairs for band levels and onsets;
    chunk_seconds: how much sound is resampled and framed at a time (peak memory); section_count: exactly
    this many sections (None: as many as the music has); tempo_range: (min, max) BPM the tempo is moved into
    by octaves (beats.py: fixes a song read at half or double its tempo), None: as heard."""
    bands, tempo_range = check_bands(bands), check_tempo_range(tempo_range)
    features, framer = FrameFeatures(bands), Framer()
    for chunk in mono_chunks(audio, chunk_seconds=chunk_seconds):
        features.frames(framer.push(chunk))
        features.samples(chunk)
    features.frames(framer.finish())
    frames = features.result()
    fine = frames.pop("fine", np.zeros(0, np.float32))
    frames["rms_db"] = (20 * np.log10(np.maximum(frames["rms"], 1e-5))).astype(np.float32)
    beats = track_beats(frames["onset"], fine, silent=audio.silent, tempo_range=tempo_range)
    del fine
    bars = find_bars(beats.times, frames["onset"], frames["rms_db"]) if len(beats.times) else Bars(
        reason="no beats, so no bars")
    sections = find_sections(frames["chroma"], frames["mfcc"], count=section_count)
    onsets = {"all": onset_times(frames["onset"])}
    onsets.update({band_name(b): onset_times(frames[f"onset_{band_name(b)}"]) for b in bands})
    return Analysis(samples=audio.waveform.shape[-1], sample_rate=audio.sample_rate, bands=bands, frames=frames,
                    beats=beats, bars=bars, sections=sections, onsets=onsets)
