"""StyleSpace on every generator: styles(ws), synthesis_from_styles, and one channel = one modulation."""

from __future__ import annotations

import pytest
import torch
from stylegan3_formats import tiny_sg3
from stylegan_formats import tiny_generator

from soundclip_core.errors import LatentShapeError
from soundclip_core.generators.stylegan2 import ops
from soundclip_core.generators.stylegan2.networks import StyledConv, ToRGB
from soundclip_core.generators.stylegan3.networks import SynthesisLayer
from soundclip_core.generators.stylegan3.reference import layer_from_styles_reference

GENERATORS = {"stylegan2": lambda: tiny_generator(32, conv_clamp=256.0),
              "stylegan3-t": lambda: tiny_sg3("stylegan3-t"), "stylegan3-r": lambda: tiny_sg3("stylegan3-r")}


@pytest.fixture(scope="module", params=list(GENERATORS))
def g(request):
    return GENERATORS[request.param]()


def test_style_layers_follow_the_affines(g):
    layers = g.style_layers
    styles = g.styles(g.ws_from_seed(0, batch_size=2))
    assert [s.shape for s in styles] == [(2, layer.channels) for layer in layers]
    assert all(layer.w_index < g.num_ws for layer in layers) and sorted({la.w_index for la in layers}) == list(
        range(g.num_ws))
    if g.kind == "stylegan2":  # StyleCLIP's order: conv1_4, toRGB_4, conv0_8, conv1_8, toRGB_8, ...
        assert [la.name for la in layers[:5]] == ["conv1_4", "torgb_4", "conv0_8", "conv1_8", "torgb_8"]
        assert [la.w_index for la in layers[:5]] == [0, 1, 1, 2, 3] and layers[-1].w_index == g.num_ws - 1
        assert [la.is_torgb for la in layers[:5]] == [False, True, False, False, True]
        assert [la.resolution for la in layers[:5]] == [4, 4, 8, 8, 8] and layers[-1].resolution == g.resolution
        c = g.config.channels
        assert [la.channels for la in layers[:5]] == [c[0], c[0], c[0], c[1], c[1]]
    else:
        assert layers[0].kind == "input" and layers[0].channels == 4 and layers[-1].is_torgb
        assert [la.name for la in layers[1:]] == list(g.layers) and [la.w_index for la in layers] == list(range(16))
    assert sum(la.is_torgb for la in layers) == (g.config.levels if g.kind == "stylegan2" else 1)


@pytest.mark.parametrize("batch", [1, 3])
def test_synthesis_from_styles_is_synthesis_bit_for_bit(g, batch):
    ws = torch.stack([g.ws_from_seed(s)[0] for s in range(batch)])
    ws[:, 1] = ws[:, 1].flip(0)  # W+ that differs by layer
    with torch.no_grad():
        assert torch.equal(g.synthesis_from_styles(g.styles(ws)), g.synthesis(ws))
        if g.kind == "stylegan2":
            assert torch.equal(g.synthesis_from_styles(g.styles(ws), "none"), g.synthesis(ws, "none"))
            noise = [torch.randn(1, 1, *getattr(g.noises, f"noise_{k}").shape[2:])
                     for k in range(2 * g.config.levels - 1)]
            assert torch.equal(g.synthesis_from_styles(g.styles(ws), noise=noise), g.synthesis(ws, noise=noise))


def test_styles_are_differentiable_through_the_fast_path(g):
    """The image's gradient w.r.t. the styles, through the fused layers, equals autograd through w's affines."""
    ws = g.ws_from_seed(1).requires_grad_(True)
    styles = [s.detach().requires_grad_(True) for s in g.styles(ws)]
    g.synthesis_from_styles(styles).square().mean().backward()
    g.synthesis(ws).square().mean().backward()
    through_styles = torch.autograd.grad(g.styles(ws), ws, [s.grad for s in styles])[0]
    assert torch.allclose(through_styles, ws.grad, rtol=1e-4, atol=1e-6 * ws.grad.abs().max())


