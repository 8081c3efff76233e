"""Percussive/harmonic separation (HPSS, Fitzgerald 2010), librosa's recipe in bounded memory.

STFT (N_FFT 2048, hop 512, Hann, centred); H = median of |S| over KERNEL frames along time, P = median over
KERNEL bins along frequency (edges mirrored); soft masks M_H = H² / (H² + (margin P)²) and
M_P = P² / (P² + (margin H)²) (librosa.decompose.hpss with power 2); each part is the ISTFT of its mask
times S, as long as the input. harmonic + percussive = the input when margin is 1.

The sound is processed in windows of WINDOW_SECONDS with CONTEXT_SECONDS of sound either side (more than
the median's reach, half a kernel = 0.37 s at 44.1 kHz, and the STFT's), keeping each window's centre:
memory is a few windows' worth besides input and output, and the result matches a whole-song run to float
precision. Medians run in torch (a k-th value over unfolded windows): as fast as the
scipy.ndimage.median_filter librosa uses, not faster (about 2.5 s per direction per minute of 22 kHz sound
on 2 shared cores, measured); the medians are the time HPSS takes.
"""

from __future__ import annotations

import torch

from ..audio import Audio
from ..errors import AnalysisError

N_FFT, HOP = 2048, 512
KERNEL = 31
WINDOW_SECONDS = 30.0
CONTEXT_SECONDS = 1.0


def _median(x: torch.Tensor, dim: int, kernel: int) -> torch.Tensor:
    """Running median of `kernel` values along `dim`, the edges mirrored (scipy's 'reflect': d c b a | a b c d)."""
    half = kernel // 2
    n = x.shape[dim]
    left = x.narrow(dim, 0, min(half, n)).flip(dim)
    right = x.narrow(dim, max(n - half, 0), min(half, n)).flip(dim)
    while left.shape[dim] < half:  # shorter than half a kernel: mirror again
        left = torch.cat([left, left], dim).narrow(dim, 0, half)
        right = torch.cat([right, right], dim).narrow(dim, 0, half)
    padded = torch.cat([left, x, right], dim)
    return padded.unfold(dim, kernel, 1).median(-1).values


def _separate(y: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """y [C, T] -> (harmonic, percussive) [C, T], in one piece."""
    window = torch.hann_window(N_FFT, dtype=y.dtype)
    spec = torch.stft(y, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True)
    magnitude = spec.abs()
    harmonic = _median(magnitude, -1, KERNEL).square()
    percussive = _median(magnitude, -2, KERNEL).square()
    margin2 = margin * margin
    mask_h = harmonic / (harmonic + margin2 * percussive).clamp_min(1e-20)
    mask_p = percussive / (percussive + margin2 * harmonic).clamp_min(1e-20)
    both = torch.stack([spec * mask_h, spec * mask_p])  # [2, C, F, frames]
    out = torch.istft(both.flatten(0, 1), N_FFT, HOP, window=window, center=True, length=y.shape[-1])
    return out[:y.shape[0]], out[y.shape[0]:]


def hpss(audio: Audio, margin: float = 1.0, window_seconds: float = WINDOW_SECONDS) -> tuple[Audio, Audio]:
    """(harmonic, percussive) parts of `audio`, each an Audio of its rate and channels."""
    if not (margin >= 1.0 and window_seconds > 0):
        raise AnalysisError(f"HPSS needs margin >= 1 and window_seconds > 0 (got {margin}, {window_seconds})",
                            fix="use margin 1 (parts that add up to the sound) or more (cleaner parts), "
                                "window_seconds 30")
    y = audio.waveform
    total = y.shape[-1]
    # windows start on the whole song's STFT frames (multiples of HOP), so each frame sees the same samples
    step = max(1, round(window_seconds * audio.sample_rate / HOP)) * HOP
    context = (int(CONTEXT_SECONDS * audio.sample_rate) // HOP + N_FFT // HOP) * HOP
    harmonic, percussive = torch.empty_like(y), torch.empty_like(y)
    with torch.inference_mode():
        for first in range(0, total, step):
            lo, hi = max(0, first - context), min(total, first + step + context)
            h, p = _separate(y[:, lo:hi].double(), margin)
            keep = slice(first - lo, first - lo + min(step, total - first))
            harmonic[:, first:first + step] = h[:, keep].float()
            percussive[:, first:first + step] = p[:, keep].float()
    return audio._derived(harmonic), audio._derived(percussive)
