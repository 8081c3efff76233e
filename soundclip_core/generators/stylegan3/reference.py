"""StyleGAN3 written out literally: per-sample modulated weights, explicit zero insertion, padding,
2-D FIR filtering over the full up-sampled image, then sub-sampling.

The twin of `Stylegan3Generator.synthesis`, used by the tests (fast == literal), as the path of
layers whose weights train, and as a baseline in benchmarks/generator.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def modulated_conv2d_reference(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                               padding: int, input_gain: torch.Tensor) -> torch.Tensor:
    """Per-sample weights W[n] = normalise(W) * normalise(s[n]), demodulated, times the input gain; one grouped conv."""
    b, (out_ch, in_ch, k, _) = x.shape[0], weight.shape
    if demodulate:
        weight = weight * weight.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight[None] * styles[:, None, :, None, None]  # [B, out, in, k, k]
    if demodulate:
        w = w * (w.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    w = w * input_gain
    y = F.conv2d(x.reshape(1, b * in_ch, *x.shape[2:]), w.reshape(b * out_ch, in_ch, k, k).to(x.dtype),
                 padding=padding, groups=b)
    return y.reshape(b, out_ch, *y.shape[2:])


def _fir_2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Valid 2-D convolution of every channel with f ([T]: the separable filter outer(f, f); or [T, T])."""
    kernel = torch.outer(f, f) if f.ndim == 1 else f
    c = x.shape[1]
    return F.conv2d(x, kernel.flip([0, 1]).to(x.dtype).expand(c, 1, -1, -1), groups=c)


def filtered_lrelu_reference(x: torch.Tensor, up_filter: torch.Tensor | None, down_filter: torch.Tensor | None,
                             bias: torch.Tensor, up: int, down: int, padding: tuple[int, int, int, int], gain: float,
                             slope: float, clamp: float | None) -> torch.Tensor:
    """(1) + bias, (2) insert up - 1 zeros after each pixel, (3) pad [x0, x1, y0, y1] (negative crops),
    (4) FIR with the up filter (gain up^2), (5) x gain, (6) leaky ReLU, (7) clamp, (8) FIR with the down
    filter, (9) keep every down-th pixel."""
    x = x + bias.to(x.dtype)[None, :, None, None]
    b, c, h, w = x.shape
    stuffed = x.new_zeros(b, c, h * up, w * up)
    stuffed[:, :, ::up, ::up] = x
    x = F.pad(stuffed, list(padding))
    if up_filter is not None:
        x = _fir_2d(x, up_filter * up) if up_filter.ndim == 1 else _fir_2d(x, up_filter * up * up)
    x = F.leaky_relu(x * gain, slope)
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    if down_filter is not None:
        x = _fir_2d(x, down_filter)
    return x[:, :, ::down, ::down]


def fourier_features_reference(layer, w: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
    """SynthesisInput written out per sample, channel and pixel: [B, C, size, size]; `t` its style (else affine(w))."""
    t = layer.affine(w) if t is None else t
    t = t / torch.sqrt(t[:, 0] ** 2 + t[:, 1] ** 2)[:, None]
    out = []
    for n in range(w.shape[0]):
        c, s, tx, ty, zero, one = *t[n], t.new_zeros(()), t.new_ones(())
        rotate = torch.stack([torch.stack(row) for row in ((c, -s, zero), (s, c, zero), (zero, zero, one))])
        translate = torch.stack([torch.stack(row) for row in ((one, zero, -tx), (zero, one, -ty), (zero, zero, one))])
        m = rotate @ translate @ layer.transform
        freqs = layer.freqs @ m[:2, :2]  # [C, 2]
        phases = layer.phases + layer.freqs @ m[:2, 2]
        amp = (1 - (freqs.norm(dim=1) - layer.bandwidth) / (layer.sampling_rate / 2 - layer.bandwidth)).clamp(0, 1)
        pos = (torch.arange(layer.size, device=w.device) + 0.5 - layer.size / 2) / layer.sampling_rate
        y, x = torch.meshgrid(pos, pos, indexing="ij")
        waves = torch.sin(2 * math.pi * (x[None] * freqs[:, 0, None, None] + y[None] * freqs[:, 1, None, None]
                                         + phases[:, None, None])) * amp[:, None, None]  # [C, H, W]
        out.append(torch.einsum("dc,chw->dhw", layer.weight / math.sqrt(layer.weight.shape[0]), waves))
    return torch.stack(out)


def layer_reference(layer, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """One `SynthesisLayer` by the formulas above (differentiable in every parameter)."""
    return layer_from_styles_reference(layer, x, layer.affine(w))


def layer_from_styles_reference(layer, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """`layer_reference` from the layer's StyleSpace styles [B, in] (its affine output)."""
    spec = layer.spec
    if spec.torgb:
        styles = styles / math.sqrt(spec.in_channels * spec.kernel ** 2)
    x = modulated_conv2d_reference(x, layer.weight, styles, not spec.torgb, spec.kernel - 1,
                                   layer.magnitude_ema.rsqrt())
    gain, slope = (1.0, 1.0) if spec.torgb else (math.sqrt(2), 0.2)
    return filtered_lrelu_reference(x, layer.up_filter, layer.down_filter, layer.bias, spec.up, spec.down,
                                    spec.padding, gain, slope, spec.clamp)


def synthesis_reference(g, ws: torch.Tensor) -> torch.Tensor:
    """Same contract as `Stylegan3Generator.synthesis`."""
    x = fourier_features_reference(g.input, ws[:, 0].float())
    for i, layer in enumerate(g.layers.values()):
        x = layer_reference(layer, x, ws[:, i + 1].float())
    return x * g.config.output_scale
