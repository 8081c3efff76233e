"""Onset times from an onset-strength curve (the whole band's, or one frequency band's): librosa's
peak picking with the parameters of its `onset_detect` (a peak is the largest value within 30 ms before
and 11.6 ms after, above the mean of the 100 ms before it by DELTA of the curve's range, 30 ms after the
previous onset), on the curve scaled to [0, 1] over the song.

A curve without a peak that rises MIN_RANGE above its floor (silence, or a band the sound has no energy in)
gives no onsets: scaling noise to [0, 1] would invent them.
"""

from __future__ import annotations

import numpy as np

from .backend import librosa
from .stream import HOP, RATE

DELTA = 0.07
MIN_RANGE = 1.0  # in the curve's units: dB for `onset`, log(1 + P / knee) for a band's onsets


def onset_times(curve: np.ndarray) -> np.ndarray:
    low, high = float(curve.min(initial=0.0)), float(curve.max(initial=0.0))
    if high - low < MIN_RANGE:
        return np.zeros(0)
    scaled = (curve.astype(np.float64) - low) / (high - low)
    frames_per_second = RATE / HOP
    peaks = librosa().util.peak_pick(scaled, pre_max=round(0.03 * frames_per_second), post_max=1,
                                     pre_avg=round(0.10 * frames_per_second), post_avg=1, delta=DELTA,
                                     wait=round(0.03 * frames_per_second))
    return np.asarray(peaks, np.float64) * HOP / RATE
