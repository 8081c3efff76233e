"""The styled conv of a frozen generator as one autograd Function.

One StyleGAN2 layer is: modulate (scale input channels by the style s), 3x3 conv (up-sampling
or not), demodulate (scale output channels by d), add noise and bias, leaky ReLU (gain sqrt 2,
folded into d, bias and noise by the caller), clamp. Autograd over those separate ops spends
most of a CPU step in elementwise passes over full activations, not in convolutions. Here:

- forward at batch 1 folds s and d into the (small) weight, so the activations see only the
  conv, one noise add and the activation; larger batches scale activations (shared weight);
- a plain (not up-sampling) conv whose gradient is being taken may come with Winograd kernels
  (`winograd.py`): its forward and input-gradient convs then run as F(4x4, 3x3) matmuls, the styles,
  demodulation and bias riding on that op's copies;
- backward never forms a weight gradient (the weights are frozen; an optimised noise map gets
  the channel sum of the pre-activation gradient): it needs the input gradient
  of one conv, h = conv^T(g * d, W), from which  dL/dx = h * s  and  dL/ds = sum_pixels(h * x),
  and  dL/dd = sum_pixels(g * u)  with u the conv output before demodulation: u * d = pre - bias
  - noise, and g * pre = grad_out * leaky_relu(pre), so only the layer's output is kept (it is
  the next layer's saved input anyway) and the activation runs in place.

Use only when weight, bias and noise strength need no gradient; `networks.StyledConv` checks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import winograd
from ..modconv import fold, pixel_sums, spatial_dot
from . import ops


def _conv(x: torch.Tensor, weight: torch.Tensor, up: bool, blur: torch.Tensor,
          bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv(x, weight) with a `fold`ed weight; `up`: transposed conv (stride 2) then the blur."""
    if up:
        y = F.conv_transpose2d(x, weight, stride=2)
        return ops.blur(y, blur, gain=4.0, padding=1)
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)


def _conv_input_grad(grad: torch.Tensor, weight: torch.Tensor, up: bool, blur: torch.Tensor) -> torch.Tensor:
    """The adjoint of `_conv` (without bias): gradient w.r.t. its input."""
    if up:
        grad = ops.blur(grad, blur, gain=4.0, padding=2)  # the 4x4 binomial filter is symmetric
        return F.conv2d(grad, weight, stride=2)
    return F.conv_transpose2d(grad, weight, padding=weight.shape[-1] // 2)


class StyledConvFunction(torch.autograd.Function):
    """leaky_relu(conv(x * s, W) * d + bias + noise, 0.2) -> clamp. Gradients for x, s and d only."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, styles: torch.Tensor, demod: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor, noise: torch.Tensor | None, blur: torch.Tensor, up: bool,
                clamp: float | None, kernels: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """x [B, in, H, W] in the compute dtype; styles [B, in]; demod [B, out]; weight [out, in, k, k];
        bias [out]; noise [1|B, 1, H', W'] or None; blur the 4x4 filter; kernels: `winograd.kernels` of
        the weight (fp32, not `up`) or None."""
        dtype = x.dtype
        if kernels is not None:
            pre = winograd.conv3x3(x, kernels[0], styles, demod, bias)
        elif x.shape[0] == 1:
            folded = fold(weight, styles[0][None, :, None, None] * demod[0][:, None, None, None], dtype, up)
            pre = _conv(x, folded, up, blur.to(dtype), None if up else bias.to(dtype))
            if up:
                pre.add_(bias.to(dtype)[:, None, None])
        else:
            shared = fold(weight, weight.new_ones(1, 1, 1, 1), dtype, up)
            pre = _conv(x * styles.to(dtype)[:, :, None, None], shared, up, blur.to(dtype))
            pre = torch.addcmul(bias.to(dtype)[:, None, None], pre, demod.to(dtype)[:, :, None, None])
        if noise is not None:
            pre.add_(noise.to(dtype))
        out = F.leaky_relu_(pre, 0.2)
        if clamp is not None:
            out.clamp_(-clamp, clamp)
        ctx.save_for_backward(x, styles, demod, weight, bias, noise, blur, out)
        ctx.up, ctx.clamp, ctx.adjoint = up, clamp, None if kernels is None else kernels[1]
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, styles, demod, weight, bias, noise, blur, out = ctx.saved_tensors
        dtype = out.dtype
        grad_out = grad_out.to(dtype)
        if ctx.clamp is not None:  # clamped outputs pass no gradient
            grad_out = grad_out.masked_fill(out.abs() >= ctx.clamp, 0)
        grad = torch.ops.aten.leaky_relu_backward(grad_out, out, 0.2, True)  # w.r.t. pre, from the output's sign
        grad_x = grad_styles = grad_demod = grad_noise = None
        if ctx.needs_input_grad[5]:  # an optimised noise map: it is added to `pre` on every channel
            grad_noise = grad.sum(1, keepdim=True, dtype=torch.float32)
            if noise.shape[0] == 1 < grad_noise.shape[0]:
                grad_noise = grad_noise.sum(0, keepdim=True)
            grad_noise = grad_noise.to(noise.dtype)
        if ctx.needs_input_grad[2]:
            # sum(g * u) * d, with u * d = pre - bias - noise and g * pre = grad_out * out
            sums = pixel_sums(grad, noise)
            grad_u_d = spatial_dot(grad_out, out) - bias.float() * sums[..., 0]
            if noise is not None:
                grad_u_d -= sums[..., 1]
            grad_demod = grad_u_d / demod
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            if ctx.adjoint is not None:
                h = winograd.conv3x3(grad, ctx.adjoint, in_scale=demod)
            elif x.shape[0] == 1:
                folded = fold(weight, demod[0][:, None, None, None], dtype, ctx.up)
                h = _conv_input_grad(grad, folded, ctx.up, blur.to(dtype))
            else:
                shared = fold(weight, weight.new_ones(1, 1, 1, 1), dtype, ctx.up)
                h = _conv_input_grad(grad * demod.to(dtype)[:, :, None, None], shared, ctx.up, blur.to(dtype))
            if ctx.needs_input_grad[1]:
                grad_styles = spatial_dot(h, x).to(styles.dtype)
            if ctx.needs_input_grad[0]:
                grad_x = h.mul_(styles.to(dtype)[:, :, None, None])
        return grad_x, grad_styles, grad_demod, None, None, grad_noise, None, None, None, None


def styled_conv(x: torch.Tensor, styles: torch.Tensor, demod: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor, noise: torch.Tensor | None, blur: torch.Tensor, up: bool,
                clamp: float | None, kernels: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """`StyledConvFunction` for a frozen layer (see the module docstring for the contract)."""
    return StyledConvFunction.apply(x, styles, demod, weight, bias, noise, blur, up, clamp, kernels)
