"""Beats and tempo, finer than librosa's defaults, and an honest "no beat" for music without a pulse.

The pulse is the `onset` curve (mean log-mel flux, 11.6 ms hop; features.py).

1. Tempo prior: librosa.feature.tempo on the pulse, per 30 s
   of song (so its tempogram stays small on a 3-hour mix), the median of those estimates; with a tempo
   range (min, max BPM), moved by octaves into it (halved while above, doubled while below, then clipped):
   the fix for octave errors, a 200 BPM song read at 100 or a 70 BPM ballad at 140.
2. Beats: librosa.beat.beat_track's dynamic programme on the same curve, at that tempo, after dividing the
   curve by its RMS over the surrounding LEVEL_SECONDS (plus a tenth of the song's): a quiet verse's beats
   count as much as a loud chorus's. librosa's end trimming is off (it dropped whole quiet last parts);
   instead leading and trailing beats under a tenth of the median beat's pulse go (quiet_ends_dropped).
3. Pulse clarity: the pulse curve's normalised autocorrelation at one beat period. Under MIN_CLARITY
   (speech, a drone, rubato, noise), or fewer than two beats: no beats, tempo None, and `reason` says why.
   Silence is said to be silence.
4. Refinement: each beat moves to the strongest attack (`fine`: dB rise of 2.9 ms energy blocks) within
   70 ms before to 70 ms after it (at most a fifth of a beat either way), when there is one of at least
   MIN_ATTACK_DB; else it stays.
5. Ends: a first or last beat off the median interval by over 20 % is dropped (trim_ends).
6. Tempo: 60 / the mean interval between refined beats, over the intervals within 10 % of the median
   interval (a line through the beat times for a steady tempo; the typical tempo when it drifts).

librosa quantises tempo to its hop (a 120 BPM click track reads 117.45 at hop 512) and places beats
9-32 ms late; this reads such tracks to within 0.1 BPM and a few ms (tests/test_analysis.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backend import librosa
from .features import FINE_HOP
from .stream import HOP, RATE

MIN_CLARITY = 0.3
MIN_ATTACK_DB = 6.0
TEMPO_CHUNK_SECONDS = 30.0  # librosa's tempogram of 30 s takes about 75 MB
LEVEL_SECONDS = 10.0
QUIET = 0.1
BEFORE, AFTER = 0.07, 0.07  # s searched around a tracked beat for its attack


@dataclass(frozen=True)
class Beats:
    """times: beat times in s (sorted, float64); tempo in BPM or None; reason: why there are none ("" if some);
    clarity: the pulse's autocorrelation at one beat period (0-1)."""

    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tempo: float | None = None
    reason: str = ""
    clarity: float = 0.0


