"""Values derived from a frozen weight (Winograd kernels, squared norms), computed once and kept until it changes.

An optimisation step recomputes nothing that depends on frozen weights alone; the value lives on the
owning module as a plain attribute (never a parameter or buffer, so never saved), keyed by the
weight's storage, version counter (bumped by every in-place write, e.g. a state-dict load), device,
dtype and shape. A weight that needs gradients is never cached (it changes every step), nor is an
inference-mode tensor (ComfyUI's loaders make those): it has no version counter to key on; nor is a
value computed under inference mode (an inference tensor, which a later autograd pass could not save); nor is
anything that is or gives a tensor subclass (the fake tensors that plan memory without allocating it).

A module that moves (`.to(device)`, `.half()`, ...) must `forget` them (see `ForgetsDerived`): a value of the
old device would otherwise stay there, holding the old weight too, until the next use recomputes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

T = TypeVar("T")


def _plain(tensor: torch.Tensor) -> bool:
    return type(tensor) in (torch.Tensor, torch.nn.Parameter)


def derived(owner: object, name: str, weight: torch.Tensor, compute: Callable[[torch.Tensor], T]) -> T:
    """compute(weight), cached on `owner` under `name` while `weight` is unchanged and frozen."""
    if weight.requires_grad or weight.is_inference() or torch.is_inference_mode_enabled() or not _plain(weight):
        return compute(weight)
    key = (weight.data_ptr(), weight._version, weight.device, weight.dtype, tuple(weight.shape))
    attribute = f"_derived_{name}"
    cached = owner.__dict__.get(attribute)
    if cached is None or cached[0] != key:
        value = compute(weight)
        if not all(map(_plain, value if isinstance(value, tuple) else (value,))):
            return value  # computed under a tensor mode (e.g. a fake-tensor memory plan): must not outlive it
        # the weight is held too, so that its memory cannot be reused by another tensor with the same key
        cached = (key, value, weight)
        object.__setattr__(owner, attribute, cached)  # bypasses nn.Module's registration on purpose
    return cached[1]


def forget(module: nn.Module) -> None:
    """Drop every derived value cached on `module` and its submodules (recomputed lazily on next use)."""
    for sub in module.modules():
        for attribute in [name for name in sub.__dict__ if name.startswith("_derived_")]:
            del sub.__dict__[attribute]


class ForgetsDerived(nn.Module):
    """A module whose derived values (on it or any submodule) are dropped whenever it moves or changes dtype:
    `.to()`, `.cuda()`, `.half()`, ... all go through `_apply`, which moves parameters and buffers only."""

    def _apply(self, fn, recurse=True):
        forget(self)
        return super()._apply(fn, recurse)
