"""The StyleGAN3 generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), configs T and R.

Parameter names follow NVIDIA's state dict below `synthesis.` (`input.*`, `layers.L{i}_{size}_{ch}.*`);
the mapping network is the shared one (`generators/mapping.py`). W+ layers: ws[0] drives the input's
rotation/translation of the Fourier features, ws[1 + i] drives layer L_i, the last drives ToRGB.
A frozen generator runs the fast ops of `ops.py`; layers whose weights need gradients use the
literal formulas of `reference.py`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ... import runtime
from .. import modconv, winograd
from ..base import GeneratorBase, StyleLayer
from ..derived import derived
from ..mapping import EqualLinear
from . import ops, reference
from .config import LayerSpec, Stylegan3Config, schedule
from .filters import lowpass

SQRT2 = math.sqrt(2.0)


def _normalized(weight: torch.Tensor) -> torch.Tensor:
    """The weight scaled to unit mean square per output channel (NVIDIA's pre-normalisation)."""
    return weight * weight.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()


class SynthesisInput(nn.Module):
    """Fourier features: C sinusoids of fixed frequencies `freqs` [C, 2] and `phases` [C], rotated and
    translated by affine(w0), sampled on a `size`-pixel grid, then mixed by `weight` [C, C]."""

    def __init__(self, config: Stylegan3Config):
        super().__init__()
        c = config.input_channels
        self.size, self.sampling_rate, self.bandwidth = config.input_size, config.input_sampling_rate, \
            config.input_bandwidth
        self.weight = nn.Parameter(torch.randn(c, c))
        self.affine = EqualLinear(config.w_dim, 4)
        with torch.no_grad():
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))  # the user's inverse transform of the image
        freqs = torch.randn(c, 2)
        radii = freqs.norm(dim=1, keepdim=True)
        self.register_buffer("freqs", freqs / (radii * radii.square().exp().pow(0.25)) * self.bandwidth)
        self.register_buffer("phases", torch.rand(c) - 0.5)

    def forward(self, styles: torch.Tensor) -> torch.Tensor:
        """styles [B, 4] (the StyleSpace input style, `affine(w)`) -> features [B, C, size, size] (channels_last,
        float32)."""
        freqs, phases = ops.transformed_frequencies(styles, self.freqs, self.phases, self.transform)
        # out-of-band frequencies (possible under a user transform) fade out linearly up to Nyquist
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        grid = ops.fourier_grid(self.size, self.sampling_rate, styles.device)
        # phase of channel c at pixel (row, col): grid[col] f_x + grid[row] f_y + phase   [B, H, W, C]
        x = (grid[None, None, :, None] * freqs[:, None, None, :, 0]
             + grid[None, :, None, None] * freqs[:, None, None, :, 1] + phases[:, None, None, :])
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.weight.shape[0])).t()  # [B, H, W, C]
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated conv (demodulated except in ToRGB, input scaled by magnitude_ema^-1/2 as trained) -> bias ->
    filtered leaky ReLU (see `LayerSpec`)."""

    def __init__(self, spec: LayerSpec, w_dim: int, up_filter: torch.Tensor | None = None,
                 down_filter: torch.Tensor | None = None):
        super().__init__()
        self.spec = spec
        self.affine = EqualLinear(w_dim, spec.in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(spec.out_channels, spec.in_channels, spec.kernel, spec.kernel))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        for name, taps, radial, given in (("up_filter", spec.up_taps, False, up_filter),
                                          ("down_filter", spec.down_taps, spec.down_radial, down_filter)):
            if taps > 1:  # NVIDIA's None filters (one tap) are absent, as in its state dict
                shape = (taps, taps) if radial else (taps,)
                self.register_buffer(name, given if given is not None else torch.zeros(shape))
            else:
                setattr(self, name, None)

    def styles_and_demod(self, styles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """StyleSpace styles [B, in] (`affine(w)`) -> (styles with the input gain folded in, demodulation
        [B, out] or None for ToRGB, weight [out, in, k, k] pre-normalised as NVIDIA's modulated_conv2d does)."""
        gain = self.magnitude_ema.rsqrt()
        weight = self.weight
        if self.spec.torgb:
            return styles * (gain / math.sqrt(self.spec.in_channels * self.spec.kernel ** 2)), None, weight
        # NVIDIA pre-normalises the weight per output channel and the styles over the whole batch:
        # both cancel in demodulation except against its 1e-8, kept for float32 parity
        weight = derived(self, "normalized", weight, _normalized)
        styles = styles * styles.square().mean().rsqrt()
        demod = modconv.demodulation(weight, styles, derived(self, "norms", weight, modconv.squared_norms))
        return styles * gain, demod, weight

    def forward(self, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        """x [B, in, H, W]; styles [B, in]: this layer's StyleSpace styles (`affine(w)`)."""
        spec = self.spec
        if modconv.needs_weight_grads(self):
            return reference.layer_from_styles_reference(self, x, styles)
        styles, demod, weight = self.styles_and_demod(styles)
        if spec.torgb:
            x = modconv.modulated_1x1(x, weight[:, :, 0, 0], styles) + self.bias.to(x.dtype)[:, None, None]
            x = torch.nn.functional.pad(x, list(spec.padding)) if any(spec.padding) else x
            return x.clamp(-spec.clamp, spec.clamp) if spec.clamp is not None else x
        kernels = winograd.gradient_kernels(self, weight, x, styles)
        x = ops.modulated_conv(x, styles, demod, weight, self.bias, spec.kernel - 1, kernels)
        return ops.filtered_lrelu(x, self.up_filter, self.down_filter, spec.up, spec.down, spec.padding, SQRT2, 0.2,
                                  spec.clamp)


class Stylegan3Generator(GeneratorBase):
    """z -> mapping -> w; W+ [B, num_ws, w_dim] -> synthesis -> RGB [B, 3, H, W] in about [-1, 1].

    W+ layers: ws[0] -> the input transform (rotation/translation of the Fourier features),
    ws[1 + i] -> layer L_i (coarse, low-cutoff layers first), ws[num_ws - 1] -> ToRGB.
    StyleGAN3 has no noise inputs: `noise_mode` is accepted and ignored."""

    def __init__(self, config: Stylegan3Config, source: str = "random init",
                 filters: dict[str, torch.Tensor] | None = None):
        super().__init__(config, source)
        filters = filters or {}
        self.input = SynthesisInput(config)
        self.layers = nn.ModuleDict({
            spec.name: SynthesisLayer(spec, config.w_dim, filters.get(f"{spec.name}.up_filter"),
                                      filters.get(f"{spec.name}.down_filter"))
            for spec in config.layers})

    @classmethod
    def from_schedule(cls, resolution: int, kind: str = "stylegan3-t", **schedule_kwargs) -> Stylegan3Generator:
        """A random generator of the paper's layer schedule (see `config.schedule`), filters designed as
        NVIDIA's code designs them; for tests and benchmarks (trained weights come from checkpoints)."""
        config, designs = schedule(resolution, kind, **schedule_kwargs)
        filters = {}
        for spec, design in zip(config.layers, designs, strict=True):
            for which, d in design.items():
                f = lowpass(d["taps"], d["cutoff"], d["half_width"], d["rate"], d.get("radial", False))
                if f is not None:
                    filters[f"{spec.name}.{which}_filter"] = f
        generator = cls(config, source=f"random {kind} {resolution} px", filters=filters)
        generator.designs = designs
        return generator

    @property
    def kind(self) -> str:
        return self.config.kind

    # -- StyleSpace ----------------------------------------------------------------------------------
    @property
    def style_layers(self) -> list[StyleLayer]:
        """"input" (affine(ws[0]): the 4 rotation/translation parameters), then L0 ... ToRGB (ws[1 + i])."""
        out = [StyleLayer("input", 4, self.config.input_size, 0, "input")]
        for i, spec in enumerate(self.config.layers):
            out.append(StyleLayer(spec.name, spec.in_channels, spec.out_size, i + 1, "torgb" if spec.torgb else "conv"))
        return out

    def _affines(self) -> list[nn.Module]:
        return [self.input.affine, *(layer.affine for layer in self.layers.values())]

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """ws [B, num_ws, w_dim] -> images [B, img_channels, H, W] float32."""
        self.check_noise_mode(noise_mode)
        return self._synthesize(self.styles(ws))

    def synthesis_from_styles(self, styles, noise_mode: str = "const", noise=None) -> torch.Tensor:
        """StyleSpace styles (one [B, channels] tensor per `style_layers` entry, as `styles(ws)` gives) ->
        images; `synthesis_from_styles(styles(ws))` is `synthesis(ws)` bit for bit. No noise inputs: `noise_mode`
        is accepted and ignored, `noise` must be None."""
        self.check_noise_mode(noise_mode)
        if noise is not None:
            raise ValueError("StyleGAN3 has no noise inputs")
        return self._synthesize([s.float() for s in self.check_styles(styles)])

    def _synthesize(self, styles: list[torch.Tensor]) -> torch.Tensor:
        x = self.input(styles[0]).to(runtime.compute_dtype(styles[0].device))
        for layer, s in zip(self.layers.values(), styles[1:], strict=True):
            x = layer(x, s)
        return (x.float() * self.config.output_scale).contiguous()
