"""Video timing shared by everything that counts frames: the exact frame rate and the frame count of a sound.

Below both the video (which renders the frames) and the musical analysis (which gives one value per frame), so
that each counts frames the same way while the analysis never imports the video (the video imports it).

The frame rate is kept as an exact fraction (fps rounded to 1/1000, as ComfyUI's video writer does); a sound
of S samples at R Hz gives N = ceil(S * fps / R) frames, the fewest that cover every moment of the sound, so
the video ends less than one frame after the sound.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .errors import SoundClipError

MIN_FPS, MAX_FPS = 1.0, 120.0  # ComfyUI's CreateVideo accepts the same range


def frame_rate(fps: float) -> Fraction:
    """fps as the exact fraction the video stream uses; refuses zero, negative, NaN or absurd rates."""
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        fps = math.nan
    if not math.isfinite(fps) or not MIN_FPS <= fps <= MAX_FPS:
        raise SoundClipError(f"frame rate {fps} is outside {MIN_FPS:g}-{MAX_FPS:g} fps", fix="use e.g. 24, 25 or 30")
    return Fraction(round(fps * 1000), 1000)


def frame_count(samples: int, sample_rate: int, fps: float) -> int:
    """ceil(samples / sample_rate * fps), exactly (no float rounding at whole-frame durations)."""
    return max(1, math.ceil(Fraction(samples, sample_rate) * frame_rate(fps)))
