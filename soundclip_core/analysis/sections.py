"""Song sections: where the music changes, from a novelty curve on chroma and MFCC (harmony and timbre).

Frames are averaged into BLOCK_SECONDS blocks, and each of the 25 features (12 chroma, 13 MFCC) is
standardised over the song. At every block boundary i, with the `context` seconds before (P) and after (F):

    novelty_i = mean over features of (mean_P - mean_F)² / (var_P + var_F + 0.01)

a two-sample contrast: how far apart the two sides are, in units of their own spread (under 1/L for a
steady passage of L blocks; several where the music changes). Running sums make it O(blocks): memory and
time stay linear on a 3-hour mix (a self-similarity matrix would be quadratic). A boundary is a local
maximum of novelty over ±min_seconds that reaches `threshold` (or, with `count`, the count - 1 highest
such maxima). Sections are returned as their start times, the first 0.0.
"""

from __future__ import annotations

import numpy as np

from ..errors import AnalysisError
from .stream import HOP, RATE

BLOCK_SECONDS = 0.25
CONTEXT_SECONDS = 8.0
MIN_SECONDS = 4.0
THRESHOLD = 0.5


def novelty(features: np.ndarray, context_blocks: int) -> np.ndarray:
    """novelty [blocks] of standardised block features [blocks, d] (0 where a side has under 2 blocks)."""
    n = len(features)
    x = features.astype(np.float64)
    s1 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, 0)])
    s2 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x * x, 0)])
    i = np.arange(n + 1)
    lo, hi = np.maximum(i - context_blocks, 0), np.minimum(i + context_blocks, n)
    left, right = (i - lo)[:, None], (hi - i)[:, None]
    ok = (left[:, 0] >= 2) & (right[:, 0] >= 2)
    left, right = np.maximum(left, 1), np.maximum(right, 1)
    mean_p, mean_f = (s1[i] - s1[lo]) / left, (s1[hi] - s1[i]) / right
    var_p = np.maximum((s2[i] - s2[lo]) / left - mean_p ** 2, 0)
    var_f = np.maximum((s2[hi] - s2[i]) / right - mean_f ** 2, 0)
    score = ((mean_p - mean_f) ** 2 / (var_p + var_f + 0.01)).mean(1)
    return np.where(ok, score, 0.0)[:n]


def find_sections(chroma: np.ndarray, mfcc: np.ndarray, *, context: float = CONTEXT_SECONDS,
                  min_seconds: float = MIN_SECONDS, threshold: float = THRESHOLD,
                  count: int | None = None) -> np.ndarray:
    """Section start times in s (float64, sorted, first 0.0) from per-frame chroma [n, 12] and mfcc [n, 13]."""
    if not (context > 0 and min_seconds > 0 and threshold >= 0) or (count is not None and count < 1):
        raise AnalysisError(f"sections need context > 0 s, min_seconds > 0 s, threshold >= 0 and count >= 1 "
                            f"(got {context}, {min_seconds}, {threshold}, {count})",
                            fix="use e.g. context 8, min_seconds 4, threshold 0.5, count None (automatic)")
    per_block = max(1, round(BLOCK_SECONDS * RATE / HOP))
    frames = np.concatenate([chroma, mfcc], 1)
    blocks = len(frames) // per_block
    if blocks < 4:
        return np.zeros(1)
    x = frames[:blocks * per_block].reshape(blocks, per_block, -1).mean(1, dtype=np.float64)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)
    block_seconds = per_block * HOP / RATE
    score = novelty(x, max(2, round(context / block_seconds)))
    reach = max(1, round(min_seconds / block_seconds))
    padded = np.pad(score, reach, constant_values=-1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1)
    peaks = np.flatnonzero((score >= windows.max(1)) & (score > 0))
    peaks = peaks[np.argsort(-score[peaks], kind="stable")]
    chosen = peaks[:count - 1] if count is not None else peaks[score[peaks] >= threshold]
    kept: list[int] = []  # equal neighbours of a plateau: keep the first, drop those within reach
    for p in chosen:
        if all(abs(p - k) >= reach for k in kept):
            kept.append(int(p))
    return np.concatenate([[0.0], np.sort(np.array(kept, np.float64)) * block_seconds])
