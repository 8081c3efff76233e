"""3x3 convolutions (stride 1, zero padding 0 to 2) by Winograd's minimal filtering F(4x4, 3x3), for CPU
optimisation loops.

Why: an inversion or edit step is a generator and VGG16 forward and backward, and on a CPU nearly all
of it is 3x3 convolutions that oneDNN already runs near the core's peak. Doing fewer multiplications is
the remaining lever: F(4x4, 3x3) (Lavin & Gray 2016) computes each 4x4 output tile from a 6x6 input
tile with 36 channel products instead of 144, as 36 independent [pixels, in] @ [in, out] matmuls. The
tile transforms are fixed 36x36 / 16x36 matrices, also applied as matmuls, over bands of a few tile
rows, so every buffer stays cache-sized (and small enough that the allocator reuses it rather than
mapping and page-faulting fresh memory on every call). Per-channel input and output scales (a styled
conv's modulation and demodulation) and a bias ride on the copies the bands make anyway.

Where: fp32 on CPU, both channel counts >= WINOGRAD_MIN_CHANNELS and channels x pixels >=
WINOGRAD_MIN_WORK (narrower or smaller, the transforms and per-call costs outweigh the saving), and
only where a gradient is being taken: its error is about 1e-5 of the output's scale (direct: about
2e-6), harmless for a descent direction (inversions reach the same LPIPS and PSNR either way), but
decodes and reported images stay on the direct conv, `F.conv2d`, this op's reference twin in the tests.
On CUDA, cuDNN picks its own algorithms (Winograd among them).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from .derived import derived

WINOGRAD_MIN_CHANNELS = 128
WINOGRAD_MIN_WORK = 128 * 16 * 16  # channels x pixels: below it (e.g. 512 channels at 4x4) per-call costs win
BAND_BYTES = 4 << 20  # transformed tiles per band

# F(4x4, 3x3) with interpolation points 0, +-1, +-2 (Lavin & Gray, section 4.2)
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
      (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0),
       (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))


@lru_cache(maxsize=8)
def _tile_transforms(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(B^T (x) B^T [36, 36], A^T (x) A^T [16, 36]): 2-D input and output tile transforms on flattened tiles."""
    bt, at = torch.tensor(_BT, dtype=torch.float64), torch.tensor(_AT, dtype=torch.float64)
    return torch.kron(bt, bt).to(device, dtype), torch.kron(at, at).to(device, dtype)


def applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether the fast path serves conv2d(x, weight, padding=1): fp32 CPU, 3x3, wide enough, plain tensors
    (not the fake tensors that plan memory, which must not fill the caches here)."""
    channels = min(weight.shape[0], weight.shape[1])
    return (x.device.type == "cpu" and type(x) is torch.Tensor and x.dtype == torch.float32
            and weight.shape[-2:] == (3, 3)
            and channels >= WINOGRAD_MIN_CHANNELS and channels * x.shape[2] * x.shape[3] >= WINOGRAD_MIN_WORK)


def transform_kernel(weight: torch.Tensor) -> torch.Tensor:
    """weight [out, in, 3, 3] -> U = G w G^T per channel pair, laid out for the matmuls: [36, in, out]."""
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ik,jl,ockl->ijco", g, g, weight.detach().double())
    return u.reshape(36, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def transform_adjoint_kernel(weight: torch.Tensor) -> torch.Tensor:
    """U of the conv's adjoint (its input gradient, a conv with padding 2 - padding): the flipped kernel
    with in and out swapped."""
    return transform_kernel(weight.transpose(0, 1).flip(2, 3))


def kernels(owner: object, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, U_adjoint) of a frozen `weight`, cached on `owner` (e.g. its module) until the weight changes."""
    return derived(owner, "winograd", weight, lambda w: (transform_kernel(w), transform_adjoint_kernel(w)))


