"""NVIDIA network pickles (stylegan2-ada-pytorch, stylegan3 repo), the container both StyleGAN families
share, read without running it.

Those pickles embed the source code of their network classes and execute it when
unpickled with `pickle.load`. Here the shared restricted unpickler (`safe_pickle`) resolves
only this format's allow-list: the persistent network objects become inert holders of their
state (`PersistentStub`), tensor storages are read weights-only, numpy values (gains,
StyleGAN3's sizes) are rebuilt as data, and any other global stops the load before anything
runs. Each architecture recognises its own `G_ema` by structure and renames its tensors
(`stylegan2/nvidia.py`, `stylegan3/nvidia.py`); the stub walking they share is here.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import torch

from ..checkpoints.reader import load_storage_bytes
from ..checkpoints.safe_pickle import CONTAINERS_ALLOWED, NUMPY_ALLOWED, UNPICKLING_ERRORS, restricted_load
from ..errors import CheckpointError


class PersistentStub:
    """What a `torch_utils.persistence` object becomes: its class name and its state, nothing callable."""

    def __init__(self, meta: dict):
        if not isinstance(meta, dict) or "state" not in meta:
            raise pickle.UnpicklingError("malformed persistent object")
        self.class_name = meta.get("class_name")
        self.state = meta["state"]


class EasyDict(dict):
    """Stand-in for dnnlib.EasyDict (a dict with attribute access)."""


def _rebuild_parameter(data, requires_grad, backward_hooks, *state):
    return torch.nn.Parameter(data, requires_grad=False)


ALLOWED = {
    **NUMPY_ALLOWED,  # np.float64 gains; StyleGAN3 stores sizes as arrays
    **CONTAINERS_ALLOWED,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentStub,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("torch.storage", "_load_from_bytes"): load_storage_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "device"): torch.device,
}


def read_nvidia_pickle(path: Path) -> PersistentStub:
    """The G_ema network stub of an NVIDIA pickle."""
    try:
        with open(path, "rb") as f:
            data = restricted_load(f, ALLOWED)
    except UNPICKLING_ERRORS as error:
        raise CheckpointError(f"unsafe or unreadable pickle: {error}", path=path,
                              fix="only NVIDIA stylegan2-ada-pytorch / stylegan3 network pickles are accepted; "
                                  "nothing in the file was executed") from error
    generator = data.get("G_ema") if isinstance(data, dict) else None
    if not isinstance(generator, PersistentStub):
        raise CheckpointError("pickle has no 'G_ema' network", path=path,
                              fix="use a network pickle saved by stylegan2-ada-pytorch or stylegan3")
    if generator.class_name != "Generator" or "synthesis" not in generator.state.get("_modules", {}):
        raise CheckpointError(f"unsupported network class '{generator.class_name}'", path=path,
                              fix="use a generator pickle of stylegan2-ada-pytorch or stylegan3 (G_ema a Generator)")
    return generator


def flatten(stub: PersistentStub, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and buffers of a stub tree under their state_dict names."""
    out = {}
    for group in ("_parameters", "_buffers"):
        for name, value in stub.state.get(group, {}).items():
            if value is not None:
                out[prefix + name] = value.detach()
    for name, child in stub.state.get("_modules", {}).items():
        if isinstance(child, PersistentStub):
            out.update(flatten(child, f"{prefix}{name}."))
    return out


def modules(stub: object) -> dict:
    """A stub's child modules by name ({} for anything that is not a module stub)."""
    return getattr(stub, "state", {}).get("_modules", {}) or {}


def init_kwargs(stub: PersistentStub) -> dict:
    """The keyword arguments the network was built with (`_init_kwargs`), {} when absent."""
    kwargs = stub.state.get("_init_kwargs") or {}
    return kwargs if isinstance(kwargs, dict) else {}


def setting(kwargs: dict, key: str, default: int, path: Path) -> int:
    """An integer setting of `_init_kwargs` (`img_resolution`, `z_dim`, `c_dim`, ...), or one error naming it."""
    value = kwargs.get(key, default)
    value = default if value is None else value
    try:
        number = int(value)
        if number != value or isinstance(value, bool):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise CheckpointError(f"the network's setting {key} is {str(value)[:80]!r}, not a whole number", path=path,
                              fix="re-download the file (it is damaged or not an NVIDIA network pickle)") from None
    return number
