"""From analysis frames (centre j * HOP / RATE s, 86.1 per second) to video frames at any fps.

Video frame i spans [i / fps, (i + 1) / fps); its value is the mean (levels, colours) or the maximum
(onsets: a short attack must not be averaged away) of the analysis frames whose centres fall in that
span. A span holding none (fps above 86) takes the linear interpolation at its start time. There are
ceil(duration * fps) video frames, as many as the video renders (video.frames.frame_count).
"""

from __future__ import annotations

import numpy as np

from ..timing import frame_count, frame_rate
from .stream import HOP, RATE


def to_fps(curve: np.ndarray, fps: float, n_frames: int, reduce: str = "mean") -> np.ndarray:
    """curve [n] or [n, k] per analysis frame -> float32 [n_frames] or [n_frames, k] per video frame."""
    rate = frame_rate(fps)
    values = curve.reshape(len(curve), -1).astype(np.float64)
    centres = np.arange(len(values)) * HOP / RATE
    owner = np.floor(centres * rate.numerator / rate.denominator + 1e-9).astype(np.int64)
    inside = owner < n_frames
    owner, kept = owner[inside], values[inside]
    out = np.full((n_frames, values.shape[1]), np.nan)
    if reduce == "mean":
        counts = np.bincount(owner, minlength=n_frames)
        for k in range(values.shape[1]):
            sums = np.bincount(owner, kept[:, k], minlength=n_frames)
            out[:, k] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    elif reduce == "max":
        out[:] = -np.inf
        np.maximum.at(out, owner, kept)
        out[np.isneginf(out)] = np.nan
    else:
        raise ValueError(f"reduce must be 'mean' or 'max', not {reduce!r}")
    empty = np.isnan(out[:, 0])
    if empty.any() and len(values):
        starts = np.flatnonzero(empty) * rate.denominator / rate.numerator
        for k in range(values.shape[1]):
            out[empty, k] = np.interp(starts, centres, values[:, k])
    out = out.astype(np.float32)
    return out[:, 0] if curve.ndim == 1 else out


def video_frames(duration_samples: int, sample_rate: int, fps: float) -> int:
    return frame_count(duration_samples, sample_rate, fps)
