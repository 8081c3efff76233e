"""Percussive/harmonic separation (HPSS, Fitzgerald 2010), librosa's recipe in bounded memory.

STFT (N_FFT 2048, hop 512, Hann, centred); H = median of |S| over KERNEL frames along time, P = median over
KERNEL bins along frequency (edges mirrored); soft masks M_H = H² / (H² + (margin P)²) and
M_P = P² / (P² + (margin H)²) (librosa.decompose.hpss with power 2); each part is the ISTFT of its mask
times S, as long as the input. harmonic + percussive = the input when margin is 1.

The sound is processed in windows of WINDOW_SECONDS with CONTEXT_SECONDS of sound either side (more than
the median's reach, half a kernel = 0.37 s at 44.1 kHz, and the STFT's), keeping each window's centre:
memory is a few windows' worth besides input and output (the medians sort MEDIAN_BYTES of windows at a
time), and the result matches a whole-song run to float precision. float32 throughout, as librosa on
float32 sound. Medians run in torch (a k-th value over unfolded windows): as fast as the
scipy.ndimage.median_filter librosa uses, not faster (about 2.5 s per direction per minute of 22 kHz sound
on 2 shared cores, measured); the medians are the time HPSS takes.
"""

from __future__ import annotations

import torch

from ..audio import Audio
from ..errors import AnalysisError

N_FFT, HOP = 2048, 512
KERNEL = 31
WINDOW_SECONDS = 10.0
CONTEXT_SECONDS = 1.0


MEDIAN_BYTES = 64 * 2**20  # the unfolded windows the medians sort at a time


def _median(x: torch.Tensor, dim: int, kernel: int) -> torch.Tensor:
    """Running median of `kernel` values along `dim`, the edges mirrored (scipy's 'reflect': d c b a | a b c d),
    a block of rows at a time (the windows it sorts are `kernel` times the block)."""
    half = kernel // 2
    rows = x.movedim(dim, -1)
    shape = rows.shape
    rows = rows.reshape(-1, shape[-1])
    n = rows.shape[-1]
    index = torch.arange(-half, n + half)
    while bool(((index < 0) | (index >= n)).any()):  # mirror (again, if shorter than half a kernel)
        index = torch.where(index < 0, -index - 1, index)
        index = torch.where(index >= n, 2 * n - index - 1, index)
    out = torch.empty_like(rows)
    step = max(1, MEDIAN_BYTES // (n * kernel * rows.element_size()))
    for first in range(0, rows.shape[0], step):
        block = rows[first:first + step, index]
        out[first:first + step] = block.unfold(-1, kernel, 1).median(-1).values
    return out.reshape(shape).movedim(-1, dim)


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
            h, p = _separate(y[:, lo:hi], margin)
            keep = slice(first - lo, first - lo + min(step, total - first))
            harmonic[:, first:first + step] = h[:, keep]
            percussive[:, first:first + step] = p[:, keep]
    return audio._derived(harmonic), audio._derived(percussive)