def tempo_prior(pulse: np.ndarray) -> float:
    """librosa's tempo estimate, per TEMPO_CHUNK_SECONDS of pulse, their median (0 if none). The pulse is
    taken at half its rate (the larger of each two frames: no attack lost), librosa's own hop of 512 samples:
    its tempogram (an autocorrelation per frame) then costs half as much, and a prior needs no finer lag (the
    tempo is measured from the refined beats, step 6)."""
    lr = librosa()
    coarse = pulse[:len(pulse) // 2 * 2].reshape(-1, 2).max(1) if len(pulse) >= 2 else pulse
    step = int(TEMPO_CHUNK_SECONDS * RATE / (2 * HOP))
    estimates = []
    for first in range(0, len(coarse), step):
        chunk = coarse[first:first + step]
        if len(chunk) >= step // 4 or first == 0:
            if chunk.any():
                estimates.append(float(lr.feature.tempo(onset_envelope=chunk, sr=RATE, hop_length=2 * HOP)[0]))
    return float(np.median(estimates)) if estimates else 0.0


def in_range(bpm: float, tempo_range: tuple[float, float] | None) -> float:
    """`bpm` moved by octaves into [low, high] (see step 1), clipped to it when the range is under an octave."""
    if tempo_range is None or bpm <= 0:
        return bpm
    low, high = tempo_range
    while bpm > high and bpm / 2 >= low:
        bpm /= 2
    while bpm < low and bpm * 2 <= high:
        bpm *= 2
    return min(max(bpm, low), high)


def clarity(pulse: np.ndarray, period_frames: float) -> float:
    """max over lags within one frame of the period of corr(pulse[t], pulse[t + lag]), the mean removed."""
    x = pulse.astype(np.float64) - pulse.mean()
    energy = float(np.dot(x, x))
    best = 0.0
    for lag in range(max(1, int(period_frames) - 1), int(period_frames) + 3):
        if lag < len(x) and energy > 0:
            best = max(best, float(np.dot(x[:-lag], x[lag:])) / energy * len(x) / (len(x) - lag))
    return best


def refine(times: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """Each beat moved to the strongest attack in `fine` near it (see the module's step 4)."""
    if len(times) == 0:
        return times
    spacing = np.diff(times)
    out = times.copy()
    for i, t in enumerate(times):
        gap = np.median(spacing) if len(spacing) else 1.0
        lo = int(np.floor((t - min(BEFORE, gap / 5)) * RATE / FINE_HOP))
        hi = int(np.ceil((t + min(AFTER, gap / 5)) * RATE / FINE_HOP)) + 1
        lo, hi = max(lo, 0), min(hi, len(fine))
        if hi > lo:
            j = lo + int(np.argmax(fine[lo:hi]))
            if fine[j] >= MIN_ATTACK_DB:
                out[i] = j * FINE_HOP / RATE
    return np.maximum.accumulate(out)


def quiet_ends_dropped(frames: np.ndarray, pulse: np.ndarray) -> np.ndarray:
    """Without the leading and trailing beats whose pulse (its maximum within 50 ms) is under QUIET of the
    median over all beats: the programme keeps counting through a silent intro or outro. (librosa's own
    trimming compares with the whole song's beats and dropped the whole last part of songs whose parts
    differ in level.)"""
    if len(frames) == 0:
        return frames
    reach = max(1, round(0.05 * RATE / HOP))
    strength = np.array([pulse[max(0, f - reach):f + reach + 1].max(initial=0.0) for f in frames])
    loud = np.flatnonzero(strength >= QUIET * np.median(strength))
    return frames[loud[0]:loud[-1] + 1] if len(loud) else frames[:0]


def trim_ends(times: np.ndarray) -> np.ndarray:
    """Without a first or last beat whose interval to its neighbour is off the median interval by over 20 %:
    the dynamic programme's score is cut off at the ends of the song, and it places the end beats loosely."""
    while len(times) >= 4:
        typical = np.median(np.diff(times))
        if abs(times[1] - times[0] - typical) > 0.2 * typical:
            times = times[1:]
        elif abs(times[-1] - times[-2] - typical) > 0.2 * typical:
            times = times[:-1]
        else:
            break
    return times


def levelled(pulse: np.ndarray) -> np.ndarray:
    """pulse / (its RMS over the LEVEL_SECONDS around each frame + 0.1 * its RMS over the song)."""
    x = pulse.astype(np.float64)
    width = max(1, int(LEVEL_SECONDS * RATE / HOP))
    sums = np.concatenate([[0.0], np.cumsum(x * x)])
    i = np.arange(len(x))
    lo, hi = np.maximum(i - width // 2, 0), np.minimum(i + width // 2 + 1, len(x))
    local = np.sqrt((sums[hi] - sums[lo]) / (hi - lo))
    return x / (local + 0.1 * np.sqrt(sums[-1] / len(x)) + 1e-12)


def track_beats(pulse: np.ndarray, fine: np.ndarray, silent: bool = False,
                tempo_range: tuple[float, float] | None = None) -> Beats:
    if silent:
        return Beats(reason="the sound is silent: no beats")
    if not pulse.any():
        return Beats(reason="no onsets (a steady sound): no beats")
    prior = tempo_prior(pulse)
    if prior <= 0:
        return Beats(reason="no onsets: no beats")
    pulse_clarity = clarity(pulse, 60.0 / prior * RATE / HOP)  # at the tempo heard: the range picks an octave
    if pulse_clarity < MIN_CLARITY:
        return Beats(reason=f"no regular pulse (clarity {pulse_clarity:.2f} < {MIN_CLARITY}): speech, a drone, "
                            "free time or noise", clarity=pulse_clarity)
    _, frames = librosa().beat.beat_track(onset_envelope=levelled(pulse), sr=RATE, hop_length=HOP,
                                          bpm=in_range(prior, tempo_range), trim=False)
    frames = quiet_ends_dropped(np.asarray(frames, np.int64), pulse)
    times = trim_ends(refine(frames.astype(np.float64) * HOP / RATE, fine))
    if len(times) < 2:
        return Beats(reason="fewer than two beats found", clarity=pulse_clarity)
    intervals = np.diff(times)
    typical = intervals[np.abs(intervals - np.median(intervals)) <= 0.1 * np.median(intervals)]
    return Beats(times=times, tempo=60.0 / float(typical.mean()), clarity=pulse_clarity)
