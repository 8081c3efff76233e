"""The modulated-conv building blocks every StyleGAN architecture shares (StyleGAN2's styled conv,
StyleGAN3's modulated conv and ToRGB).

- `demodulation`: 1/||W * s|| from the small [out, in] weight norms (`squared_norms`, constant for a
  frozen layer), never per-sample weights;
- `modulated_1x1`: ToRGB as a batched matmul with per-sample modulated [out, in] weights (a conv
  with 3 output channels is among the slowest shapes for CPU conv kernels);
- `needs_weight_grads`: whether a layer must take the literal (autograd) path, its weights training;
- `fold`, `pixel_sums`, `spatial_dot`: the pieces of a frozen layer's fused forward and weight-free
  backward (styles and demodulation folded into the weight; the per-channel sums the style and
  demodulation gradients need, without full-size temporaries).
Winograd kernels for wide 3x3 convs are in `winograd.py`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SQRT2 = math.sqrt(2.0)


def needs_weight_grads(module: nn.Module) -> bool:
    """Whether a gradient will flow into `module`'s weights (then the fused forms, which form none, cannot run)."""
    return torch.is_grad_enabled() and any(p.requires_grad for p in module.parameters())


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


def spatial_dot(a: torch.Tensor, b: torch.Tensor, chunk_bytes: int = 4 << 20) -> torch.Tensor:
    """sum over pixels of a * b, per sample and channel, accumulated in fp32: [B, C].

    In bands of rows: a full-size product of a large activation is a fresh allocation that the
    C allocator maps and page-faults anew on every call, costing more than the arithmetic."""
    row_bytes = a[:, :, :1].numel() * a.element_size()
    rows = max(1, chunk_bytes // row_bytes)
    total = torch.zeros(a.shape[:2], dtype=torch.float32, device=a.device)
    for top in range(0, a.shape[2], rows):
        total += (a[:, :, top:top + rows] * b[:, :, top:top + rows]).sum(dim=(2, 3), dtype=torch.float32)
    return total


def pixel_sums(grad: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """sum over pixels of grad and (if given) of grad * noise as one matmul (no full-size temporary):
    grad [B, C, H, W], noise [1|B, 1, H, W] -> [B, C, 1 or 2] in fp32."""
    b, c, h, w = grad.shape
    vectors = grad.new_ones(1, 1, h * w)
    if noise is not None:
        vectors = torch.cat([vectors.expand(noise.shape[0], -1, -1), noise.to(grad.dtype).reshape(-1, 1, h * w)], 1)
    if grad.is_contiguous(memory_format=torch.channels_last):
        sums = vectors @ grad.permute(0, 2, 3, 1).reshape(b, h * w, c)  # [B, k, C]
        return sums.transpose(1, 2).float()
    return (grad.reshape(b, c, h * w) @ vectors.transpose(1, 2)).float()


def fold(weight: torch.Tensor, factors: torch.Tensor, dtype: torch.dtype, up: bool) -> torch.Tensor:
    """weight * factors ([out|1, in|1, 1, 1]), written in one pass straight into the layout the conv
    kernels take without copying: channels_last, and for `up` [in, out, k, k] (transposed conv)."""
    if up:
        weight, factors = weight.transpose(0, 1), factors.transpose(0, 1)
    out = torch.empty(weight.shape, dtype=dtype, device=weight.device, memory_format=torch.channels_last)
    return torch.mul(weight, factors, out=out)
