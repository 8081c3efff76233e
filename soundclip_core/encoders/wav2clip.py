"""Wav2CLIP (Wu et al. 2022): a 1-channel ResNet18 on a standardised log spectrogram, then an MLP.

Module names (`audio_encoder.*` with torchvision/timm ResNet names, `audio_transform.sequential.{0,3}`)
match the released `Wav2CLIP.pt`; its constant `audio_encoder.spectrogram.window` is recomputed here.
"""

from __future__ import annotations

import torch
from torch import nn

from ..optional import require


class MLPTransform(nn.Module):
    """Linear -> ReLU -> Dropout -> Linear (the official MLP with its last ReLU/Dropout dropped)."""

    def __init__(self, dim: int = 512):
        super().__init__()
        self.sequential = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(0.1), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sequential(x)


class Wav2CLIPNet(nn.Module):
    def __init__(self, embed_dim: int = 512, n_fft: int = 512, hop_length: int = 353):
        super().__init__()
        timm = require("timm", "the Wav2CLIP audio encoder")
        self.audio_encoder = timm.create_model("resnet18", in_chans=1, num_classes=0, pretrained=False)
        self.audio_transform = MLPTransform(embed_dim)
        self.n_fft, self.hop_length = n_fft, hop_length
        self.embed_dim = embed_dim

    def spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """[N, T] -> standardised log power spectrogram [N, 1, F, frames] (what the official
        `torchaudio.transforms.Spectrogram(n_fft, hop_length)` computes with its defaults: periodic Hann,
        centred, reflect padding, power 2), each clip standardised on its own."""
        window = torch.hann_window(self.n_fft, device=waveforms.device)
        spec = torch.stft(waveforms, self.n_fft, self.hop_length, window=window, center=True, pad_mode="reflect",
                          return_complex=True).abs().square()
        spec = torch.log(spec + 1e-7)
        mean = spec.mean(dim=(1, 2), keepdim=True)
        std = spec.flatten(1).std(dim=1)[:, None, None]
        return ((spec - mean) / (std + 1e-9))[:, None]

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.audio_transform(self.audio_encoder(self.spectrogram(waveforms)))
