"""StyleGAN3 engine: fast ops equal their literal formulas; NVIDIA's pickles load (settings from their
attributes, filters from their buffers) to the same images as the literal reference composition;
our export round-trips; bad files are refused clearly; the editing loop runs on it."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from devices import TEST_DEVICE
from stylegan3_formats import save_nvidia_sg3_pickle, tiny_sg3

from soundclip_core.clip import tiny_clip
from soundclip_core.errors import CheckpointError
from soundclip_core.generators import load_generator, save_generator
from soundclip_core.generators.stylegan3 import ops as sg3_ops
from soundclip_core.generators.stylegan3 import schedule
from soundclip_core.generators.stylegan3.filters import lowpass
from soundclip_core.generators.stylegan3.reference import (
    filtered_lrelu_reference,
    fourier_features_reference,
    synthesis_reference,
)
from soundclip_core.manipulate import default_mix_layers, optimize, style_mix

KINDS = ("stylegan3-t", "stylegan3-r")


@pytest.fixture(scope="module", params=KINDS)
def tiny(request):
    return tiny_sg3(request.param)


# -- filter design and layer schedule -------------------------------------------------------------------------------

def test_kaiser_lowpass_matches_scipy_firwin_values():
    """Values printed by scipy.signal.firwin / NVIDIA's radial design for the same arguments."""
    expected = [0.0207729796, 0.043052224, 0.0712933423, 0.1006908778, 0.1251445241, 0.1390460523]
    f = lowpass(12, cutoff=2.0, half_width=2 ** 2.1 - 2, rate=32)
    assert np.allclose(f[:6].numpy(), expected, atol=1e-8) and torch.equal(f, f.flip(0))
    f = lowpass(24, cutoff=5.04, half_width=3.4, rate=64)
    assert np.allclose(f[[0, 5, 11]].numpy(), [-0.0016867669, -0.0020972574, 0.1546276546], atol=1e-8)
    radial = lowpass(12, cutoff=8.0, half_width=4.0, rate=32, radial=True)
    assert np.allclose([radial[5, 5], radial[0, 0], radial[5, 0], radial[2, 7]],
                       [0.1630300864764753, -3.341064168982811e-05, 0.0008627926792967624, -0.007009049879391985],
                       atol=1e-7)
    assert math.isclose(float(radial.sum()), 1.0, rel_tol=1e-5) and lowpass(1, 2.0, 1.0, 16) is None


def test_schedule_reproduces_the_paper_configs():
    t, _ = schedule(1024)
    assert [s.name for s in t.layers] == [
        "L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512", "L6_148_512", "L7_276_323",
        "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51", "L12_1044_32", "L13_1024_32", "L14_1024_3"]
    assert t.num_ws == 16 and [s.up for s in t.layers[:6]] == [2, 2, 4, 2, 4, 4]
    assert t.layers[0].padding == (9, 8, 9, 8) and t.layers[2].padding == (-6, -9, -6, -9)
    assert t.layers[13].padding == (-11, -12, -11, -12) and t.layers[14].padding == (0, 0, 0, 0)
    r, _ = schedule(1024, "stylegan3-r")
    assert [s.out_channels for s in r.layers[6:14]] == [1024, 645, 406, 256, 161, 102, 64, 64]
    assert r.layers[0].kernel == 1 and r.layers[0].down_radial and not r.layers[12].down_radial
    assert r.layers[0].padding == (11, 10, 11, 10) and r.layers[13].padding == (-9, -10, -9, -10)


# -- ops against their literal formulas -----------------------------------------------------------------------------

@pytest.mark.parametrize("up,padding,radial,clamp", [(2, (9, 8, 9, 8), False, None), (4, (-6, -9, -6, -9), False, 0.5),
                                                     (2, (5, 2, -4, 3), False, 1.0),
                                                     (2, (11, 10, 11, 10), True, 0.7), (2, (-3, -4, -3, -4), False,
                                                                                         None)])
