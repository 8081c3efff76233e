"""Downbeats (bars) from the accents at the beats, with a meter estimate, and no downloaded model.

The accent of beat i is z(onset_i) + z(level_i): the strongest onset (the `onset` curve) within 30 ms
before to 50 ms after the beat, and the loudest frame (`rms_db`) within 100 ms after it, each z-scored over
the beats. For each meter M in METERS and phase p < M, the contrast is

    (mean accent of beats p, p + M, p + 2M, ... - mean accent of the other beats) / std(accents),

weighted by METER_PRIOR (a small preference for 4, then 3: most songs; an accent every 4th beat also has
a contrast at M = 2, half as large). The best (M, p) gives the downbeats. Under MIN_CONTRAST there are no
accents to read (a flat click track, a drum loop without a strong 1): bars of 4 beats are counted from the
first beat, and `confident` is False. Fewer than two bars' worth of beats: no downbeats, with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .stream import HOP, RATE

METERS = (2, 3, 4)
METER_PRIOR = {2: 0.9, 3: 0.95, 4: 1.0}
MIN_CONTRAST = 0.5
DEFAULT_METER = 4


@dataclass(frozen=True)
class Bars:
    """downbeats: times in s of the first beat of each bar; meter: beats per bar (None if no downbeats);
    contrast: how much louder the downbeats are, in standard deviations of the accents; confident:
    contrast >= MIN_CONTRAST; reason: why there are none, or why they are a guess ("" otherwise)."""

    downbeats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    meter: int | None = None
    contrast: float = 0.0
    confident: bool = False
    reason: str = ""


def _window_max(curve: np.ndarray, times: np.ndarray, before: float, after: float) -> np.ndarray:
    out = np.empty(len(times))
    for i, t in enumerate(times):
        lo = max(0, int(np.floor((t - before) * RATE / HOP)))
        hi = min(len(curve), int(np.ceil((t + after) * RATE / HOP)) + 1)
        out[i] = curve[lo:hi].max() if hi > lo else 0.0
    return out


def _z(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-9 else np.zeros_like(values)


def accents(beats: np.ndarray, onset: np.ndarray, rms_db: np.ndarray) -> np.ndarray:
    return _z(_window_max(onset, beats, 0.03, 0.05)) + _z(_window_max(rms_db, beats, 0.0, 0.1))


def find_bars(beats: np.ndarray, onset: np.ndarray, rms_db: np.ndarray) -> Bars:
    if len(beats) < 2 * min(METERS):
        return Bars(reason=f"{len(beats)} beats are too few for bars")
    accent = accents(beats, onset, rms_db)
    spread = accent.std()
    best = (0.0, DEFAULT_METER, 0)
    for meter in METERS:
        if len(beats) < 2 * meter:
            continue
        for phase in range(meter):
            on = np.zeros(len(beats), bool)
            on[phase::meter] = True
            if spread > 1e-9 and on.any() and (~on).any():
                contrast = (accent[on].mean() - accent[~on].mean()) / spread * METER_PRIOR[meter]
                if contrast > best[0]:
                    best = (float(contrast), meter, phase)
    contrast, meter, phase = best
    if contrast < MIN_CONTRAST:
        return Bars(downbeats=beats[::DEFAULT_METER].copy(), meter=DEFAULT_METER, contrast=contrast,
                    reason=f"no accented beats (contrast {contrast:.2f} < {MIN_CONTRAST}): bars of "
                           f"{DEFAULT_METER} counted from the first beat")
    return Bars(downbeats=beats[phase::meter].copy(), meter=meter, contrast=contrast, confident=True)
