"""StyleGAN2 engine: fast ops equal their literal formulas; every checkpoint layout loads to the
same images; bad and malicious files are refused with a clear error and nothing runs."""

from __future__ import annotations

import math
import os
import pickle
import zipfile

import pytest
import torch
import torch.nn.functional as F
from devices import TEST_DEVICE
from stylegan_formats import save_nvidia_pickle, save_rosinality, tiny_generator

from soundclip_core import runtime
from soundclip_core.errors import CheckpointError, SoundClipError
from soundclip_core.generators import load_generator, modconv, save_generator
from soundclip_core.generators.stylegan2 import GeneratorConfig, ops
from soundclip_core.generators.stylegan2.styled_conv import styled_conv


def test_skip_upsample_equals_upfirdn_formula():
    img = torch.randn(2, 3, 5, 7)
    expected = ops.upfirdn2d_reference(img, ops.blur_kernel() * 4, up=2, pad=(2, 1))
    assert torch.allclose(ops.upsample_2x(img, ops.blur_kernel()), expected, atol=1e-6)
    assert ops.upsample_2x(img, ops.blur_kernel()).shape == (2, 3, 10, 14)


def test_demodulation_is_one_over_the_modulated_weight_norm():
    weight, styles = torch.randn(5, 6, 3, 3), torch.randn(3, 6)
    explicit = 1 / torch.sqrt(((weight[None] * styles[:, None, :, None, None]) ** 2).sum((2, 3, 4)) + 1e-8)
    assert torch.allclose(modconv.demodulation(weight, styles), explicit, atol=1e-6)


@pytest.mark.parametrize("channels_last", [False, True])
def test_to_rgb_matmul_equals_a_per_sample_1x1_conv(channels_last):
    x, weight, styles = torch.randn(2, 6, 5, 7), torch.randn(3, 6), torch.randn(2, 6)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    explicit = torch.stack([F.conv2d(x[i:i + 1], (weight * styles[i])[:, :, None, None])[0] for i in range(2)])
    assert torch.allclose(modconv.modulated_1x1(x, weight, styles), explicit, atol=1e-5)


