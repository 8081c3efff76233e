"""Checks a state dict passes before any network is built from it or loaded with it.

A file that unpickles is not yet a usable model: a diverged training run writes NaN weights that
turn every image black without an error, and a file of another network (an extra layer, a bias
of the wrong size, a missing block) fails deep inside `load_state_dict` or, worse, half-loads.
These checks name the file, what it was meant to be and the offending keys, in one sentence.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from ..errors import CheckpointError

SHOWN_KEYS = 4  # keys named in one message; the count says how many more there are
# attention masks hold -inf by design (CLIP's causal mask; ImageBind's text `mask`): only NaN is refused there
MASKS = ("attn_mask", "modality_preprocessors.text.mask")
NON_FINITE_FIX = "re-download the file; if you trained it, use an earlier epoch (the run diverged)"


def _names(keys: Iterable[str]) -> str:
    keys = list(keys)
    shown = ", ".join(f"'{k}'" for k in keys[:SHOWN_KEYS])
    return shown + (f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else "")


def _shape(value: object) -> list[int] | str:
    return list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def _all_finite(tensor: torch.Tensor) -> bool:
    """A finite sum proves every value finite (NaN and inf propagate) at a quarter of `isfinite`'s cost; only a
    sum that overflowed, or a real NaN/inf, is looked at value by value (a 150M-value CLIP is checked at load)."""
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def check_finite(state: Mapping[str, object], path: str | os.PathLike, what: str, fix: str = NON_FINITE_FIX) -> None:
    """Refuse NaN or infinite values in any floating-point tensor of `state` (nested dicts included; NaN only
    in attention masks), naming the tensors: a model with them produces NaN embeddings or black images, never
    an error."""
    bad = []

    def visit(prefix: str, value: object) -> None:
        if isinstance(value, torch.Tensor):
            if not (value.is_floating_point() or value.is_complex()):
                return
            if prefix.endswith(MASKS) and not value.is_complex():  # -inf there means "never attend"
                if bool(value.isnan().any()):
                    bad.append(prefix)
            elif not _all_finite(value):
                bad.append(prefix)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                visit(f"{prefix}.{key}" if prefix else str(key), item)

    visit("", state)
    if bad:
        raise CheckpointError(f"{what} holds NaN or infinite weights (in {_names(bad)})", path=path, fix=fix)


def require_keys(state: Mapping[str, object], keys: Iterable[str], path: str | os.PathLike, what: str,
                 fix: str) -> None:
    """Refuse a state dict that lacks keys needed to tell the network's size, before reading them."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(f"not {what}: missing {_names(missing)}", path=path, fix=fix)


def check_shapes(state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]],
                 path: str | os.PathLike, what: str, fix: str) -> None:
    """`state` must hold exactly the keys of `expected` with those shapes: missing, unexpected (another
    network's layers) and misshapen tensors are named in one error instead of a `load_state_dict` traceback."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [f"'{k}' {_shape(state[k])} (expected {list(expected[k])})" for k in expected
                 if k in state and _shape(state[k]) != list(expected[k])]
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected)}")
    if misshapen:
        problems.append("wrong shapes: " + ", ".join(misshapen[:SHOWN_KEYS])
                        + (f" and {len(misshapen) - SHOWN_KEYS} more" if len(misshapen) > SHOWN_KEYS else ""))
    if problems:
        raise CheckpointError(f"does not match {what} ({'; '.join(problems)})", path=path, fix=fix)


def module_shapes(build: Callable[[], nn.Module]) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of the module `build()` makes, built on the meta device: no memory is
    allocated, so a file asking for absurd sizes is refused before anything is built for real. A module whose
    constructor reads tensor values (timm 1.0.8's Swin computes its relative position index from data) cannot be
    built there: it is built on the CPU instead (its sizes come from checked settings, not from the file)."""
    try:
        with torch.device("meta"):
            module = build()
    except (NotImplementedError, RuntimeError):
        module = build()
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}
