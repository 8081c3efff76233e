"""Linear layers of a frozen network on the CPU with their weights prepacked for oneDNN.

A transformer encoder on the CPU spends most of its time in `F.linear` (MKL's addmm, which first copies
the bias into the output; the GELU and the residual add are passes of their own). oneDNN with the weights
reordered once into its blocked layout does the bias, the exact GELU or the residual add inside the product:
on an idle CPU the products themselves run at the same rate as MKL's, so the saving is those passes; on a busy
one (other jobs on the cores) they lose less, 0.64-0.88x of addmm's median time per layer shape measured on
2 shared cores (benchmarks/README.md, ImageBind). The sums differ only in float32 rounding. These are the
calls torch's own compiler makes on the CPU (`torch.ops.mkldnn._linear_pointwise`), made here without
compiling anything.
A pack is used only where it is valid: float32 inputs on the CPU, no autograd, and the weight it was made
from still in place (a network moved to a GPU, cast, or given new weights falls back to `F.linear`); where
torch was built without oneDNN there is no pack and nothing changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_OPS = getattr(torch.ops, "mkldnn", None)


def _identity(weight: torch.Tensor) -> tuple:
    """Where a weight lives and how often it was changed in place. An inference tensor (a network copied under
    `torch.inference_mode`, as ComfyUI runs its nodes) keeps no version count: it cannot change outside that mode."""
    return weight.data_ptr(), weight.shape, 0 if weight.is_inference() else weight._version


class Prepacked:
    """One weight's oneDNN copy, tied to the tensor it was made from (its storage, shape and version)."""

    def __init__(self, weight: torch.Tensor, packed: torch.Tensor):
        self.packed, self.source = packed, _identity(weight)

    def __deepcopy__(self, memo: dict) -> Prepacked:
        return self  # immutable; a copied network's weights live elsewhere, so its layers fall back

    def fits(self, x: torch.Tensor, weight: torch.Tensor) -> bool:
        return (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()
                and self.source == _identity(weight))


def prepack(weight: torch.Tensor, rows: int) -> Prepacked | None:
    """`weight` [out, in] reordered for inputs of about `rows` rows, or None where that is not possible
    (not float32 on the CPU, or a torch without oneDNN's fused linears). Each fused form `linear` calls is
    checked on one row before the pack is trusted."""
    if weight.device.type != "cpu" or weight.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
        return None
    try:
        with torch.no_grad():
            pack = Prepacked(weight, _OPS._reorder_linear_weight(weight.detach(), rows))
            probe, bias = torch.ones(1, weight.shape[1]), torch.ones(weight.shape[0])
            plain = F.linear(probe, weight, bias)
            pairs = ((_OPS._linear_pointwise(probe, pack.packed, bias, "none", [], ""), plain),
                     (_OPS._linear_pointwise(probe, pack.packed, bias, "gelu", [], "none"), F.gelu(plain)),
                     (_OPS._linear_pointwise.binary(probe, plain, pack.packed, bias, "add"), 2 * plain))
            tolerance = 1e-4 * (1 + float(weight.abs().sum(1).max()))
            ok = all(torch.allclose(fused, expected, rtol=1e-4, atol=tolerance) for fused, expected in pairs)
    except (AttributeError, RuntimeError):
        return None
    return pack if ok else None


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pack: Prepacked | None = None, *,
           gelu: bool = False, residual: torch.Tensor | None = None) -> torch.Tensor:
    """`residual + act(x @ weight.T + bias)` (act: the exact GELU or none), in one oneDNN call where `pack` fits."""
    if pack is not None and pack.fits(x, weight):
        if residual is not None and not gelu:
            return _OPS._linear_pointwise.binary(x, residual.contiguous(), pack.packed, bias, "add")
        out = _OPS._linear_pointwise(x, pack.packed, bias, "gelu" if gelu else "none", [], "none" if gelu else "")
        return out if residual is None else residual + out
    out = F.linear(x, weight, bias)
    out = F.gelu(out) if gelu else out
    return out if residual is None else residual + out
