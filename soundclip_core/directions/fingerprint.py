"""A generator's identity for its tables: a hash of its weights, whatever file format they came from.

A table is valid for exactly the weights it was computed on; the same weights loaded from an NVIDIA
pickle or from our safetensors export are the same generator. sha256 over every parameter and
persistent buffer (name, shape, dtype, bytes), in name order; cached on the generator object while its
weights are unchanged: keyed by every parameter's name, shape, dtype and version counter, which a device
move (`.to()`, as ComfyUI does around every node) keeps and an in-place change bumps, so moving a 1024 px
generator back and forth does not rehash its weights (0.5 s a time), while editing one does. Buffers (w_avg,
the constant noise: a few MB) are new tensors after every move, with their version counters reset, so they
are keyed by their own digest instead. (An inference parameter has no version counter: its address stands in.)
"""

from __future__ import annotations

import hashlib

import torch


def generator_fingerprint(generator) -> str:
    """`kind-resolution-<16 hex>` of the generator's weights."""
    state = generator.state_dict()
    parameters = dict(generator.named_parameters())
    key = (tuple((name, tuple(t.shape), t.dtype, t._version if not t.is_inference() else ("inference", t.data_ptr()))
                 for name, t in parameters.items()),
           _digest({name: t for name, t in state.items() if name not in parameters}))
    cached = generator.__dict__.get("_soundclip_fingerprint")
    if cached is not None and cached[0] == key:
        return cached[1]
    value = f"{generator.kind}-{generator.resolution}-{weights_digest(state)}"
    generator.__dict__["_soundclip_fingerprint"] = (key, value)
    return value


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
