"""The StyleGAN2 generator (Karras et al. 2020), config-f "skip" architecture.

Parameter names follow rosinality's stylegan2-pytorch state dict (the format most
community checkpoints use), so that format loads as is and NVIDIA's is renamed onto it.
Synthesis of a frozen generator (every loader freezes it) runs channels_last through the fused
styled conv in `styled_conv.py`; layers whose weights need gradients use the literal formulas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ... import runtime
from .. import modconv, winograd
from ..base import GeneratorBase, StyleLayer
from ..derived import derived
from ..mapping import EqualLinear
from . import ops
from .config import GeneratorConfig
from .styled_conv import styled_conv


class ModulatedConv(nn.Module):
    """Weight [1, out, in, k, k] (rosinality layout) and the affine map from w to per-input-channel styles.

    The weight is *stored* so that the kernel the conv takes is channels_last: [out, in, k, k] for a
    plain conv, its transpose [in, out, k, k] for the transposed (up) conv. Folding styles into it is
    then one streaming multiply (a contiguous layout would be transposed on every call); loading a
    state dict copies into this storage and keeps the layout."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, w_dim: int, demodulate: bool = True, up: bool = False):
        super().__init__()
        if up:  # memory order (in, ky, kx, out)
            weight = torch.randn(1, in_ch, kernel, kernel, out_ch).permute(0, 4, 1, 2, 3)
        else:  # memory order (out, ky, kx, in)
            weight = torch.randn(1, out_ch, kernel, kernel, in_ch).permute(0, 1, 4, 2, 3)
        self.weight = nn.Parameter(weight)
        self.modulation = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.scale = 1 / math.sqrt(in_ch * kernel * kernel)
        self.demodulate = demodulate
        self.up = up

    def weight_and_styles(self, styles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """StyleSpace styles [B, in] (the affine output, `modulation(w)`) -> (weight [out, in, k, k], scaled
        styles [B, in]) whose product is the scaled, modulated weight: the equalised-lr scale rides on the
        styles, so the weight is never copied just to be scaled."""
        return self.weight[0], styles * self.scale


class NoiseStrength(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))


class ActivationBias(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))


class StyledConv(nn.Module):
    """Modulated 3x3 conv -> + noise * strength -> + bias -> leaky ReLU * sqrt(2) (-> clamp)."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, up: bool, clamp: float | None):
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, 3, w_dim, up=up)
        self.noise = NoiseStrength()
        self.activate = ActivationBias(out_ch)
        self.clamp = clamp

    def forward(self, x: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None,
                blur: torch.Tensor) -> torch.Tensor:
        """x [B, in, H, W]; styles [B, in]: this layer's StyleSpace styles (`conv.modulation(w)`)."""
        weight, styles = self.conv.weight_and_styles(styles)
        noise = None if noise is None else noise * self.noise.weight
        if modconv.needs_weight_grads(self):
            return ops.styled_conv_reference(x, weight, styles, self.activate.bias, noise, self.conv.up, self.clamp)
        # the activation's sqrt(2) gain folds into demodulation, bias and noise (leaky ReLU is homogeneous)
        norms = derived(self.conv, "norms", weight, modconv.squared_norms)
        demod = modconv.demodulation(weight, styles, norms) * modconv.SQRT2
        noise = None if noise is None else noise * modconv.SQRT2
        kernels = None if self.conv.up else winograd.gradient_kernels(self.conv, weight, x, styles)
        return styled_conv(x, styles, demod, weight, self.activate.bias * modconv.SQRT2, noise, blur, self.conv.up,
                           self.clamp, kernels)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation) + bias, added to the up-sampled skip image."""

    def __init__(self, in_ch: int, w_dim: int, clamp: float | None):
        super().__init__()
        self.conv = ModulatedConv(in_ch, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.clamp = clamp

    def forward(self, x: torch.Tensor, styles: torch.Tensor, skip: torch.Tensor | None,
                blur: torch.Tensor) -> torch.Tensor:
        """styles [B, in]: this layer's StyleSpace styles (`conv.modulation(w)`, without the ToRGB gain)."""
        weight, styles = self.conv.weight_and_styles(styles)
        rgb = modconv.modulated_1x1(x, weight[:, :, 0, 0], styles).float() + self.bias
        if self.clamp is not None:
            rgb = rgb.clamp(-self.clamp, self.clamp)
        return rgb if skip is None else rgb + ops.upsample_2x(skip, blur)


