"""oneDNN-prepacked linears: the fused call against `F.linear` (+ GELU, + residual), and the fallbacks where a
pack no longer fits its layer (autograd, another dtype, a weight changed in place or replaced)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from soundclip_core.encoders.prepacked import linear, prepack

ONEDNN = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def layer(rows_in: int = 48, rows_out: int = 80, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(rows_out, rows_in, generator=gen) / rows_in ** 0.5, torch.randn(rows_out, generator=gen)


def reference(x, weight, bias, gelu=False, residual=None):
    out = (x.double() @ weight.double().T + (0 if bias is None else bias.double()))
    out = F.gelu(out) if gelu else out
    return out if residual is None else out + residual.double()


@ONEDNN
@pytest.mark.parametrize("gelu", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_the_fused_call_is_the_linear_layer(gelu, with_bias):
    weight, bias = layer()
    bias = bias if with_bias else None
    pack = prepack(weight, rows=21)
    assert pack is not None
    x = torch.randn(3, 7, 48)
    with torch.no_grad():
        out = linear(x, weight, bias, pack, gelu=gelu)
        assert out.shape == (3, 7, 80) and out.dtype == torch.float32
        assert (out.double() - reference(x, weight, bias, gelu)).abs().max() < 1e-5
        residual = torch.randn(3, 14, 80)[:, ::2]  # a strided view, as the last block's CLS rows are
        out = linear(x, weight, bias, pack, gelu=gelu, residual=residual)
        assert (out.double() - reference(x, weight, bias, gelu, residual)).abs().max() < 1e-5
        assert (linear(x[:, :1], weight, bias, pack).double() - reference(x[:, :1], weight, bias)).abs().max() < 1e-5


@ONEDNN
def test_a_pack_is_used_only_where_it_fits_its_layer():
    weight, bias = layer()
    pack = prepack(weight, rows=8)
    x = torch.randn(8, 48)
    with torch.no_grad():
        assert pack.fits(x, weight)
        assert not pack.fits(x.double(), weight)  # another dtype: F.linear
        assert not pack.fits(x, weight.clone())  # another tensor (a copied network): F.linear
        twin = copy.deepcopy({"w": weight, "pack": pack})
        assert not twin["pack"].fits(x, twin["w"])
    assert not pack.fits(x, weight)  # autograd on: the fused op has no backward
    with torch.no_grad():
        weight.mul_(2.0)  # changed in place after packing: the pack is stale
        assert not pack.fits(x, weight)
        assert torch.equal(linear(x, weight, bias, pack), F.linear(x, weight, bias))
    x.requires_grad_(True)
    linear(x, weight, bias, pack, gelu=True).sum().backward()  # falls back, so gradients flow
    expected = torch.autograd.grad(F.gelu(F.linear(x, weight, bias)).sum(), x)[0]
    assert torch.allclose(x.grad, expected)

def test_no_pack_where_onednn_cannot_run_it():
    weight, _ = layer()
    assert prepack(weight.double(), rows=8) is None
    assert prepack(weight.to(torch.bfloat16), rows=8) is None
    assert prepack(torch.empty(80, 48, device="meta"), rows=8) is None
    x, bias = torch.randn(5, 48, dtype=torch.float64), torch.zeros(80, dtype=torch.float64)
    out = linear(x, weight.double(), bias, None, gelu=True, residual=torch.ones(5, 80, dtype=torch.float64))
    assert torch.allclose(out, F.gelu(x @ weight.double().T) + 1)


@ONEDNN
def test_a_torch_whose_fused_linears_are_missing_or_wrong_gets_no_pack(monkeypatch):
    import types

    from soundclip_core.encoders import prepacked

    weight, bias = layer()
    real = torch.ops.mkldnn

    class WrongGelu:  # the plain and residual forms right, the GELU form without its activation
        def __call__(self, x, packed, b, attr, scalars, algorithm):
            return real._linear_pointwise(x, packed, b, "none", [], "")

        binary = staticmethod(real._linear_pointwise.binary)

    monkeypatch.setattr(prepacked, "_OPS", types.SimpleNamespace(_reorder_linear_weight=real._reorder_linear_weight,
                                                                 _linear_pointwise=WrongGelu()))
    assert prepack(weight, rows=8) is None
    monkeypatch.setattr(prepacked, "_OPS", types.SimpleNamespace(_reorder_linear_weight=real._reorder_linear_weight))
    assert prepack(weight, rows=8) is None  # an older torch without the fused linear
    x = torch.randn(4, 48)
    with torch.no_grad():
        assert torch.equal(linear(x, weight, bias, None, gelu=True), F.gelu(F.linear(x, weight, bias)))


@ONEDNN
def test_a_network_copied_under_inference_mode_is_packed_too():
    """ComfyUI runs nodes under `torch.inference_mode`, so the encoder's frozen copy holds inference tensors."""
    weight, bias = layer()
    with torch.inference_mode():
        frozen = weight.clone()
        pack = prepack(frozen, rows=8)
        x = torch.randn(8, 48)
        assert pack is not None and pack.fits(x, frozen)
        assert (linear(x, frozen, bias, pack).double() - reference(x, weight, bias)).abs().max() < 1e-5
    with torch.no_grad():
        assert pack.fits(torch.randn(8, 48), frozen)