def _layer_inputs(batch, up, noise, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    size = 5 if up else 6
    x = torch.randn(batch, 4, size, size, generator=g, dtype=dtype)
    weight = torch.randn(3, 4, 3, 3, generator=g, dtype=dtype) / 3
    styles = torch.randn(batch, 4, generator=g, dtype=dtype)
    bias = torch.randn(3, generator=g, dtype=dtype)
    out_size = 2 * size if up else size
    noise = torch.randn(1, 1, out_size, out_size, generator=g, dtype=dtype) * 0.3 if noise else None
    return x, weight, styles, bias, noise


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("clamp", [None, 0.7])
def test_fused_styled_conv_equals_the_literal_layer(batch, up, noise, clamp):
    x, weight, styles, bias, noise = _layer_inputs(batch, up, noise)
    expected = ops.styled_conv_reference(x, weight, styles, bias, noise, up, clamp)
    demod = modconv.demodulation(weight, styles) * modconv.SQRT2
    for layout in (torch.contiguous_format, torch.channels_last):
        fused = styled_conv(x.contiguous(memory_format=layout), styles, demod, weight, bias * modconv.SQRT2,
                            None if noise is None else noise * modconv.SQRT2, ops.blur_kernel(), up, clamp)
        assert fused.shape == expected.shape
        assert torch.allclose(fused, expected, atol=1e-5)
    if clamp is not None:
        assert (expected.abs() == clamp).any()  # the clamp is exercised


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("clamp", [None, 1.5])
def test_fused_styled_conv_backward_passes_gradcheck(batch, up, clamp):
    """The hand-written backward (input gradient only, recovered demodulation term) against finite differences."""
    x, weight, styles, bias, noise = _layer_inputs(batch, up, True, dtype=torch.float64, seed=1)
    demod = torch.rand(batch, 3, dtype=torch.float64) + 0.5
    x, styles, demod = (t.requires_grad_(True) for t in (x, styles, demod))
    blur = ops.blur_kernel(dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x, s, d: styled_conv(x, s, d, weight, bias, noise, blur, up, clamp),
                                    (x, styles, demod))


@pytest.mark.parametrize("batch", [1, 2])
def test_synthesis_gradient_equals_the_literal_formulas(batch):
    from soundclip_core.generators.stylegan2.reference import synthesis_reference

    g = tiny_generator(resolution=32, conv_clamp=0.8)
    ws = torch.randn(batch, g.num_ws, g.w_dim)
    weights = torch.randn(batch, 3, 32, 32)
    grads = []
    for synthesis in (g.synthesis, lambda w: synthesis_reference(g, w)):
        w = ws.clone().requires_grad_(True)
        (synthesis(w) * weights).sum().backward()
        grads.append(w.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5)


def test_trainable_weights_get_gradients_through_the_literal_path():
    g = tiny_generator().requires_grad_(True)
    ws = g.ws_from_seed(0)
    image = g.synthesis(ws)
    with torch.no_grad():
        assert torch.allclose(image, g.synthesis(ws), atol=1e-5)  # the fused path, same result
    image.square().mean().backward()
    assert g.convs[0].conv.weight.grad.abs().sum() > 0 and g.convs[0].activate.bias.grad.abs().sum() > 0


def test_mapping_and_truncation_follow_the_formula():
    g = tiny_generator()
    z = torch.randn(3, g.z_dim)
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for layer in g.style.values():
        x = F.leaky_relu(x @ (layer.weight * 0.01 / math.sqrt(layer.weight.shape[1])).t() + layer.bias * 0.01,
                         0.2) * math.sqrt(2)
    assert torch.allclose(g.mapping(z), x, atol=1e-5)
    assert torch.allclose(g.mapping(z, truncation_psi=0.5), g.w_avg + 0.5 * (x - g.w_avg), atol=1e-5)
    assert torch.allclose(g.mapping(z, truncation_psi=0.0), g.w_avg.expand(3, -1), atol=1e-6)


def test_shapes_and_noise_modes():
    g = tiny_generator(resolution=16)
    assert (g.num_ws, g.resolution) == (6, 16)
    assert GeneratorConfig(resolution=256).num_ws == 14 and GeneratorConfig(resolution=1024).num_ws == 18
    assert GeneratorConfig(resolution=4, channels=[8]).num_ws == 2
    ws = g.ws_from_seed(3, batch_size=2)
    assert ws.shape == (2, 6, 32) and torch.equal(ws, g.ws_from_seed(3, batch_size=2))
    const = g.synthesis(ws)
    assert const.shape == (2, 3, 16, 16) and torch.equal(const, g.synthesis(ws, noise_mode="const"))
    assert not torch.equal(const, g.synthesis(ws, noise_mode="random"))
    assert not torch.equal(const, g.synthesis(ws, noise_mode="none"))
    with pytest.raises(ValueError, match="ws must be"):
        g.synthesis(ws[:, :5])


def test_synthesis_is_differentiable_and_runs_in_bf16():
    g = tiny_generator()
    ws = g.ws_from_seed(0).requires_grad_(True)
    g.synthesis(ws).square().mean().backward()
    assert ws.grad is not None and torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the path runtime.autocast takes for "bf16"
        low = g.synthesis(ws.detach())
    assert low.dtype == torch.float32
    assert (low - g.synthesis(ws.detach())).abs().max() < 0.1


def test_bf16_on_cpu_only_where_it_is_native(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: True)
    assert runtime.precision_dtype("bf16", cpu) == torch.bfloat16
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    with pytest.raises(SoundClipError, match="no bf16 instructions.*use fp32"):
        runtime.precision_dtype("bf16", cpu)
    with pytest.raises(SoundClipError, match="fp16 needs a CUDA device"):
        runtime.precision_dtype("fp16", cpu)
    assert runtime.precision_dtype("fp32", cpu) == torch.float32


@pytest.mark.parametrize("layout", ["rosinality", "rosinality-training", "nvidia", "safetensors"])
def test_every_layout_loads_to_identical_images(tmp_path, layout):
    g = tiny_generator(conv_clamp=256.0 if layout == "nvidia" else None)
    path = tmp_path / "model.bin"  # the extension never decides the format
    if layout == "nvidia":
        save_nvidia_pickle(g, path)
    elif layout == "safetensors":
        save_generator(g, path)
    else:
        save_rosinality(g, path, training=layout == "rosinality-training")
    loaded = load_generator(path, device="cpu")
    assert loaded.config == g.config
    ws = g.ws_from_seed(5, batch_size=2)
    assert torch.equal(loaded.synthesis(ws), g.synthesis(ws))
    if layout != "rosinality-training":
        assert torch.equal(loaded.w_avg, g.w_avg)
    assert not any(p.requires_grad for p in loaded.parameters())
    # loading keeps the storage order that hands the convs channels_last kernels without a copy
    plain, up = loaded.convs[1].conv.weight[0], loaded.convs[0].conv.weight[0]
    assert plain.is_contiguous(memory_format=torch.channels_last)
    assert up.transpose(0, 1).is_contiguous(memory_format=torch.channels_last)


def test_nvidia_pickle_never_runs_embedded_code(tmp_path, monkeypatch):
    g = tiny_generator()
    path = save_nvidia_pickle(g, tmp_path / "net.pkl")
    import sys

    monkeypatch.delitem(sys.modules, "torch_utils.persistence")  # the loader must not need the real module
    monkeypatch.delitem(sys.modules, "torch_utils")
    assert torch.equal(load_generator(path, "cpu").synthesis(g.ws_from_seed(1)), g.synthesis(g.ws_from_seed(1)))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _Payload(marker)}))
    with pytest.raises(CheckpointError, match="refusing global") as error:
        load_generator(path, TEST_DEVICE)
    assert str(path) in str(error.value)
    assert not marker.exists()