@pytest.mark.parametrize("lean", [False, True], ids=["cpu-backward", "gpu-backward"])
def test_filtered_lrelu_equals_zero_insertion_pad_fir_activate_clamp_fir_subsample(up, padding, radial, clamp, lean):
    """Both backwards: the CPU's (autograd keeps the activation) and the GPU's (2-bit codes, adjoint convs)."""
    g = torch.Generator().manual_seed(up)
    x = torch.randn(2, 3, 18, 18, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    fu = lowpass(6 * up, 3.0, 2.0, 16.0 * up).double()
    fd = lowpass(12, 4.0, 3.0, 32.0, radial=radial).double()
    expected = filtered_lrelu_reference(x, fu, fd, bias, up, 2, padding, math.sqrt(2), 0.2, clamp)
    layout = torch.channels_last if radial else torch.contiguous_format
    xb = (x + bias[:, None, None]).contiguous(memory_format=layout).requires_grad_(True)
    with sg3_ops.lean_backward() if lean else contextlib.nullcontext():
        fast = sg3_ops.filtered_lrelu(xb, fu, fd, up, 2, padding, math.sqrt(2), 0.2, clamp)
    assert fast.shape == expected.shape and torch.allclose(fast, expected, atol=1e-10)
    if clamp is not None:
        assert (expected.abs() >= clamp).any()  # the clamp is exercised
    xr = x.clone().requires_grad_(True)
    weights = torch.randn(expected.shape, generator=g, dtype=torch.float64)
    (fast * weights).sum().backward()
    (filtered_lrelu_reference(xr, fu, fd, bias, up, 2, padding, math.sqrt(2), 0.2, clamp) * weights).sum().backward()
    assert torch.allclose(xb.grad, xr.grad, atol=1e-10)


def test_filtered_lrelu_reference_is_the_direct_composition():
    """One output pixel of the reference by hand: sum over the up-sampled, activated neighbourhood."""
    x, bias = torch.randn(1, 1, 6, 6, dtype=torch.float64), torch.tensor([0.3], dtype=torch.float64)
    fu, fd = torch.tensor([0.25, 0.75, 0.75, 0.25], dtype=torch.float64), torch.tensor([0.5, 0.5], dtype=torch.float64)
    out = filtered_lrelu_reference(x, fu, fd, bias, 2, 2, (2, 1, 2, 1), 2.0, 0.2, 1.5)
    stuffed = torch.zeros(12, 12, dtype=torch.float64)
    stuffed[::2, ::2] = x[0, 0] + 0.3
    padded = F.pad(stuffed, (2, 1, 2, 1))
    k = torch.outer(fu, fu) * 4

    def up(i, j):  # valid convolution at (i, j): sum_ab k[a, b] padded[i + 3 - a, j + 3 - b]
        return sum(k[a, b] * padded[i + 3 - a, j + 3 - b] for a in range(4) for b in range(4))

    def act(v):
        return (F.leaky_relu(v * 2.0, 0.2)).clamp(-1.5, 1.5)

    i, j = 2, 3  # output pixel -> down-sampled position (4, 6); fd spans positions 4..5 (flipped, symmetric)
    manual = sum(fd[a] * fd[b] * act(up(2 * i + 1 - a, 2 * j + 1 - b)) for a in range(2) for b in range(2))
    assert torch.isclose(out[0, 0, i, j], manual, atol=1e-12) and out.shape == (1, 1, 6, 6)


def test_fourier_input_is_its_formula(tiny):
    """With the identity transform (affine -> (1, 0, 0, 0)), the features are weight @ sin(2 pi (f . p + phase))."""
    layer = tiny.input
    w = torch.randn(2, tiny.w_dim)
    assert torch.allclose(layer(layer.affine(w)), fourier_features_reference(layer, w), atol=1e-5)
    with torch.no_grad():
        saved = layer.affine.weight.clone()
        layer.affine.weight.zero_()
        pos = (torch.arange(layer.size) + 0.5 - layer.size / 2) / layer.sampling_rate
        phase = (pos[None, None, :] * layer.freqs[:, 0, None, None] + pos[None, :, None] * layer.freqs[:, 1, None, None]
                 + layer.phases[:, None, None])
        waves = torch.sin(2 * math.pi * phase)
        expected = torch.einsum("dc,chw->dhw", layer.weight / math.sqrt(layer.weight.shape[0]), waves)
        out = layer(layer.affine(w[:1]))
        layer.affine.weight.copy_(saved)
    assert torch.allclose(out[0], expected, atol=1e-5) and out.shape[2:] == (layer.size, layer.size)


@pytest.mark.parametrize("batch", [1, 2])
def test_modulated_conv_backward_passes_gradcheck(batch):
    g = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 4, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    styles = torch.randn(batch, 4, generator=g, dtype=torch.float64, requires_grad=True)
    demod = (torch.rand(batch, 3, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    weight, bias = torch.randn(3, 4, 3, 3, generator=g, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda *a: sg3_ops.modulated_conv(*a, weight, bias, 2), (x, styles, demod))


# -- whole synthesis ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 2])
def test_synthesis_and_its_gradient_equal_the_literal_composition(tiny, batch):
    g = torch.Generator().manual_seed(batch)
    ws = tiny.ws_from_seed(batch, batch_size=batch) + 0.3 * torch.randn(batch, tiny.num_ws, tiny.w_dim, generator=g)
    weights = torch.randn(batch, 3, 32, 32, generator=g)
    grads, images = [], []
    for synthesis in (tiny.synthesis, lambda w: synthesis_reference(tiny, w)):
        w = ws.clone().requires_grad_(True)
        image = synthesis(w)
        (image * weights).sum().backward()
        grads.append(w.grad)
        images.append(image.detach())
    assert images[0].shape == (batch, 3, 32, 32) and images[0].abs().max() > 0.05
    assert torch.allclose(images[0], images[1], atol=2e-6)
    assert (grads[0] - grads[1]).norm() < 1e-5 * grads[1].norm()


def test_trainable_weights_take_the_literal_path(tiny):
    ws = tiny.ws_from_seed(0)
    try:
        tiny.requires_grad_(True)
        image = tiny.synthesis(ws)
        image.square().mean().backward()
        layer = next(iter(tiny.layers.values()))
        assert layer.weight.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0
    finally:
        tiny.requires_grad_(False).zero_grad(set_to_none=True)
    with torch.no_grad():
        assert torch.allclose(image.detach(), tiny.synthesis(ws), atol=2e-6)


def test_public_api_and_noise_mode_is_ignored(tiny):
    assert tiny.kind == tiny.config.kind and tiny.c_dim == 0 and tiny.resolution == 32
    assert tiny.num_ws == len(tiny.config.layers) + 1 == 16 and tiny.w_avg.shape == (tiny.w_dim,)
    ws = tiny.ws_from_seed(3, batch_size=2)
    assert ws.shape == (2, 16, tiny.w_dim) and torch.equal(ws[:, 0], ws[:, -1])
    a = tiny.synthesis(ws, noise_mode="const")
    assert torch.equal(a, tiny.synthesis(ws, noise_mode="random")) and torch.equal(a, tiny.synthesis(ws, "none"))
    with pytest.raises(ValueError, match="noise_mode"):
        tiny.synthesis(ws, noise_mode="loud")
    with pytest.raises(ValueError, match=r"\[B, 16"):
        tiny.synthesis(ws[:, :14])


# -- loading ---------------------------------------------------------------------------------------------------------

def test_nvidia_pickle_loads_with_settings_from_its_attributes(tiny, tmp_path):
    path = save_nvidia_sg3_pickle(tiny, tmp_path / "sg3.pkl")
    g = load_generator(path, device="cpu")
    assert type(g).__name__ == "Stylegan3Generator" and g.kind == tiny.kind and g.source == str(path)
    assert g.config == tiny.config and not any(p.requires_grad for p in g.parameters())
    assert torch.equal(g.w_avg, tiny.w_avg)
    for name, layer in tiny.layers.items():  # the pickle's filter buffers, not a redesign
        for f in ("up_filter", "down_filter"):
            ours, theirs = getattr(g.layers[name], f), getattr(layer, f)
            assert (ours is None and theirs is None) or torch.equal(ours, theirs)
    z = torch.randn(2, g.z_dim)
    assert torch.equal(g.mapping(z, truncation_psi=0.6), tiny.mapping(z, truncation_psi=0.6))
    ws = tiny.ws_from_seed(7)
    assert torch.equal(g.synthesis(ws), tiny.synthesis(ws))
    assert torch.allclose(g.synthesis(ws), synthesis_reference(tiny, ws), atol=2e-6)


def test_safetensors_export_round_trips_kind_and_config(tiny, tmp_path):
    path = save_generator(tiny, tmp_path / "sg3.safetensors")
    g = load_generator(path, device="cpu")
    assert g.kind == tiny.kind and g.config == tiny.config and torch.equal(g.w_avg, tiny.w_avg)
    ws = tiny.ws_from_seed(1)
    assert torch.equal(g.synthesis(ws), tiny.synthesis(ws))


def test_class_conditional_sg3_maps_labels_as_nvidia_does(tmp_path):
    """MappingNetwork.embed: labels through FullyConnectedLayer(c_dim, w_dim), normalised, concatenated to z."""
    g = tiny_sg3("stylegan3-t", resolution=16, c_dim=5, label_embedding="embed", embed_dim=16)
    with torch.no_grad():
        g.latent_avg.normal_()
    loaded = load_generator(save_nvidia_sg3_pickle(g, tmp_path / "conditional.pkl"), device="cpu")
    assert loaded.c_dim == 5 and loaded.config == g.config
    z, c = torch.randn(3, 16), torch.eye(5)[[0, 2, 4]]

    def normalise(x):
        return x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)

    x = torch.cat([normalise(z), normalise(c @ (g.embed.weight / math.sqrt(5)).t() + g.embed.bias)], 1)
    for layer in g.style.values():
        x = F.leaky_relu(x @ (layer.weight * 0.01 / math.sqrt(layer.weight.shape[1])).t() + layer.bias * 0.01,
                         0.2) * math.sqrt(2)
    expected = g.latent_avg + 0.5 * (x - g.latent_avg)
    assert torch.allclose(loaded.mapping(z, c, truncation_psi=0.5), expected, atol=1e-5)
    ws = loaded.ws_from_seed(1, c=c[:1])
    assert torch.equal(loaded.synthesis(ws), g.synthesis(ws))
    round_trip = load_generator(save_generator(loaded, tmp_path / "conditional.safetensors"), device="cpu")
    assert round_trip.c_dim == 5 and torch.equal(round_trip.mapping(z, c), loaded.mapping(z, c))


def test_convert_cli_turns_an_sg3_pickle_into_our_export(tmp_path, capsys):
    from soundclip_core.cli import main

    g = tiny_sg3("stylegan3-r", resolution=16)
    source = save_nvidia_sg3_pickle(g, tmp_path / "stylegan3-r-tiny.pkl")
    assert main(["convert", str(source), str(tmp_path / "out.safetensors")]) == 0
    assert "stylegan3-r, 16 px, 16 W+ layers" in capsys.readouterr().out
    converted = load_generator(tmp_path / "out.safetensors", device="cpu")
    ws = g.ws_from_seed(2)
    assert converted.kind == "stylegan3-r" and torch.equal(converted.synthesis(ws), g.synthesis(ws))


@pytest.mark.parametrize("problem", ["truncated", "missing", "shape", "conditional", "channels", "layer-setting"])
def test_bad_sg3_pickles_give_one_clear_error(tmp_path, problem):
    g = tiny_sg3("stylegan3-t", resolution=16)
    path = tmp_path / "bad.pkl"
    name = g.config.layers[3].name
    if problem == "truncated":
        save_nvidia_sg3_pickle(g, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif problem == "missing":
        save_nvidia_sg3_pickle(g, path, drop=f"{name}.weight")
    elif problem == "shape":
        save_nvidia_sg3_pickle(g, path, reshape=f"{name}.bias")
    elif problem == "conditional":
        save_nvidia_sg3_pickle(g, path, c_dim=10)
    elif problem == "channels":
        save_nvidia_sg3_pickle(g, path, img_channels=1)
    else:
        save_nvidia_sg3_pickle(g, path)
        path.write_bytes(path.read_bytes().replace(b"up_taps", b"up_tapz"))  # a layer setting goes missing
    with pytest.raises(CheckpointError) as error:
        load_generator(path, device=TEST_DEVICE)
    assert str(path) in str(error.value)
    expected = {"truncated": "unreadable", "missing": "missing", "shape": "size mismatch|shape",
                "conditional": "no 'embed' layer", "channels": "RGB only", "layer-setting": "up_taps"}[problem]
    assert any(word in str(error.value) for word in expected.split("|"))


# -- downstream ------------------------------------------------------------------------------------------------------

def test_optimize_on_stylegan3_lowers_the_loss_and_keeps_frozen_layers():
    g, clip = tiny_sg3("stylegan3-t", resolution=16).to(TEST_DEVICE), tiny_clip(device=TEST_DEVICE)
    target = clip.encode_text(["a bright red sunset over the sea"])
    w0 = g.ws_from_seed(1)
    result = optimize(g, clip, target, w0, steps=8, lr=0.05, preset="custom")
    assert result.loss_history[-3:].mean() < result.loss_history[:2].mean()
    frozen = optimize(g, clip, target, w0, steps=3, mask="freeze", layers="1-6")
    moved = (frozen.w != w0).any(dim=-1)[0].tolist()
    assert moved == [False] + [True] * 6 + [False] * 9
    assert torch.equal(frozen.w[:, 7:], w0[:, 7:]) and torch.equal(frozen.w[:, 0], w0[:, 0])


def test_style_mix_default_split_scales_to_sg3_layers(tiny):
    assert default_mix_layers(tiny.num_ws) == "0-7"  # input transform + L0-L6 (coarse), the rest fine
    a, b = tiny.ws_from_seed(1), tiny.ws_from_seed(2)
    mixed = style_mix(a, b, default_mix_layers(tiny.num_ws))
    assert torch.equal(mixed[:, :8], a[:, :8]) and torch.equal(mixed[:, 8:], b[:, 8:])
    assert tiny.synthesis(mixed).shape == (1, 3, 32, 32)


def test_reduced_precision_runs_and_stays_close(tiny):
    """Under bf16 autocast (what runtime.autocast applies for precision='bf16') the image is still float32
    and close to the fp32 one, and gradients reach W+."""
    ws = tiny.ws_from_seed(4).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        image = tiny.synthesis(ws)
    assert image.dtype == torch.float32 and image.shape == (1, 3, 32, 32)
    reference = tiny.synthesis(ws.detach())
    assert (image - reference).abs().mean() < 0.05 * reference.abs().mean() + 1e-3
    image.square().mean().backward()
    assert torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0
