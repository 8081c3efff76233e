"""Training views of a cached log-mel: the official crop/pad, resize + reshape, and SpecAugment.

Official `datasets.py`: a log-mel of w frames becomes a window of `frames` (864): a random crop when
w >= frames, else zero padding at a random offset j in [0, frames - w - 1] (its randint bound); then
cv2.resize to (512 x 128) and a raw reshape to (1, 128, 512). SpecAugment runs on the (512 x 128)
array *before* that reshape: 2 masks, each zeroing a band of up to 15 % of the 128 columns ("freq",
which after the resize are the time-derived axis: a quirk) and one of up to 30 % of the 512 rows
("time", the mel-derived axis). (The official VGGSound loader also resizes twice, leaving only the
lowest mel band's envelope: a bug we do not reproduce.) The randomness of every sample comes from its
own generator, seeded by (seed, epoch, index), so a sample's view does not depend on which process or
worker draws it: DDP and single-process runs see the same views.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NUM_MASKS = 2
FREQ_FRACTION = 0.15
TIME_FRACTION = 0.30


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


def crop_or_pad(mel: np.ndarray, frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """[n_mels, w] -> [n_mels, frames]: random crop/pad offset (training), left-aligned without `rng` (eval)."""
    width = mel.shape[1]
    if width >= frames:
        start = 0 if rng is None else int(rng.integers(0, width - frames + 1))
        return mel[:, start:start + frames]
    offset = 0 if rng is None else int(rng.integers(0, max(frames - width - 1, 0) + 1))
    out = np.zeros((mel.shape[0], frames), dtype=mel.dtype)
    out[:, offset:offset + width] = mel
    return out


def sample_bands(rng: np.random.Generator, rows: int, cols: int, masks: int = NUM_MASKS,
                 col_fraction: float = FREQ_FRACTION, row_fraction: float = TIME_FRACTION) -> np.ndarray:
    """[masks, 4] int64 (col start, col width, row start, row width) for the resized [rows x cols] array,
    drawn as the official spec_augment: width = int(U(0, fraction) * size), start = int(U(0, size - width))."""
    bands = np.zeros((masks, 4), dtype=np.int64)
    for m in range(masks):
        col_width = int(rng.uniform(0, col_fraction) * cols)
        col_start = int(rng.uniform(0, cols - col_width))
        row_width = int(rng.uniform(0, row_fraction) * rows)
        bands[m] = (col_start, col_width, int(rng.uniform(0, rows - row_width)), row_width)
    return bands


def band_mask(size: int, starts: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """[B, masks] starts/widths -> bool [B, size], true inside any band."""
    positions = torch.arange(size, device=starts.device)[None, None]
    inside = (positions >= starts[..., None]) & (positions < (starts + widths)[..., None])
    return inside.any(dim=1)


def resize(windows: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Windows [B, n_mels, frames] -> [B, H, W] by bilinear resizing (cv2.INTER_LINEAR's sampling)."""
    return F.interpolate(windows[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]


def spec_augment(resized: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
    """Zero the bands [B, masks, 4] (col start, col width, row start, row width) of resized [B, H, W]."""
    cols = band_mask(resized.shape[2], bands[..., 0], bands[..., 1])
    rows = band_mask(resized.shape[1], bands[..., 2], bands[..., 3])
    keep = ~(rows[:, :, None] | cols[:, None, :])
    return resized * keep


def encoder_input(resized: torch.Tensor, n_mels: int) -> torch.Tensor:
    """[B, H, W] -> [B, 1, n_mels, H * W / n_mels]: the official raw reshape (not a transpose)."""
    return resized.reshape(resized.shape[0], 1, n_mels, -1)
