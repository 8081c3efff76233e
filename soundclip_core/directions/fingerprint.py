"""A generator's identity for its tables: a hash of its weights, whatever file format they came from.

A table is valid for exactly the weights it was computed on; the same weights loaded from an NVIDIA
pickle or from our safetensors export are the same generator. sha256 over every parameter and
persistent buffer (name, shape, dtype, bytes), in name order; cached on the generator object while its
weights are unchanged, so that ComfyUI's device moves around every node do not rehash a 1024 px
generator (0.15 s on a CPU, more with the copy off a GPU, per slider move):
- parameters by name, shape, dtype and version counter, which `.to()` keeps (it swaps the data of the same
  Parameter) and an in-place change bumps (an inference parameter has no counter: its address stands in);
- buffers (w_avg, the constant noise: a few MB) are new tensors after every move, with their counters reset,
  so while the very same tensors (held weakly) are there at the same versions nothing is read; otherwise they
  alone are hashed again and compared.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass

import torch


@dataclass
class _Known:
    parameters: tuple  # (name, shape, dtype, version) of every parameter
    buffers_digest: str
    buffers: dict[str, tuple[weakref.ref, int]]  # name -> (the buffer tensor, its version) when last checked
    value: str


def generator_fingerprint(generator) -> str:
    """`kind-resolution-<16 hex>` of the generator's weights."""
    state = generator.state_dict()
    parameters = tuple((name, tuple(t.shape), t.dtype, t._version if not t.is_inference() else ("inference",
                                                                                                   t.data_ptr()))
                       for name, t in generator.named_parameters())
    buffers = {name: t for name, t in generator.named_buffers() if name in state}
    known = generator.__dict__.get("_soundclip_fingerprint")
    if isinstance(known, _Known) and known.parameters == parameters:
        if _same_buffers(known, buffers):
            return known.value
        digest = _digest(buffers)
        if digest == known.buffers_digest:  # moved, not changed
            known.buffers = _buffer_refs(buffers)
            return known.value
    value = f"{generator.kind}-{generator.resolution}-{weights_digest(state)}"
    generator.__dict__["_soundclip_fingerprint"] = _Known(parameters, _digest(buffers), _buffer_refs(buffers), value)
    return value


def _version(t: torch.Tensor) -> int:
    return -1 if t.is_inference() else t._version


def _buffer_refs(buffers: dict[str, torch.Tensor]) -> dict[str, tuple[weakref.ref, int]]:
    return {name: (weakref.ref(t), _version(t)) for name, t in buffers.items()}


def _same_buffers(known: _Known, buffers: dict[str, torch.Tensor]) -> bool:
    """The very tensors last checked, at the same versions (an inference buffer is always read again)."""
    return known.buffers.keys() == buffers.keys() and all(
        known.buffers[name][0]() is t and known.buffers[name][1] == _version(t) and _version(t) >= 0
        for name, t in buffers.items())


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """The digest of all the weights: the slow part, which the cache saves."""
    return _digest(state)


def _digest(state: dict[str, torch.Tensor]) -> str:
    """16 hex digits of sha256 over the tensors (name, shape, dtype, bytes), in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:16]