class Generator(GeneratorBase):
    """z -> mapping -> w; W+ [B, num_ws, w_dim] -> synthesis -> RGB [B, 3, H, W] in about [-1, 1]."""

    kind = "stylegan2"

    def __init__(self, config: GeneratorConfig, source: str = "random init"):
        super().__init__(config, source)
        c, w_dim = config.channels, config.w_dim
        self.input = nn.Module()
        self.input.input = nn.Parameter(torch.randn(1, c[0], 4, 4))
        self.conv1 = StyledConv(c[0], c[0], w_dim, up=False, clamp=config.conv_clamp)
        self.to_rgb1 = ToRGB(c[0], w_dim, config.conv_clamp)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for level in range(1, config.levels):
            self.convs.append(StyledConv(c[level - 1], c[level], w_dim, up=True, clamp=config.conv_clamp))
            self.convs.append(StyledConv(c[level], c[level], w_dim, up=False, clamp=config.conv_clamp))
            self.to_rgbs.append(ToRGB(c[level], w_dim, config.conv_clamp))
        self.noises = nn.Module()
        for k in range(2 * config.levels - 1):
            size = 4 * 2 ** ((k + 1) // 2)
            self.noises.register_buffer(f"noise_{k}", torch.randn(1, 1, size, size))
        # a buffer, so it lives on the generator's device: no host-to-device copy per layer call
        self.register_buffer("blur_filter", ops.blur_kernel(), persistent=False)

    # -- StyleSpace ----------------------------------------------------------------------------------
    def _style_modules(self) -> list[tuple[StyleLayer, nn.Module]]:
        """(layer, its StyledConv or ToRGB) in synthesis order: conv1_4, torgb_4, conv0_8, conv1_8, torgb_8, ...
        (StyleCLIP's order). conv i reads ws[i]; each ToRGB the w of the next block's conv0."""
        c = self.config.channels
        out = [(StyleLayer("conv1_4", c[0], 4, 0), self.conv1),
               (StyleLayer("torgb_4", c[0], 4, 1, "torgb"), self.to_rgb1)]
        for level, to_rgb in enumerate(self.to_rgbs, start=1):
            size, i = 4 * 2 ** level, 2 * level - 1
            out += [(StyleLayer(f"conv0_{size}", c[level - 1], size, i), self.convs[2 * level - 2]),
                    (StyleLayer(f"conv1_{size}", c[level], size, i + 1), self.convs[2 * level - 1]),
                    (StyleLayer(f"torgb_{size}", c[level], size, i + 2, "torgb"), to_rgb)]
        return out

    @property
    def style_layers(self) -> list[StyleLayer]:
        return [layer for layer, _ in self._style_modules()]

    def _affines(self) -> list[nn.Module]:
        return [module.conv.modulation for _, module in self._style_modules()]

    # -- synthesis -----------------------------------------------------------------------------------
    def _noise(self, k: int, mode: str, like: torch.Tensor, override: Sequence[torch.Tensor] | None
               ) -> torch.Tensor | None:
        if override is not None:
            return override[k]
        if mode == "none":
            return None
        buffer = getattr(self.noises, f"noise_{k}")
        if mode == "const":
            return buffer
        return torch.randn(like.shape[0], 1, *buffer.shape[2:], device=buffer.device)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const",
                  noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """ws [B, num_ws, w_dim] -> images [B, 3, H, W] float32. Layer i of W+ drives conv i; ToRGB
        after conv i uses w[i + 1] (the indexing of both reference implementations).

        `noise`: per-layer maps [1|B, 1, H_k, W_k] that replace the const buffers `noises.noise_{k}` (an
        inversion's optimised noise travels with its latent this way); given, it overrides `noise_mode`."""
        self.check_noise_mode(noise_mode)
        return self._synthesize(self.styles(ws), noise_mode, noise)

    def synthesis_from_styles(self, styles: Sequence[torch.Tensor], noise_mode: str = "const",
                              noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """StyleSpace styles (one [B, channels] tensor per `style_layers` entry, as `styles(ws)` gives) ->
        images [B, 3, H, W]; `synthesis_from_styles(styles(ws))` is `synthesis(ws)` bit for bit."""
        self.check_noise_mode(noise_mode)
        return self._synthesize([s.float() for s in self.check_styles(styles)], noise_mode, noise)

    def _synthesize(self, styles: list[torch.Tensor], noise_mode: str,
                    noise: Sequence[torch.Tensor] | None) -> torch.Tensor:
        if noise is not None:
            expected = [tuple(getattr(self.noises, f"noise_{k}").shape[2:]) for k in range(2 * self.config.levels - 1)]
            if [tuple(n.shape[2:]) for n in noise] != expected:
                raise ValueError(f"noise must be {len(expected)} maps of sizes {expected}")
        blur, like = self.blur_filter, styles[0]
        # channels_last: the fastest layout for this CPU's convs and, by far, for the depthwise blur
        x = self.input.input.to(runtime.compute_dtype(like.device)).expand(like.shape[0], -1, -1, -1)
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.conv1(x, styles[0], self._noise(0, noise_mode, like, noise), blur)
        img = self.to_rgb1(x, styles[1], None, blur)
        for level, to_rgb in enumerate(self.to_rgbs):
            i, k = 2 * level + 1, 3 * level + 2  # noise map i, style layer k
            x = self.convs[2 * level](x, styles[k], self._noise(i, noise_mode, like, noise), blur)
            x = self.convs[2 * level + 1](x, styles[k + 1], self._noise(i + 1, noise_mode, like, noise), blur)
            img = to_rgb(x, styles[k + 2], img, blur)
        return img.contiguous()
