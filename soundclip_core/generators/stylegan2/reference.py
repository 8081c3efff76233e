"""A plain, literal synthesis pass: per-sample weight modulation and explicit FIR up-sampling.

The twin of `Generator.synthesis`, used by the tests (fast == literal) and as the baseline
in benchmarks/generator.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import ops
from .networks import Generator, StyledConv, ToRGB


def _conv(layer: StyledConv, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    conv = layer.conv
    x = ops.modulated_conv2d_reference(x, conv.weight[0] * conv.scale, conv.modulation(w), True, conv.up)
    if noise is not None:
        x = x + noise * layer.noise.weight
    x = F.leaky_relu(x + layer.activate.bias[None, :, None, None], 0.2) * math.sqrt(2)
    return x.clamp(-layer.clamp, layer.clamp) if layer.clamp is not None else x


def _rgb(layer: ToRGB, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
    conv = layer.conv
    rgb = ops.modulated_conv2d_reference(x, conv.weight[0] * conv.scale, conv.modulation(w), False) + layer.bias
    if layer.clamp is not None:
        rgb = rgb.clamp(-layer.clamp, layer.clamp)
    if skip is None:
        return rgb
    return rgb + ops.upfirdn2d_reference(skip, ops.blur_kernel(skip.device) * 4, up=2, pad=(2, 1))


def synthesis_reference(g: Generator, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
    """Same contract as `Generator.synthesis` (const / none noise)."""
    def noise(k: int):
        return None if noise_mode == "none" else getattr(g.noises, f"noise_{k}")

    x = g.input.input.expand(ws.shape[0], -1, -1, -1)
    x = _conv(g.conv1, x, ws[:, 0], noise(0))
    img = _rgb(g.to_rgb1, x, ws[:, 1], None)
    for level, to_rgb in enumerate(g.to_rgbs):
        i = 2 * level + 1
        x = _conv(g.convs[2 * level], x, ws[:, i], noise(i))
        x = _conv(g.convs[2 * level + 1], x, ws[:, i + 1], noise(i + 1))
        img = _rgb(to_rgb, x, ws[:, i + 2], img)
    return img
