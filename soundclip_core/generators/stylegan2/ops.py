"""StyleGAN2's own building-block ops: small fast ones for the hot path, literal twins for tests.

The styled conv itself (modulate, conv, demodulate, noise, bias, activation) is one autograd
Function in `styled_conv.py`; the modulated-conv pieces StyleGAN3 uses too (demodulation, the
modulated 1x1 ToRGB) are in `generators/modconv.py`. This module holds StyleGAN2's resampling:
- `blur`: the depthwise 4x4 binomial filter (after a stride-2 transposed conv it replaces
  zero-stuffing and convolving over the zeros);
- `upsample_2x`: the ToRGB skip path's FIR up-sampling as one depthwise transposed conv.
The `*_reference` twins follow the papers' formulas literally (per-sample weights, explicit
zero insertion and padding); they check the fast forms and back layers whose weights train.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..modconv import SQRT2


def blur_kernel(device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The [1, 3, 3, 1] binomial filter as a normalised 4x4 kernel."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype)
    k = k[:, None] * k[None, :]
    return k / k.sum()


def blur(x: torch.Tensor, kernel: torch.Tensor, gain: float = 1.0, padding: int = 1) -> torch.Tensor:
    """Depthwise 4x4 filter `kernel` (times `gain`) with zero padding. Fastest on channels_last input."""
    channels = x.shape[1]
    return F.conv2d(x, (kernel * gain).expand(channels, 1, 4, 4), padding=padding, groups=channels)


def upsample_2x(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """FIR 2x up-sampling of the RGB skip path (`kernel` the 4x4 binomial, pad (2, 1)). [B,C,H,W] -> [B,C,2H,2W]."""
    channels = img.shape[1]
    return F.conv_transpose2d(img, (kernel * 4.0).expand(channels, 1, 4, 4), stride=2, padding=1, groups=channels)


# ----- literal reference twins (tests, benchmarks, layers whose weights train) -------------------

def upfirdn2d_reference(x: torch.Tensor, kernel: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """Zero-insert `up`, pad (pad0, pad1) on both axes, convolve with the flipped kernel (per channel)."""
    b, c, h, w = x.shape
    stuffed = x.new_zeros(b, c, h * up, w * up)
    stuffed[:, :, ::up, ::up] = x
    stuffed = F.pad(stuffed, [pad[0], pad[1], pad[0], pad[1]])
    k = torch.flip(kernel, [0, 1]).expand(c, 1, *kernel.shape)
    return F.conv2d(stuffed, k, groups=c)


def modulated_conv2d_reference(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                               up: bool = False) -> torch.Tensor:
    """Per-sample weight modulation (the paper's formula), one grouped conv per batch."""
    b = x.shape[0]
    w = weight[None] * styles[:, None, :, None, None]  # [B, out, in, k, k]
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    out_ch, in_ch, k = weight.shape[0], weight.shape[1], weight.shape[-1]
    xs = x.reshape(1, b * in_ch, *x.shape[2:])
    if up:
        wt = w.transpose(1, 2).reshape(b * in_ch, out_ch, k, k)
        y = F.conv_transpose2d(xs, wt, stride=2, groups=b)
        y = y.reshape(b, out_ch, *y.shape[2:])
        return upfirdn2d_reference(y, blur_kernel(x.device) * 4, up=1, pad=(1, 1))
    y = F.conv2d(xs, w.reshape(b * out_ch, in_ch, k, k), padding=k // 2, groups=b)
    return y.reshape(b, out_ch, *y.shape[2:])


def styled_conv_reference(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, bias: torch.Tensor,
                          noise: torch.Tensor | None, up: bool, clamp: float | None) -> torch.Tensor:
    """One StyleGAN2 layer written out: leaky_relu(modconv(x) + noise + bias, 0.2) * sqrt 2 -> clamp.

    noise: already scaled by the layer's strength, or None.
    """
    x = modulated_conv2d_reference(x, weight, styles, True, up)
    if noise is not None:
        x = x + noise
    x = F.leaky_relu(x + bias[None, :, None, None], 0.2) * SQRT2
    return x.clamp(-clamp, clamp) if clamp is not None else x
