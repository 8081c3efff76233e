"""StyleGAN2's building-block ops: a fast form for the hot path, a literal twin for tests.

Fast forms (why they are fast):
- `modulated_conv2d` scales the *activations* by the style and the outputs by the
  demodulation coefficients around one shared-weight conv. Backward then needs only
  the input gradient plus cheap reductions, never a per-sample weight gradient.
- `upsample_conv2d` is a stride-2 transposed conv followed by a depthwise 4x4 blur,
  instead of zero-stuffing the input and convolving over the zeros.
- `upsample_2x` (the ToRGB skip path) is one depthwise transposed conv.
The `*_reference` twins follow the papers' formulas literally (per-sample weights,
explicit zero insertion and padding) and exist to check the fast forms.
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


def demodulation(weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """1 / ||W * s|| per sample and output channel: [B, out]. Computed in fp32 under any autocast.

    weight: [out, in, k, k] (already scaled); styles: [B, in].
    """
    with torch.autocast(device_type=styles.device.type, enabled=False):
        w2 = weight.float().square().sum(dim=(2, 3))  # [out, in]
        return torch.rsqrt(styles.float().square() @ w2.t() + 1e-8)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, up: bool = False) -> torch.Tensor:
    """The modulated conv before demodulation: conv(x * s, W). Demodulate with `demodulation`.

    x [B, in, H, W], weight [out, in, k, k] (scaled), styles [B, in] -> [B, out, H', W'].
    """
    x = x * styles.to(x.dtype)[:, :, None, None]
    if up:
        return upsample_conv2d(x, weight)
    return F.conv2d(x, weight.to(x.dtype), padding=weight.shape[-1] // 2)


def upsample_conv2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """2x up-sampling conv: transposed conv (stride 2) then the 4x4 blur with gain 4. [B,in,H,W] -> [B,out,2H,2W]."""
    x = F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2)
    return blur(x, gain=4.0, padding=1)


def blur(x: torch.Tensor, gain: float = 1.0, padding: int = 1) -> torch.Tensor:
    """Depthwise 4x4 binomial filter."""
    channels = x.shape[1]
    k = (blur_kernel(x.device, x.dtype) * gain).expand(channels, 1, 4, 4)
    return F.conv2d(x, k, padding=padding, groups=channels)


def upsample_2x(img: torch.Tensor) -> torch.Tensor:
    """FIR 2x up-sampling of the RGB skip path ([1,3,3,1] filter, pad (2, 1)). [B,C,H,W] -> [B,C,2H,2W]."""
    channels = img.shape[1]
    k = (blur_kernel(img.device, img.dtype) * 4.0).expand(channels, 1, 4, 4)
    return F.conv_transpose2d(img, k, stride=2, padding=1, groups=channels)


def demodulate_noise_bias_act(x: torch.Tensor, demod: torch.Tensor, noise: torch.Tensor | None,
                              bias: torch.Tensor, clamp: float | None = None) -> torch.Tensor:
    """leaky_relu(x * demod + noise + bias, 0.2) * sqrt(2) (-> clamp), in three passes over x.

    x [B, C, H, W]; demod [B, C]; noise [1|B, 1, H, W] (already scaled by its strength) or None;
    bias [C]. The sqrt(2) gain is folded into the small operands (leaky ReLU is positively
    homogeneous), and everything but `x * demod` is a constant the backward never touches:
    these elementwise passes, not the convolutions, dominate a CPU step at high resolution.
    """
    shift = (bias * SQRT2)[None, :, None, None]
    if noise is not None:
        shift = shift + noise * SQRT2
    y = torch.addcmul(shift.to(x.dtype), x, (demod * SQRT2).to(x.dtype)[:, :, None, None])
    y = F.leaky_relu_(y, 0.2)
    return y.clamp_(-clamp, clamp) if clamp is not None else y


# ----- literal reference twins (tests only) -----------------------------------------------------

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
