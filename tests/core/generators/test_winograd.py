"""Winograd F(4x4, 3x3) convs: equal to the direct conv (their reference twin) within fp32 rounding, their
adjoint is the input gradient, and the optimisation paths that use them keep the reference gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from stylegan_formats import tiny_generator
from tiny_models import tiny_vgg

from soundclip_core.generators import winograd
from soundclip_core.generators.derived import derived
from soundclip_core.generators.stylegan2 import ops
from soundclip_core.generators.stylegan2.reference import synthesis_reference
from soundclip_core.generators.stylegan2.styled_conv import styled_conv


def everywhere(monkeypatch) -> None:
    """The fast path on every 3x3 conv, however narrow or small (the tiny test models)."""
    monkeypatch.setattr(winograd, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "WINOGRAD_MIN_WORK", 1)


def _relative_error(value: torch.Tensor, expected: torch.Tensor) -> float:
    return float((value.double() - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("shape", [(1, 5, 16, 16), (2, 6, 7, 5), (1, 3, 3, 3), (2, 4, 13, 22)])
@pytest.mark.parametrize("scaled", [False, True])
def test_conv3x3_equals_the_direct_conv(padding, shape, scaled, monkeypatch):
    monkeypatch.setattr(winograd, "BAND_BYTES", 2048)  # several bands of tile rows on these small images
    g = torch.Generator().manual_seed(padding + shape[2])
    x = torch.randn(*shape, generator=g).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(7, shape[1], 3, 3, generator=g)
    in_scale, out_scale, bias = torch.rand(shape[0], shape[1]) + 0.5, torch.rand(shape[0], 7) + 0.5, torch.randn(7)
    expected = F.conv2d(x.double() * in_scale.double()[:, :, None, None] if scaled else x.double(),
                        weight.double(), padding=padding)
    if scaled:
        expected = expected * out_scale.double()[:, :, None, None] + bias.double()[:, None, None]
    kwargs = dict(in_scale=in_scale, out_scale=out_scale, bias=bias) if scaled else {}
    fast = winograd.conv3x3(x, winograd.transform_kernel(weight), padding=padding, **kwargs)
    assert fast.shape == expected.shape
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert _relative_error(fast, expected) < 2e-5
    direct = F.conv2d(x, weight, padding=padding)
    assert _relative_error(direct, F.conv2d(x.double(), weight.double(), padding=padding)) < 2e-6  # the twin's own


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_adjoint_kernel_gives_the_input_gradient(padding):
    x = torch.randn(2, 5, 9, 11, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(6, 5, 3, 3, dtype=torch.float64)
    out = F.conv2d(x, weight, padding=padding)
    grad_out = torch.randn_like(out)
    (expected,) = torch.autograd.grad(out, x, grad_out)
    adjoint = winograd.conv3x3(grad_out, winograd.transform_adjoint_kernel(weight), padding=2 - padding)
    assert torch.allclose(adjoint, expected, atol=1e-10)


def test_only_wide_fp32_cpu_3x3_convs_on_enough_pixels_qualify():
    x, wide, narrow = torch.randn(1, 128, 16, 16), torch.randn(128, 128, 3, 3), torch.randn(64, 128, 3, 3)
    assert winograd.applies(x, wide)
    assert not winograd.applies(x, narrow)  # transforms would cost more than they save
    assert not winograd.applies(x[:, :, :8, :8], wide)  # so would the per-call costs
    assert winograd.applies(torch.randn(1, 512, 8, 8), torch.randn(512, 512, 3, 3))
    assert not winograd.applies(x.bfloat16(), wide.bfloat16())
    assert not winograd.applies(x, torch.randn(128, 128, 1, 1))


def test_kernels_are_cached_until_the_weight_changes():
    conv = torch.nn.Conv2d(4, 4, 3).requires_grad_(False)
    first = winograd.kernels(conv, conv.weight)
    assert winograd.kernels(conv, conv.weight)[0] is first[0]
    with torch.no_grad():
        conv.weight.mul_(2)
    again = winograd.kernels(conv, conv.weight)
    assert torch.allclose(again[0], winograd.transform_kernel(conv.weight))
    assert torch.allclose(again[0], 2 * first[0]) and torch.allclose(again[1], 2 * first[1])
    assert list(conv.state_dict()) == ["weight", "bias"]


def test_frozen_conv_takes_winograd_only_while_a_gradient_is_taken(monkeypatch):
    everywhere(monkeypatch)
    calls = []
    original = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *a, **k: calls.append(1) or original(*a, **k))
    conv = torch.nn.Conv2d(6, 8, 3, padding=1).requires_grad_(False)
    x = torch.randn(2, 6, 10, 10)
    with torch.no_grad():
        assert torch.equal(winograd.frozen_conv3x3(x, conv), conv(x))  # decodes: the direct conv, exactly
    assert not calls
    fast_x, direct_x = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    grad_out = torch.randn(2, 8, 10, 10)
    fast = winograd.frozen_conv3x3(fast_x, conv)
    (fast * grad_out).sum().backward()
    (conv(direct_x) * grad_out).sum().backward()
    assert len(calls) == 2  # forward and input-gradient backward
    assert torch.allclose(fast, conv(x), atol=1e-5)
    assert torch.allclose(fast_x.grad, direct_x.grad, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("clamp", [None, 1.5])
def test_styled_conv_with_winograd_kernels_passes_gradcheck(batch, clamp):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(batch, 4, 6, 6, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 4, 3, 3, generator=g, dtype=torch.float64) / 3
    styles, bias = torch.randn(batch, 4, generator=g, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    noise = torch.randn(1, 1, 6, 6, generator=g, dtype=torch.float64) * 0.3
    demod = torch.rand(batch, 3, dtype=torch.float64) + 0.5
    blur, kernels = ops.blur_kernel(dtype=torch.float64), winograd.kernels(torch.nn.Module(), weight)
    expected = styled_conv(x, styles, demod, weight, bias, noise, blur, False, clamp)
    assert torch.allclose(styled_conv(x, styles, demod, weight, bias, noise, blur, False, clamp, kernels), expected,
                          atol=1e-10)
    x, styles, demod = (t.requires_grad_(True) for t in (x, styles, demod))
    assert torch.autograd.gradcheck(
        lambda x, s, d: styled_conv(x, s, d, weight, bias, noise, blur, False, clamp, kernels), (x, styles, demod))


def test_synthesis_gradient_with_winograd_equals_the_literal_formulas(monkeypatch):
    everywhere(monkeypatch)  # the tiny generator's narrow layers too
    calls = []
    original = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *a, **k: calls.append(1) or original(*a, **k))
    g = tiny_generator(resolution=32, conv_clamp=0.8)
    ws = torch.randn(2, g.num_ws, g.w_dim)
    weights = torch.randn(2, 3, 32, 32)
    grads = []
    for synthesis in (g.synthesis, lambda w: synthesis_reference(g, w)):
        w = ws.clone().requires_grad_(True)
        (synthesis(w) * weights).sum().backward()
        grads.append(w.grad)
    assert len(calls) == 2 * 4  # the four plain convs (4, 8, 16, 32 px), forward and backward
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5)


def test_lpips_gradient_with_winograd_equals_the_direct_one(monkeypatch):
    vgg = tiny_vgg()
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    target = vgg.taps(torch.rand(1, 3, 32, 32) * 2 - 1)
    grads = []
    for fast in (False, True):
        monkeypatch.setattr(winograd, "WINOGRAD_MIN_CHANNELS", 1 if fast else 10 ** 9)
        monkeypatch.setattr(winograd, "WINOGRAD_MIN_WORK", 1)
        x = image.clone().requires_grad_(True)
        vgg.distance_to_taps(x, target).sum().backward()
        grads.append(x.grad)
    assert _relative_error(grads[1], grads[0].double()) < 1e-4


def test_derived_values_follow_the_weight_and_skip_what_cannot_be_keyed():
    owner, weight, calls = torch.nn.Module(), torch.randn(3, 3), []

    def square(w):
        calls.append(1)
        return w.square()

    assert torch.equal(derived(owner, "sq", weight, square), weight.square())
    derived(owner, "sq", weight, square)
    assert len(calls) == 1  # cached
    weight.add_(1)
    assert torch.equal(derived(owner, "sq", weight, square), weight.square()) and len(calls) == 2
    derived(owner, "sq", weight.clone().requires_grad_(True), square)  # a trained weight: recomputed
    with torch.inference_mode():
        frozen_in_comfyui = torch.randn(3, 3)
    assert torch.equal(derived(owner, "sq", frozen_in_comfyui, square), frozen_in_comfyui.square())
    assert len(calls) == 4


def test_stylegan3_gradient_with_winograd_equals_the_literal_composition(monkeypatch):
    from stylegan3_formats import tiny_sg3

    from soundclip_core.generators.stylegan3.reference import synthesis_reference as sg3_reference

    everywhere(monkeypatch)
    calls = []
    original = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *a, **k: calls.append(k.get("padding")) or original(*a, **k))
    g = tiny_sg3()
    ws = g.ws_from_seed(2) + 0.3 * torch.randn(1, g.num_ws, g.w_dim)
    weights = torch.randn(1, 3, g.resolution, g.resolution)
    grads = []
    for synthesis in (g.synthesis, lambda w: sg3_reference(g, w)):
        w = ws.clone().requires_grad_(True)
        (synthesis(w) * weights).sum().backward()
        grads.append(w.grad)
    assert calls and set(calls) == {0, 2}  # forward with the layers' full padding, backward its adjoint
    assert (grads[0] - grads[1]).norm() < 1e-4 * grads[1].norm()