def gradient_kernels(owner: object, weight: torch.Tensor, x: torch.Tensor,
                     *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """`kernels(owner, weight)` when a gradient w.r.t. x or `inputs` is being taken and the fast path
    `applies`; None otherwise (decodes stay on the direct conv)."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, *inputs)) and applies(x, weight):
        return kernels(owner, weight)
    return None


def conv3x3(x: torch.Tensor, u: torch.Tensor, in_scale: torch.Tensor | None = None,
            out_scale: torch.Tensor | None = None, bias: torch.Tensor | None = None, padding: int = 1) -> torch.Tensor:
    """conv2d(x * in_scale, w, padding=padding) * out_scale + bias for U = transform_kernel(w).

    x [B, in, H, W] (channels_last is read without a copy); in_scale [B, in]; out_scale [B, out];
    bias [out]; padding 0, 1 or 2 -> [B, out, H + 2 padding - 2, W + 2 padding - 2] channels_last."""
    b, c, h, w = x.shape
    co = u.shape[-1]
    out_h, out_w = h + 2 * padding - 2, w + 2 * padding - 2
    to_tiles, from_tiles = _tile_transforms(x.device, x.dtype)
    tiles_h, tiles_w = -(-out_h // 4), -(-out_w // 4)
    pixels = x.permute(0, 2, 3, 1)  # [B, H, W, in]
    out = x.new_empty(b, out_h, out_w, co)
    band = max(1, BAND_BYTES // (36 * b * tiles_w * max(c, co) * x.element_size()))
    scale_in = None if in_scale is None else in_scale.to(x.dtype)[:, None, None, :]
    scale_out = None if out_scale is None else out_scale.to(x.dtype)[:, None, None, :]
    bias = None if bias is None else bias.to(x.dtype)
    for first in range(0, tiles_h, band):
        rows = min(band, tiles_h - first)
        # the band's input rows, 4 * first - padding onwards, zero outside the image (the conv's padding)
        padded = x.new_zeros(b, 4 * rows + 2, 4 * tiles_w + 2, c)
        top, bottom = 4 * first - padding, min(h, 4 * (first + rows) + 2 - padding)
        source = pixels[:, max(0, top):bottom]
        target = padded[:, max(0, top) - top:bottom - top, padding:padding + w]
        if scale_in is None:
            target.copy_(source)
        else:
            torch.mul(source, scale_in, out=target)
        sb, sh, sw, sc = padded.stride()
        tiles = padded.as_strided((6, 6, b, rows, tiles_w, c), (sh, sw, sb, 4 * sh, 4 * sw, sc)).reshape(36, -1)
        products = torch.bmm((to_tiles @ tiles).view(36, -1, c), u)  # [36, B * rows * tiles_w, out]
        result = (from_tiles @ products.view(36, -1)).view(4, 4, b, rows, tiles_w, co)
        result = result.permute(2, 3, 0, 4, 1, 5).reshape(b, 4 * rows, 4 * tiles_w, co)
        height = min(out_h, 4 * (first + rows)) - 4 * first
        result, dest = result[:, :height, :out_w], out[:, 4 * first:4 * first + height]
        if scale_out is not None and bias is not None:
            torch.addcmul(bias, result, scale_out, out=dest)
        elif scale_out is not None:
            torch.mul(result, scale_out, out=dest)
        elif bias is not None:
            torch.add(result, bias, out=dest)
        else:
            dest.copy_(result)
    return out.permute(0, 3, 1, 2)


class _FrozenConv3x3(torch.autograd.Function):
    """conv2d(x, w, b, padding=1) with frozen w, b: Winograd forward and input-gradient backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, u: torch.Tensor, u_adjoint: torch.Tensor, bias: torch.Tensor | None):
        ctx.save_for_backward(u_adjoint)
        return conv3x3(x, u, bias=bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u_adjoint,) = ctx.saved_tensors
        return conv3x3(grad, u_adjoint), None, None, None


def frozen_conv3x3(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """`conv(x)` for a frozen 3x3, stride-1, padding-1 conv; Winograd when a gradient w.r.t. x is being
    taken and the shapes pay (see the module docstring), else the direct conv."""
    fast = None if any(p.requires_grad for p in conv.parameters()) else gradient_kernels(conv, conv.weight, x)
    if fast is not None:
        return _FrozenConv3x3.apply(x, *fast, None if conv.bias is None else conv.bias.detach())
    return F.conv2d(x, conv.weight, conv.bias, padding=1)
