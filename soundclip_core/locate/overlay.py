"""A heatmap drawn over its picture, for people to look at (the numbers stay in `Located`)."""

from __future__ import annotations

import torch

# a perceptually ordered ramp: dark blue (0) -> teal -> yellow -> red (1)
RAMP = torch.tensor([[0.05, 0.05, 0.45], [0.0, 0.6, 0.6], [1.0, 0.9, 0.1], [0.9, 0.1, 0.05]])


def colourise(heatmap: torch.Tensor) -> torch.Tensor:
    """[B, H, W] in [0, 1] -> [B, 3, H, W] colours in [0, 1], linear between the RAMP's stops."""
    position = heatmap.clamp(0, 1) * (RAMP.shape[0] - 1)
    low = position.floor().long().clamp(max=RAMP.shape[0] - 2)
    fraction = (position - low)[..., None]
    colours = RAMP[low] * (1 - fraction) + RAMP[low + 1] * fraction  # [B, H, W, 3]
    return colours.permute(0, 3, 1, 2)


def overlay(images: torch.Tensor, heatmap: torch.Tensor, opacity: float = 0.5) -> torch.Tensor:
    """Pictures [B, 3, H, W] in [-1, 1] with the coloured heatmap [B, H, W] blended over them at `opacity`."""
    pictures = (images.float().cpu() + 1) / 2
    blended = (1 - opacity) * pictures + opacity * colourise(heatmap.float().cpu())
    return blended * 2 - 1
