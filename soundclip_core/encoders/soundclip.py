"""The paper's audio encoder: Conv2d(1, 3, 3) then timm resnet18 with a 512-d head.

Module names (`conv`, `feature_extractor`) match the released `resnet18_57.pth`."""

from __future__ import annotations

import torch
from torch import nn

from ..optional import require
from .frontends import soundclip_image, soundclip_mel, window_starts


class SoundCLIPNet(nn.Module):
    def __init__(self, embed_dim: int = 512):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, (3, 3))
        timm = require("timm", "the SoundCLIP audio encoder")
        self.feature_extractor = timm.create_model("resnet18", num_classes=embed_dim, pretrained=False)
        self.embed_dim = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_extractor(self.conv(x))


def soundclip_inputs(mono: torch.Tensor, cfg: dict, long_clip: str, window_start: float) -> torch.Tensor:
    """Mono waveform [T] at 44.1 kHz -> encoder inputs [N_windows, 1, 128, 512]."""
    mel = soundclip_mel(mono, cfg)
    start = round(window_start * cfg["sample_rate"] / cfg["hop_length"])
    starts = window_starts(mel.shape[1], cfg["frames"], long_clip, start)
    return torch.cat([soundclip_image(mel, s, cfg) for s in starts])
