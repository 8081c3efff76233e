"""Shaping a curve (one value per video frame) before it drives anything: `Envelope(...).apply(curve, fps)`.

The steps, in this order, each a function of its own (x: the curve, n: frame index, fps: frames per second):

1. normalise, "song": (x - min) / (max - min) over the whole curve; "window": the same with the min and max
   of the `window` seconds centred on each frame (edges: the frames there are); "none": as it is. A flat
   stretch (max = min) gives 0.
2. gate: clip((x - threshold) / (ceiling - threshold), 0, 1): at or under the threshold 0, at or over the
   ceiling 1, linear between.
3. follow (attack, hold, release in seconds): e_n = e_{n-1} + a (x_n - e_{n-1}) while x_n >= e_{n-1}, with
   a = 1 - exp(-1 / (attack fps)) (1 when attack is 0); once x falls under e, e stays for hold seconds
   (round(hold fps) frames), then e_n = e_{n-1} + r (x_n - e_{n-1}), r = 1 - exp(-1 / (release fps))
   (1 when release is 0). e_0 = x_0. All 0: the curve as it is.
4. smooth (seconds): a Gaussian of standard deviation `smoothing` seconds (smoothing fps frames), cut at
   3 standard deviations, weights summing to 1, the edge values repeated beyond the ends. 0: none.
5. gamma: x ** gamma (x >= 0 by now): under 1 lifts quiet parts, over 1 keeps only the peaks.
6. invert: 1 - x.

Bad parameters (attack < 0, threshold >= ceiling, ...) are one AnalysisError naming the values and the fix,
raised when the Envelope is made, before any curve is shaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import AnalysisError

NORMALISE = ("song", "window", "none")


def normalise_song(x: np.ndarray) -> np.ndarray:
    low, high = float(x.min()), float(x.max())
    return (x - low) / (high - low) if high > low else np.zeros_like(x)


def normalise_window(x: np.ndarray, frames: int) -> np.ndarray:
    half = max(0, frames // 2)
    padded = np.pad(x, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    low, high = windows.min(1), windows.max(1)
    span = high - low
    return np.where(span > 0, (x - low) / np.where(span > 0, span, 1), 0.0)


def gate(x: np.ndarray, threshold: float, ceiling: float) -> np.ndarray:
    return np.clip((x - threshold) / (ceiling - threshold), 0.0, 1.0)


def _coefficient(seconds: float, fps: float) -> float:
    return 1.0 if seconds <= 0 else 1.0 - math.exp(-1.0 / (seconds * fps))


def follow(x: np.ndarray, fps: float, attack: float, hold: float, release: float) -> np.ndarray:
    if len(x) == 0:
        return x.copy()
    rise, fall, hold_frames = _coefficient(attack, fps), _coefficient(release, fps), round(hold * fps)
    out = np.empty_like(x)
    state, held = float(x[0]), 0
    for n, value in enumerate(x.tolist()):
        if value >= state:
            state += rise * (value - state)
            held = 0
        elif held < hold_frames:
            held += 1
        else:
            state += fall * (value - state)
        out[n] = state
    return out


def smooth(x: np.ndarray, fps: float, seconds: float) -> np.ndarray:
    sigma = seconds * fps
    if sigma <= 0 or len(x) == 0:
        return x.copy()
    radius = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    return np.convolve(np.pad(x, radius, mode="edge"), kernel, mode="valid")


def _bad(problem: str, fix: str) -> AnalysisError:
    return AnalysisError(f"envelope: {problem}", fix=fix)


@dataclass(frozen=True)
class Envelope:
    """The shaping of one curve (see the module doc). Times in seconds; threshold and ceiling on the
    normalised curve (0-1)."""

    normalise: str = "song"
    window: float = 10.0
    threshold: float = 0.0
    ceiling: float = 1.0
    attack: float = 0.0
    hold: float = 0.0
    release: float = 0.0
    smoothing: float = 0.0
    gamma: float = 1.0
    invert: bool = False

    def __post_init__(self) -> None:
        if self.normalise not in NORMALISE:
            raise _bad(f"normalise must be one of {', '.join(NORMALISE)}, not {self.normalise!r}",
                       "use 'song' (the whole curve's range), 'window' (a moving range) or 'none'")
        for name in ("window", "threshold", "ceiling", "attack", "hold", "release", "smoothing", "gamma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise _bad(f"{name} must be a finite number, got {value!r}", f"give {name} as a number")
        for name in ("attack", "hold", "release", "smoothing"):
            if getattr(self, name) < 0:
                raise _bad(f"{name} is {getattr(self, name):g} s; a time cannot be negative",
                           f"use {name} 0 (none) or a positive number of seconds, e.g. 0.05")
        if not 0 <= self.threshold < self.ceiling <= 1:
            raise _bad(f"needs 0 <= threshold < ceiling <= 1, got threshold {self.threshold:g} and ceiling "
                       f"{self.ceiling:g}", "use e.g. threshold 0.2 and ceiling 1 (the curve is normalised to 0-1)")
        if self.gamma <= 0:
            raise _bad(f"gamma must be above 0, got {self.gamma:g}",
                       "use 1 (unchanged), under 1 to lift quiet parts, over 1 to keep only peaks")
        if self.normalise == "window" and self.window <= 0:
            raise _bad(f"the normalisation window is {self.window:g} s", "use a window of a few seconds, e.g. 10")

    def apply(self, curve, fps: float) -> np.ndarray:
        """The shaped curve, float32 [frames]."""
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise _bad(f"fps must be a positive number, got {fps!r}", "use the video's frame rate, e.g. 24")
        x = np.asarray(curve, np.float64).reshape(-1)
        if not np.isfinite(x).all():
            raise _bad("the curve holds NaN or infinite values", "shape a curve made by the analysis")
        if self.normalise == "song":
            x = normalise_song(x)
        elif self.normalise == "window":
            x = normalise_window(x, max(1, round(self.window * fps)))
        x = gate(x, self.threshold, self.ceiling)
        x = follow(x, fps, self.attack, self.hold, self.release)
        x = smooth(x, fps, self.smoothing)
        x = np.maximum(x, 0.0) ** self.gamma
        if self.invert:
            x = 1.0 - x
        return x.astype(np.float32)
