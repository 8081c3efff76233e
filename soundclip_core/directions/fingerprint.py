"""A generator's identity for its tables: a hash of its weights, whatever file format they came from.

A table is valid for exactly the weights it was computed on; the same weights loaded from an NVIDIA
pickle or from our safetensors export are the same generator. sha256 over every parameter and
persistent buffer (name, shape, dtype, bytes), in name order; cached on the generator while its
weights are unchanged (keyed by their version counters).
"""

from __future__ import annotations

import hashlib

import torch


def generator_fingerprint(generator) -> str:
    """`kind-resolution-<16 hex>` of the generator's weights."""
    state = generator.state_dict()
    key = tuple((name, t._version if not t.is_inference() else -1, t.data_ptr()) for name, t in state.items())
    cached = generator.__dict__.get("_soundclip_fingerprint")
    if cached is not None and cached[0] == key:
        return cached[1]
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    value = f"{generator.kind}-{generator.resolution}-{digest.hexdigest()[:16]}"
    generator.__dict__["_soundclip_fingerprint"] = (key, value)
    return value
