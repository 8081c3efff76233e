"""Audio frontends, matching the official inference code numerically.

`soundclip_mel` reproduces `librosa.feature.melspectrogram` (librosa 0.8.1 as pinned by
the official environment: n_fft 2048, hop 512, periodic Hann, centred with reflect
padding, power 2, Slaney mel scale and norm) followed by `power_to_db(ref=max,
top_db=80) / 80 + 1`, and the crop/pad + `cv2.resize(..., (128, 512))` + reshape quirk.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def hz_to_slaney_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    linear = hz / (200.0 / 3)
    log = 15.0 + torch.log(hz.clamp_min(1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(hz >= 1000.0, log, linear)


def slaney_mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return torch.where(mel >= 15.0, 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def slaney_mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None,
                          ) -> torch.Tensor:
    """librosa.filters.mel(sr, n_fft, n_mels) as float64 [n_mels, n_fft // 2 + 1]: triangles between mel-spaced
    edges on the FFT bin frequencies, each scaled to unit area (norm='slaney')."""
    fmax = sr / 2 if fmax is None else fmax
    freqs = torch.linspace(0, sr / 2, n_fft // 2 + 1, dtype=torch.float64)
    bounds = hz_to_slaney_mel(torch.tensor([fmin, fmax], dtype=torch.float64))
    edges = slaney_mel_to_hz(torch.linspace(float(bounds[0]), float(bounds[1]), n_mels + 2, dtype=torch.float64))
    lower = (freqs[None] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    upper = (edges[2:, None] - freqs[None]) / (edges[2:] - edges[1:-1])[:, None]
    triangles = torch.minimum(lower, upper).clamp_min(0)
    return triangles * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def soundclip_mel(y: torch.Tensor, cfg: dict) -> torch.Tensor:
    """Mono waveform [T] at cfg['sample_rate'] -> scaled log-mel [n_mels, frames] in [0, 1]."""
    n_fft, hop, sr = cfg["n_fft"], cfg["hop_length"], cfg["sample_rate"]
    if y.shape[-1] <= n_fft // 2:  # reflect padding needs more samples than half a window
        y = F.pad(y, (0, n_fft // 2 + 1 - y.shape[-1]))
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device=y.device)
    spec = torch.stft(y.double(), n_fft, hop, window=window, center=True, pad_mode="reflect",
                      return_complex=True).abs().square()
    mel = slaney_mel_filterbank(sr, n_fft, cfg["n_mels"]).to(spec) @ spec
    db = 10 * torch.log10(mel.clamp_min(1e-10)) - 10 * math.log10(max(1e-10, float(mel.max())))
    db = torch.maximum(db, db.max() - cfg["top_db"])
    return (db / cfg["top_db"] + 1).float()


def window_starts(total: int, window: int, long_clip: str, start: int) -> list[int]:
    """Start frames of the windows to encode: one (padded or at `start`) or evenly spaced ones."""
    if total <= window:
        return [0]
    if long_clip == "window":
        return [min(max(start, 0), total - window)]
    count = math.ceil(total / window)
    return [round(i * (total - window) / (count - 1)) for i in range(count)] if count > 1 else [0]


def soundclip_image(mel: torch.Tensor, first: int, cfg: dict) -> torch.Tensor:
    """One encoder input [1, 1, n_mels, resize_h * resize_w / n_mels] from a window of the log-mel, as the
    official script: zero-pad/crop to `frames`, bilinear resize to (resize_h x resize_w),
    then *reshape* (not transpose)."""
    frames = cfg["frames"]
    window = mel[:, first:first + frames]
    if window.shape[1] < frames:
        window = F.pad(window, (0, frames - window.shape[1]))
    height, width = cfg["resize"]
    resized = F.interpolate(window[None, None], size=(height, width), mode="bilinear", align_corners=False)
    return resized.reshape(1, 1, cfg["n_mels"], -1)  # [1, 1, 128, 512] for the paper's (512, 128)


def waveform_windows(mono: torch.Tensor, cfg: dict, long_clip: str, window_start: float) -> torch.Tensor:
    """Mono waveform [T] -> windows [N, T_w] of at most `window_seconds` (the whole clip if shorter),
    for encoders that take raw audio of any length (Wav2CLIP, AudioCLIP)."""
    size = int(cfg["window_seconds"] * cfg["sample_rate"])
    starts = window_starts(mono.shape[0], size, long_clip, int(window_start * cfg["sample_rate"]))
    return torch.stack([mono[s:s + size] for s in starts])
