"""StyleGAN3's building-block ops in fast forms (the literal twins are in `reference.py`).

- `modulated_conv`: one autograd Function for the modulated, demodulated conv of a frozen layer:
  styles and demodulation fold into the small weight at batch 1, and the backward forms no
  weight gradient: h = conv^T(g * d, W) gives dL/dx = h * s and dL/ds = sum_pixels(h * x), and
  dL/dd = sum_pixels(g * u) with u the undemodulated conv output (StyleGAN2's trick, from the shared
  pieces of `generators/modconv.py`);
  where a gradient is being taken, wide 3x3 convs may come with Winograd kernels (`winograd.py`).
- `filtered_lrelu`: up-sampling as a stride-`up` transposed conv with the 1-D filter (polyphase:
  the zeros of the zero-inserted image are never multiplied), the crop/pad as one slice, the
  activation gain folded into the filter, leaky ReLU and clamp in one pass that keeps only its
  output for backward, and the down-sampling FIR evaluated only at the kept pixels (strided conv),
  each separable filter as two 1-D depthwise passes on channels_last tensors.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .. import winograd
from ..modconv import fold, pixel_sums, spatial_dot


def _depthwise(x: torch.Tensor, taps: torch.Tensor, axis: int) -> torch.Tensor:
    """A 1-D filter [T] as a depthwise kernel along `axis` (3 = width, 2 = height): [C, 1, 1, T] or [C, 1, T, 1]."""
    shape = (1, 1, 1, -1) if axis == 3 else (1, 1, -1, 1)
    return taps.to(x.dtype).reshape(shape).expand(x.shape[1], -1, -1, -1)


def _upsample_axis(x: torch.Tensor, taps: torch.Tensor, up: int, pad: tuple[int, int], axis: int) -> torch.Tensor:
    """Zero-insert by `up`, pad (negative: crop) by `pad`, convolve (valid) with `taps`, along one axis.

    The full transposed conv z[m] = sum_i x[i] f[m - i up] holds every output of the zero-inserted
    convolution; the padded, valid one is the window z[T - 1 - pad0 :][:length] (zeros outside z)."""
    stride = (1, up) if axis == 3 else (up, 1)
    length = x.shape[axis] * up + pad[0] + pad[1] - (taps.numel() - 1)
    start = taps.numel() - 1 - pad[0]
    end = (x.shape[axis] - 1) * up + taps.numel() - start - length  # cropped from the far side
    if start == end >= 0:  # the paper's schedule: a symmetric crop, done by the conv itself
        crop = (0, start) if axis == 3 else (start, 0)
        return F.conv_transpose2d(x, _depthwise(x, taps, axis), stride=stride, padding=crop, groups=x.shape[1])
    z = F.conv_transpose2d(x, _depthwise(x, taps, axis), stride=stride, groups=x.shape[1])
    cut = [-start, -end]
    return F.pad(z, cut + [0, 0] if axis == 3 else [0, 0] + cut)


def _downsample(x: torch.Tensor, taps: torch.Tensor, down: int) -> torch.Tensor:
    """Convolve (valid) with `taps` ([T] separable or [T, T]) and keep every `down`-th pixel: a strided conv."""
    channels = x.shape[1]
    if taps.ndim == 2:
        return F.conv2d(x, taps.flip([0, 1]).to(x.dtype).expand(channels, 1, -1, -1), stride=down, groups=channels)
    taps = taps.flip([0])
    x = F.conv2d(x, _depthwise(x, taps, 3), stride=(1, down), groups=channels)
    return F.conv2d(x, _depthwise(x, taps, 2), stride=(down, 1), groups=channels)


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _memory_order(x: torch.Tensor) -> torch.Tensor:
    """A dense `x` viewed in its storage order (NHWC for channels_last): elementwise passes and masks then
    run over memory, in place, without a copy."""
    return x.permute(0, 2, 3, 1) if _is_channels_last(x) else x


def _pack_codes(codes: torch.Tensor) -> torch.Tensor:
    """2-bit codes (uint8 values 0..3, flat) packed four to a byte: 1/16 of a float32 activation."""
    codes = F.pad(codes, (0, -codes.numel() % 4)).view(-1, 4)
    return codes[:, 0] | codes[:, 1] << 2 | codes[:, 2] << 4 | codes[:, 3] << 6


def _unpack_codes(packed: torch.Tensor, count: int) -> torch.Tensor:
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8, device=packed.device)
    return ((packed[:, None] >> shifts) & 3).view(-1)[:count]


def _activate(x: torch.Tensor, slope: float, clamp: float | None, keep_codes: bool) -> torch.Tensor | None:
    """leaky_relu(x, slope) clamped to +-clamp, in place on `x` (a temporary the caller owns: a fresh
    full-size tensor costs more in page faults than the arithmetic). With `keep_codes`, returns what the
    backward needs instead of the activation itself: per element, bit 0 = passed the ReLU, bit 1 = clamped,
    packed (what NVIDIA's CUDA op keeps too). No value is read back to the host."""
    flat = _memory_order(x)
    F.leaky_relu_(flat, slope)
    codes = None
    if keep_codes:
        codes = (flat > 0).to(torch.uint8)
        if clamp is not None:  # clamped outputs pass no gradient
            codes |= (flat.abs() >= clamp).to(torch.uint8) << 1
        codes = _pack_codes(codes.view(-1))
    if clamp is not None:
        flat.clamp_(-clamp, clamp)
    return codes


def _gradient_factor(codes: torch.Tensor, shape: torch.Size, channels_last: bool, slope: float,
                     dtype: torch.dtype) -> torch.Tensor:
    """The activation's derivative (1, slope or 0) from the packed codes: a [B, C, H, W] tensor of `shape`
    laid out as the activation was."""
    b, c, h, w = shape
    codes = _unpack_codes(codes, b * c * h * w)
    factor = torch.where(codes & 1 == 1, 1.0, slope).to(dtype).masked_fill_(codes >= 2, 0)
    return factor.view(b, h, w, c).permute(0, 3, 1, 2) if channels_last else factor.view(shape)


def _upsample_axis_adjoint(g: torch.Tensor, taps: torch.Tensor, up: int, pad: tuple[int, int], axis: int,
                           length_in: int) -> torch.Tensor:
    """The adjoint of `_upsample_axis` (a transposed conv, then a pad or crop): the crop undone by a pad
    (and the pad by a crop), then the plain strided conv with the same taps."""
    stride = (1, up) if axis == 3 else (up, 1)
    length = length_in * up + pad[0] + pad[1] - (taps.numel() - 1)
    start = taps.numel() - 1 - pad[0]
    end = (length_in - 1) * up + taps.numel() - start - length
    if start == end >= 0:
        crop = (0, start) if axis == 3 else (start, 0)
        return F.conv2d(g, _depthwise(g, taps, axis), stride=stride, padding=crop, groups=g.shape[1])
    g = F.pad(g, [start, end, 0, 0] if axis == 3 else [0, 0, start, end])
    return F.conv2d(g, _depthwise(g, taps, axis), stride=stride, groups=g.shape[1])


def _downsample_adjoint(g: torch.Tensor, taps: torch.Tensor, down: int, shape: torch.Size) -> torch.Tensor:
    """The adjoint of `_downsample` onto the activation's `shape`: transposed strided convs."""
    channels = shape[1]
    if taps.ndim == 2:
        kernel = taps.flip([0, 1]).to(g.dtype).expand(channels, 1, -1, -1)
        return torch.nn.grad.conv2d_input(shape, kernel, g, stride=down, groups=channels)
    taps = taps.flip([0])
    middle = (shape[0], channels, shape[2], (shape[3] - taps.numel()) // down + 1)
    g = torch.nn.grad.conv2d_input(middle, _depthwise(g, taps, 2), g, stride=(down, 1), groups=channels)
    return torch.nn.grad.conv2d_input(shape, _depthwise(g, taps, 3), g, stride=(1, down), groups=channels)


def _filtered_lrelu(x: torch.Tensor, up_filter: torch.Tensor | None, down_filter: torch.Tensor | None, up: int,
                    down: int, padding: tuple[int, int, int, int], gain: float, slope: float, clamp: float | None,
                    backward: str) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The forward pass: (output, packed activation codes or None, the activation). `backward`: "none" (no
    gradient taken), "codes" (the lean backward's forward: packed codes returned) or "activation" (autograd
    keeps the activation: the CPU's backward)."""
    px0, px1, py0, py1 = padding
    if up_filter is None:  # no resampling
        x = F.pad(x, [px0, px1, py0, py1]) * gain  # a fresh tensor: the activation works in place
    else:
        x = _upsample_axis(x, up_filter * (up * gain), up, (px0, px1), 3)
        x = _upsample_axis(x, up_filter * up, up, (py0, py1), 2)
    if not (x.is_contiguous() or _is_channels_last(x)):
        x = x.contiguous()
    codes = None
    if slope != 1 or clamp is not None:
        if backward == "activation":
            x = _LeakyClamp.apply(x, slope, clamp)
        else:
            codes = _activate(x, slope, clamp, keep_codes=backward == "codes")
    if down_filter is None:
        return (x[:, :, ::down, ::down] if down > 1 else x), codes, x
    return _downsample(x, down_filter, down), codes, x


class FilteredLReLUFunction(torch.autograd.Function):
    """`filtered_lrelu` whose backward keeps 2 bits per up-sampled element instead of the float activation
    (16x less memory on the widest tensors of StyleGAN3): the op is linear except for the activation, so its
    gradient is up^T(factor * down^T(g)) with the activation's derivative `factor` in {1, slope, 0}."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, up_filter: torch.Tensor | None, down_filter: torch.Tensor | None, up: int,
                down: int, padding: tuple[int, int, int, int], gain: float, slope: float,
                clamp: float | None) -> torch.Tensor:
        out, codes, activation = _filtered_lrelu(x, up_filter, down_filter, up, down, padding, gain, slope, clamp,
                                                 backward="codes")
        ctx.save_for_backward(codes, up_filter, down_filter)
        ctx.settings = (x.shape, activation.shape, _is_channels_last(activation), up, down, padding, gain, slope)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        codes, up_filter, down_filter = ctx.saved_tensors
        x_shape, activation_shape, channels_last, up, down, (px0, px1, py0, py1), gain, slope = ctx.settings
        if down_filter is not None:
            grad = _downsample_adjoint(grad, down_filter, down, activation_shape)
        elif down > 1:
            sparse = grad.new_zeros(activation_shape)
            sparse[:, :, ::down, ::down] = grad
            grad = sparse
        if codes is not None:
            grad = grad * _gradient_factor(codes, activation_shape, channels_last, slope, grad.dtype)
        if up_filter is None:
            grad = F.pad(grad, [-px0, -px1, -py0, -py1]) * gain
        else:
            grad = _upsample_axis_adjoint(grad, up_filter * up, up, (py0, py1), 2, x_shape[2])
            grad = _upsample_axis_adjoint(grad, up_filter * (up * gain), up, (px0, px1), 3, x_shape[3])
        return grad, None, None, None, None, None, None, None, None


class _LeakyClamp(torch.autograd.Function):
    """The CPU's backward: leaky_relu(x, slope) clamped to +-clamp, in place on `x`, keeping its output (one
    pass; host memory is plentiful). Reading whether anything reached the clamp costs no device sync here, and
    skips the clamp's mask in most layers (trained nets rarely reach their clamp)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float, clamp: float | None) -> torch.Tensor:
        flat = _memory_order(x)
        F.leaky_relu_(flat, slope)
        if clamp is not None:
            low, high = torch.aminmax(flat.reshape(-1))
            clamp = clamp if bool(high >= clamp) or bool(low <= -clamp) else None
            if clamp is not None:
                flat.clamp_(-clamp, clamp)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        ctx.slope, ctx.clamp = slope, clamp
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (out,) = ctx.saved_tensors
        grad = torch.ops.aten.leaky_relu_backward(grad, out, ctx.slope, True)
        if ctx.clamp is not None:  # clamped outputs pass no gradient
            grad = grad.masked_fill_(out.abs() >= ctx.clamp, 0)
        return grad, None, None


_LEAN_ON_CPU = contextvars.ContextVar("soundclip_lean_backward_on_cpu", default=False)


@contextlib.contextmanager
def lean_backward() -> Iterator[None]:
    """Take the GPU's backward on the CPU too: the memory plans (what a GPU keeps) and the tests of that path."""
    token = _LEAN_ON_CPU.set(True)
    try:
        yield
    finally:
        _LEAN_ON_CPU.reset(token)


def filtered_lrelu(x: torch.Tensor, up_filter: torch.Tensor | None, down_filter: torch.Tensor | None, up: int,
                   down: int, padding: tuple[int, int, int, int], gain: float, slope: float,
                   clamp: float | None) -> torch.Tensor:
    """x [B, C, H, W] (bias already added) -> up-sample, pad, FIR, x gain, leaky ReLU, clamp, FIR, down-sample.

    up_filter: separable [T] with gain `up` per axis applied here; down_filter: [T], [T, T] or None.
    The filters are frozen buffers: gradients flow to x only. Where a gradient is taken, a GPU (or anything but
    the CPU) keeps 2 bits per up-sampled element (`FilteredLReLUFunction`: memory is what limits a GPU); the
    CPU keeps the activation itself, which its many passes over packed codes would make ~3x slower."""
    if torch.is_grad_enabled() and x.requires_grad:
        if x.device.type != "cpu" or _LEAN_ON_CPU.get():
            return FilteredLReLUFunction.apply(x, up_filter, down_filter, up, down, padding, gain, slope, clamp)
        return _filtered_lrelu(x, up_filter, down_filter, up, down, padding, gain, slope, clamp, "activation")[0]
    return _filtered_lrelu(x, up_filter, down_filter, up, down, padding, gain, slope, clamp, "none")[0]


class ModulatedConvFunction(torch.autograd.Function):
    """conv(x * s, W, padding) * d + bias, gradients for x, s and d only (W and bias frozen)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, styles: torch.Tensor, demod: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor, padding: int, kernels: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """x [B, in, H, W]; styles [B, in]; demod [B, out]; weight [out, in, k, k]; bias [out];
        kernels: `winograd.kernels` of the weight (fp32, 3x3) or None."""
        dtype = x.dtype
        if kernels is not None:
            out = winograd.conv3x3(x, kernels[0], styles, demod, bias, padding=padding)
        elif x.shape[0] == 1:
            folded = fold(weight, styles[0][None, :, None, None] * demod[0][:, None, None, None], dtype, False)
            out = F.conv2d(x, folded, bias.to(dtype), padding=padding)
        else:
            shared = fold(weight, weight.new_ones(1, 1, 1, 1), dtype, False)
            out = F.conv2d(x * styles.to(dtype)[:, :, None, None], shared, padding=padding)
            out = torch.addcmul(bias.to(dtype)[:, None, None], out, demod.to(dtype)[:, :, None, None])
        ctx.save_for_backward(x, styles, demod, weight, bias, out)
        ctx.padding, ctx.adjoint = padding, None if kernels is None else kernels[1]
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, styles, demod, weight, bias, out = ctx.saved_tensors
        dtype = out.dtype
        grad = grad.to(dtype)
        grad_x = grad_styles = grad_demod = None
        if ctx.needs_input_grad[2]:  # sum(g * u) with u * d = out - bias
            grad_demod = (spatial_dot(grad, out) - bias.float() * pixel_sums(grad, None)[..., 0]) / demod
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            # the adjoint conv as a plain conv with the flipped, transposed weight: CPU backends run
            # conv2d far faster than conv_transpose2d of the same size
            flipped, padding = weight.flip([2, 3]), weight.shape[-1] - 1 - ctx.padding
            if ctx.adjoint is not None:
                h = winograd.conv3x3(grad, ctx.adjoint, in_scale=demod, padding=padding)
            elif x.shape[0] == 1:
                h = F.conv2d(grad, fold(flipped, demod[0][:, None, None, None], dtype, True), padding=padding)
            else:
                shared = fold(flipped, weight.new_ones(1, 1, 1, 1), dtype, True)
                h = F.conv2d(grad * demod.to(dtype)[:, :, None, None], shared, padding=padding)
            if ctx.needs_input_grad[1]:
                grad_styles = spatial_dot(h, x).to(styles.dtype)
            if ctx.needs_input_grad[0]:
                grad_x = h.mul_(styles.to(dtype)[:, :, None, None])
        return grad_x, grad_styles, grad_demod, None, None, None, None


def modulated_conv(x: torch.Tensor, styles: torch.Tensor, demod: torch.Tensor, weight: torch.Tensor,
                   bias: torch.Tensor, padding: int,
                   kernels: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """`ModulatedConvFunction` for a frozen layer: weight and bias must not need gradients."""
    return ModulatedConvFunction.apply(x, styles, demod, weight, bias, padding, kernels)


def fourier_grid(size: int, sampling_rate: float, device: torch.device | None = None) -> torch.Tensor:
    """Sample positions of a `size`-pixel axis in the input's units: (i + 0.5 - size / 2) / sampling_rate."""
    return (torch.arange(size, device=device, dtype=torch.float32) + (0.5 - size / 2)) / sampling_rate


def transformed_frequencies(t: torch.Tensor, freqs: torch.Tensor, phases: torch.Tensor,
                            transform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate/translate the Fourier features by t = affine(w0) [B, 4] (r_c, r_s, t_x, t_y) after the user
    transform [3, 3]: -> freqs [B, C, 2], phases [B, C]."""
    t = t / t[:, :2].norm(dim=1, keepdim=True)
    c, s, tx, ty = t.unbind(1)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    rotation = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], 1).reshape(-1, 3, 3)
    translation = torch.stack([one, zero, -tx, zero, one, -ty, zero, zero, one], 1).reshape(-1, 3, 3)
    m = rotation @ translation @ transform
    return freqs @ m[:, :2, :2], phases + (freqs @ m[:, :2, 2:]).squeeze(2)
