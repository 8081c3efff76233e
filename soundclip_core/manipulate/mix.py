"""Style mixing: some W+ layers from one latent, the rest from another."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import SoundClipError
from .layers import parse_layers


def style_mix(w_a: torch.Tensor, w_b: torch.Tensor, layers: str | Sequence[float] | torch.Tensor) -> torch.Tensor:
    """w_a, w_b [B|1, num_ws, w_dim]. `layers`: a spec ("0-8": those layers from w_a, the rest from w_b)
    or one weight a_l in [0, 1] per layer (w = a_l * w_a + (1 - a_l) * w_b)."""
    if w_a.shape[1:] != w_b.shape[1:]:
        raise SoundClipError(f"cannot mix latents of shapes {tuple(w_a.shape)} and {tuple(w_b.shape)}",
                             fix="mix latents made with the same generator")
    num_ws = w_a.shape[1]
    if isinstance(layers, str):
        weights = torch.zeros(num_ws)
        weights[parse_layers(layers, num_ws)] = 1.0
    else:
        weights = torch.as_tensor(layers, dtype=torch.float32).flatten()
        if weights.numel() != num_ws or not bool(((weights >= 0) & (weights <= 1)).all()):
            raise SoundClipError(f"need {num_ws} layer weights in [0, 1], got {weights.tolist()}",
                                 fix=f"give {num_ws} numbers from 0 (all from b) to 1 (all from a)")
    a = weights.to(w_a.device, w_a.dtype)[None, :, None]
    return torch.where(a == 1, w_a, torch.where(a == 0, w_b, a * w_a + (1 - a) * w_b))
