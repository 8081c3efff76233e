"""Kaldi-compatible log-mel filterbank (`compute-fbank-feats`), batched, without torchaudio.

ImageBind (and AST before it) feed `torchaudio.compliance.kaldi.fbank` features to their audio
trunks; torchaudio no longer pairs with current torch, so the same numbers are computed here.
Kaldi's steps run on all frames of all clips at once (a strided view, no copy per clip): remove
each frame's DC offset, pre-emphasis, window, one batched real FFT zero-padded to a power of two,
the power, one matrix product with the mel banks, the log, the steps before the FFT in place in the FFT's
zero-padded buffer (a 60 s sound's frames are 12 MB in float32: each copy skipped is time): about half of torchaudio's
time for ImageBind's three clips and for a single 10-60 s sound (benchmarks/encoders.py). (A DFT folded with
the linear steps into one analysis matrix was tried: one matmul, but ~40x the FFT's arithmetic and many times
slower.) The mel banks are built in float32 as Kaldi's (torchaudio's) code builds them, because which FFT
bin falls into which band is decided at that precision (with ImageBind's settings band 3 holds none).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from ..errors import SoundClipError

EPSILON = float(torch.finfo(torch.float32).eps)  # Kaldi's floor on the mel energies before the log
WINDOWS = ("povey", "hanning", "hamming", "rectangular")


def mel_scale(freq: torch.Tensor | float) -> torch.Tensor | float:
    """Kaldi's mel scale, 1127 ln(1 + f / 700)."""
    if isinstance(freq, torch.Tensor):
        return 1127.0 * (1.0 + freq / 700.0).log()
    return 1127.0 * math.log(1.0 + freq / 700.0)


@lru_cache(maxsize=8)
def mel_banks(num_bins: int, padded_window: int, sample_rate: float, low_freq: float,
              high_freq: float) -> torch.Tensor:
    """Triangular mel filters [num_bins, padded_window // 2] over the FFT bins below Nyquist (Kaldi gives
    the Nyquist bin no weight), in float32 like Kaldi's `get_mel_banks`: `high_freq <= 0` is an offset
    from Nyquist; band b spans mel(low) + (b, b+1, b+2) * delta, delta = (mel(high) - mel(low)) / (bins + 1).
    Cached: callers must not modify the tensor."""
    nyquist = 0.5 * sample_rate
    high_freq = high_freq + nyquist if high_freq <= 0.0 else high_freq
    if not 0.0 <= low_freq < high_freq <= nyquist:
        raise SoundClipError(f"mel bands from {low_freq} Hz to {high_freq} Hz do not fit a {sample_rate} Hz signal",
                             fix="choose 0 <= low_freq < high_freq <= sample_rate / 2")
    mel_low, mel_high = mel_scale(low_freq), mel_scale(high_freq)
    delta = (mel_high - mel_low) / (num_bins + 1)
    band = torch.arange(num_bins).unsqueeze(1)
    left, centre, right = (mel_low + (band + offset) * delta for offset in (0.0, 1.0, 2.0))  # float32
    mel = mel_scale((sample_rate / padded_window) * torch.arange(padded_window // 2)).unsqueeze(0)
    up, down = (mel - left) / (centre - left), (right - mel) / (right - centre)
    return torch.minimum(up, down).clamp_min(0.0)


@lru_cache(maxsize=8)
def frame_window(kind: str, size: int) -> torch.Tensor:
    """Kaldi's window functions in float64 (symmetric: they reach the frame's last sample); cached, read-only."""
    n = torch.arange(size, dtype=torch.float64)
    hann = 0.5 - 0.5 * torch.cos(2 * math.pi * n / (size - 1))
    windows = {"hanning": lambda: hann, "povey": lambda: hann.pow(0.85),
               "hamming": lambda: 0.54 - 0.46 * torch.cos(2 * math.pi * n / (size - 1)),
               "rectangular": lambda: torch.ones(size, dtype=torch.float64)}
    if kind not in windows:
        raise SoundClipError(f"unknown Kaldi window '{kind}'", fix=f"use one of {', '.join(WINDOWS)}")
    return windows[kind]()


def kaldi_fbank(waveforms: torch.Tensor, *, sample_rate: float = 16000.0, num_mel_bins: int = 23,
                frame_length_ms: float = 25.0, frame_shift_ms: float = 10.0, window: str = "povey",
                preemphasis: float = 0.97, low_freq: float = 20.0, high_freq: float = 0.0,
                remove_dc_offset: bool = True) -> torch.Tensor:
    """Waveforms [B, N] -> log-mel energies [B, frames, num_mel_bins], as Kaldi's fbank with dither 0, snip
    edges, power spectrum, FFT size rounded up to a power of two and no energy column: frames of
    `frame_length_ms` every `frame_shift_ms` that fit in the clip, log(max(energy, float32 epsilon)).
    The arithmetic runs in the waveforms' float dtype (float32 or float64)."""
    size = int(sample_rate * frame_length_ms * 0.001)
    shift = int(sample_rate * frame_shift_ms * 0.001)
    if waveforms.ndim != 2 or waveforms.shape[-1] < size or size < 2 or shift < 1:
        raise SoundClipError(f"a Kaldi filterbank needs clips [B, N] of at least one {frame_length_ms} ms frame "
                             f"({size} samples), got {tuple(waveforms.shape)}",
                             fix="pad short sounds before computing their filterbank")
    padded = 1 << (size - 1).bit_length()
    dtype = waveforms.dtype if waveforms.dtype in (torch.float32, torch.float64) else torch.float32
    frames = waveforms.to(dtype).unfold(-1, size, shift)  # [B, frames, size], a view
    # every step writes into one zero-padded buffer that the FFT reads as is (no per-step copies), in Kaldi's order
    out = frames.new_empty(*frames.shape[:-1], padded)
    out[..., size:] = 0.0
    body = out[..., :size]
    if remove_dc_offset:
        torch.sub(frames, frames.mean(dim=-1, keepdim=True), out=body)
    else:
        body.copy_(frames)
    if preemphasis:  # y[j] = x[j] - c x[max(0, j - 1)]: the shifted term is read before the frame is overwritten
        body[..., 1:] -= preemphasis * body[..., :-1]
        body[..., :1] *= 1 - preemphasis
    body *= frame_window(window, size).to(waveforms.device, dtype)
    spectrum = torch.view_as_real(torch.fft.rfft(out)[..., :padded // 2])  # Nyquist: no band weighs it
    power = spectrum.square_().sum(-1)
    banks = mel_banks(num_mel_bins, padded, sample_rate, low_freq, high_freq).to(waveforms.device, dtype)
    return (power @ banks.t()).clamp_min_(EPSILON).log_()