def _other_network(path):
    torch.save({"model": torch.nn.Linear(3, 4).state_dict()}, path)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("<html>404 Not Found</html>"), "not a model checkpoint"),
    (lambda p: p.write_bytes(b""), "empty"),
    (_other_network, "not a StyleGAN2 generator"),
    (lambda p: p.write_bytes(pickle.dumps({"weights": [1, 2, 3]})), "no 'G_ema'"),
])
def test_bad_files_give_one_clear_error(tmp_path, make, message):
    path = tmp_path / "model.pt"
    make(path)
    with pytest.raises(CheckpointError, match=message) as error:
        load_generator(path, TEST_DEVICE)
    assert str(path) in str(error.value)


def test_truncated_and_missing_checkpoints(tmp_path):
    full = save_rosinality(tiny_generator(), tmp_path / "full.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_generator(truncated, TEST_DEVICE)
    assert zipfile.is_zipfile(full)
    with pytest.raises(CheckpointError, match="file not found"):
        load_generator(tmp_path / "nope.pt", TEST_DEVICE)


def test_convert_cli_writes_a_loadable_safetensors(tmp_path):
    from soundclip_core.cli import main

    g = tiny_generator()
    source = save_nvidia_pickle(g, tmp_path / "net.pkl")
    assert main(["convert", str(source), str(tmp_path / "out.safetensors")]) == 0
    ws = g.ws_from_seed(2)
    assert torch.equal(load_generator(tmp_path / "out.safetensors", "cpu").synthesis(ws), g.synthesis(ws))
    assert main(["convert", str(tmp_path / "missing.pt"), str(tmp_path / "x.safetensors")]) == 2
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("clamp", [None, 0.5])
def test_fast_synthesis_equals_the_literal_formulas(clamp):
    from soundclip_core.generators.stylegan2.reference import synthesis_reference

    g = tiny_generator(resolution=32, conv_clamp=clamp)
    ws = torch.randn(2, g.num_ws, g.w_dim)  # a different w per layer
    for mode in ("const", "none"):
        assert torch.allclose(g.synthesis(ws, noise_mode=mode), synthesis_reference(g, ws, mode), atol=1e-5)