def test_bad_styles_give_one_clear_error(g):
    styles = g.styles(g.ws_from_seed(0))
    with pytest.raises(LatentShapeError, match=f"{len(styles)} style tensors"):
        g.synthesis_from_styles(styles[:-1])
    bad = list(styles)
    bad[2] = bad[2][:, :-1]
    with pytest.raises(LatentShapeError, match=g.style_layers[2].name):
        g.synthesis_from_styles(bad)


def _capture(g, kinds):
    """Forward hooks on every style-modulated module: [(module, inputs, output)] per call, in order."""
    calls, handles = [], []
    for module in g.modules():
        if isinstance(module, kinds):
            handles.append(module.register_forward_hook(lambda m, i, o: calls.append((m, i, o))))
    return calls, handles


def _styled_conv_by_hand(layer: StyledConv, x, styles, noise):
    """The modulated conv written out (per-sample weights) with `styles` the layer's StyleSpace styles."""
    conv = layer.conv
    noise = None if noise is None else noise * layer.noise.weight
    return ops.styled_conv_reference(x, conv.weight[0], styles * conv.scale, layer.activate.bias, noise, conv.up,
                                     layer.clamp)


def _to_rgb_by_hand(layer: ToRGB, x, styles, skip, blur):
    conv = layer.conv
    rgb = ops.modulated_conv2d_reference(x, conv.weight[0] * conv.scale, styles, demodulate=False) + layer.bias
    return rgb if skip is None else rgb + ops.upsample_2x(skip, blur)


@pytest.mark.parametrize("which", ["conv", "torgb"])
def test_one_channel_changes_exactly_that_modulation(g, which):
    """Style channel c of layer l set to another value: every other layer receives its style unchanged,
    layers before l compute bit-identical outputs, and layer l's output is the modulated conv by hand with
    that one style value changed."""
    layers = g.style_layers
    index = [i for i, la in enumerate(layers) if la.kind == which][1 if which == "conv" else -1]
    channel = layers[index].channels // 2
    ws = g.ws_from_seed(4)
    with torch.no_grad():
        styles = g.styles(ws)
        changed = [s.clone() for s in styles]
        changed[index][0, channel] += 3.0
        kinds = (StyledConv, ToRGB) if g.kind == "stylegan2" else SynthesisLayer
        before, handles = _capture(g, kinds)
        g.synthesis_from_styles(styles)
        after, more = _capture(g, kinds)
        for h in handles:
            h.remove()
        edited = g.synthesis_from_styles(changed)
        for h in more:
            h.remove()
    offset = 0 if g.kind == "stylegan2" else 1  # hook k sees style layer k + offset (SG3: 0 is the input)
    assert len(after) == len(layers) - offset
    for k, ((_, old_in, old_out), (module, new_in, new_out)) in enumerate(zip(before, after, strict=True)):
        layer = k + offset
        if layer != index:
            assert torch.equal(new_in[1], old_in[1]), layers[layer].name  # its style, untouched
        else:
            assert torch.equal(new_in[1] - old_in[1] != 0, torch.nn.functional.one_hot(
                torch.tensor([channel]), layers[index].channels).bool())
        if layer < index:
            assert torch.equal(new_out, old_out)
        if layer == index:
            x = new_in[0]
            if g.kind == "stylegan2" and which == "conv":
                by_hand = _styled_conv_by_hand(module, x, changed[index], new_in[2])
            elif g.kind == "stylegan2":
                by_hand = _to_rgb_by_hand(module, x, changed[index], new_in[2], new_in[3])
            else:
                by_hand = layer_from_styles_reference(module, x, changed[index])
            scale = by_hand.abs().max()
            assert (new_out - by_hand).abs().max() < 2e-5 * scale
            assert (old_out - by_hand).abs().max() > 1e-3 * scale  # the change did change this layer
    assert not torch.equal(edited, g.synthesis(ws))
