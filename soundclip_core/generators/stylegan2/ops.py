"""StyleGAN2's building-block ops: small fast ones for the hot path, literal twins for tests.

The styled conv itself (modulate, conv, demodulate, noise, bias, activation) is one autograd
Function in `styled_conv.py`; this module holds what it and the network share:
- `demodulation`: 1/||W * s|| from the small [out, in] weight norms, never per-sample weights;
- `blur`: the depthwise 4x4 binomial filter (after a stride-2 transposed conv it replaces
  zero-stuffing and convolving over the zeros);
- `upsample_2x`: the ToRGB skip path's FIR up-sampling as one depthwise transposed conv;
- `modulated_1x1`: ToRGB as a batched matmul with per-sample modulated [3, in] weights (a conv
  with 3 output channels is among the slowest shapes for CPU conv kernels).
The `*_reference` twins follow the papers' formulas literally (per-sample weights, explicit
zero insertion and padding); they check the fast forms and back layers whose weights train.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def blur_kernel(device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The [1, 3, 3, 1] binomial filter as a normalised 4x4 kernel."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype)
    k = k[:, None] * k[None, :]
    return k / k.sum()


def squared_norms(weight: torch.Tensor) -> torch.Tensor:
    """sum_k W^2 per output and input channel, fp32: [out, in] (constant for a frozen layer)."""
    return weight.float().square().sum(dim=(2, 3))


def demodulation(weight: torch.Tensor, styles: torch.Tensor, norms: torch.Tensor | None = None) -> torch.Tensor:
    """1 / ||W * s|| per sample and output channel: [B, out]. Computed in fp32 under any autocast.

    weight: [out, in, k, k] (already scaled); styles: [B, in]; norms: `squared_norms(weight)` if at hand.
    """
    with torch.autocast(device_type=styles.device.type, enabled=False):
        w2 = squared_norms(weight) if norms is None else norms  # [out, in]
        return torch.rsqrt(styles.float().square() @ w2.t() + 1e-8)


def blur(x: torch.Tensor, kernel: torch.Tensor, gain: float = 1.0, padding: int = 1) -> torch.Tensor:
    """Depthwise 4x4 filter `kernel` (times `gain`) with zero padding. Fastest on channels_last input."""
    channels = x.shape[1]
    return F.conv2d(x, (kernel * gain).expand(channels, 1, 4, 4), padding=padding, groups=channels)


def upsample_2x(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """FIR 2x up-sampling of the RGB skip path (`kernel` the 4x4 binomial, pad (2, 1)). [B,C,H,W] -> [B,C,2H,2W]."""
    channels = img.shape[1]
    return F.conv_transpose2d(img, (kernel * 4.0).expand(channels, 1, 4, 4), stride=2, padding=1, groups=channels)


class _PixelMatmul(torch.autograd.Function):
    """pixels [B, P, in] @ modulated^T -> [B, P, out], with the weight gradient taken as
    grad^T @ pixels: for P >> in >> out, MKL runs that orientation several times faster than
    the pixels^T @ grad autograd would pick."""

    @staticmethod
    def forward(ctx, pixels: torch.Tensor, modulated: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(pixels, modulated)
        return pixels @ modulated.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pixels, modulated = ctx.saved_tensors
        grad_pixels = grad @ modulated if ctx.needs_input_grad[0] else None
        grad_modulated = grad.transpose(1, 2) @ pixels if ctx.needs_input_grad[1] else None
        return grad_pixels, grad_modulated


def modulated_1x1(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """1x1 conv with per-sample weights W * s (no demodulation) as a batched matmul.

    x [B, in, H, W] (NCHW or channels_last); weight [out, in]; styles [B, in] -> [B, out, H, W].
    """
    b, c, h, w = x.shape
    modulated = (weight[None] * styles[:, None, :]).to(x.dtype)  # [B, out, in]
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        pixels = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        return _PixelMatmul.apply(pixels, modulated).reshape(b, h, w, -1).permute(0, 3, 1, 2)
    return (modulated @ x.reshape(b, c, h * w)).reshape(b, -1, h, w)


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
