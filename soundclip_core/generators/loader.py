"""Load a generator from any supported file, chosen by content; save our safetensors export.

The one module that knows every file format and every architecture: the file is sniffed, its
format's reader returns (config, state, w_avg) with a config whose sizes were checked as it was
made (`limits.py`, before anything is allocated), the checks every file's tensors get run (their
finiteness, the average latent), and the architecture whose config it is builds the generator.
A new architecture is one entry in `ARCHITECTURES` (and its folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .. import runtime
from ..atomic import atomic_path
from ..checkpoints.formats import sniff
from ..errors import CheckpointError
from . import stylegan2, stylegan3
from .architecture import Architecture
from .base import GeneratorBase
from .checks import FIX_DAMAGED, check_finite, check_w_avg
from .mapping import MappingConfig
from .nvidia_pickle import read_nvidia_pickle
from .stylegan2 import rosinality, tf_pickle

ARCHITECTURES: tuple[Architecture, ...] = (stylegan2.ARCHITECTURE, stylegan3.ARCHITECTURE)

FORMAT_TAG = "soundclip-generator"
FIX_MISMATCH = ("re-download the file; if it still fails, it is a modified StyleGAN (a fork's extra or renamed layers) "
                "that soundclip does not read")
FORMAT_TAGS = (FORMAT_TAG, "soundclip-stylegan2")  # the second: exports written before StyleGAN3 (still read)


def _architecture_of(config: MappingConfig) -> Architecture:
    return next(a for a in ARCHITECTURES if isinstance(config, a.config))


def _architecture_for_kind(kind: str, path: Path) -> Architecture:
    for architecture in ARCHITECTURES:
        if kind in architecture.kinds:
            return architecture
    known = ", ".join(k for a in ARCHITECTURES for k in a.kinds)
    raise CheckpointError(f"unknown generator kind '{kind[:40]}' (this soundclip reads {known})", path=path,
                          fix="update soundclip, or re-export the generator with `soundclip convert`")


def load_generator(path: str | os.PathLike, device: str | torch.device | None = None) -> GeneratorBase:
    """A frozen, eval-mode generator from a rosinality .pt, NVIDIA .pkl (PyTorch or TensorFlow era) or
    soundclip .safetensors (StyleGAN2, or StyleGAN3 T/R from NVIDIA pickles and our export: `generator.kind`
    says which)."""
    path = Path(path)
    try:
        config, state, w_avg = _read(path)
    except (ValueError, TypeError) as error:  # a config refused its sizes, or a setting of the wrong type
        raise CheckpointError(f"the file's generator settings cannot be built ({str(error)[:300]})", path=path,
                              fix=FIX_DAMAGED) from error
    if w_avg is not None:
        w_avg = check_w_avg(w_avg, config.w_dim, path)
    check_finite(state if w_avg is None else {**state, "latent_avg": w_avg}, path, "this generator")
    generator = _architecture_of(config).generator(config, source=str(path))
    try:
        missing, unexpected = generator.load_state_dict(state, strict=False)
    except RuntimeError as error:  # wrongly shaped tensors
        raise CheckpointError(f"checkpoint does not match a {generator.kind} generator of {config.resolution} px "
                              f"({str(error).splitlines()[-1].strip()[:300]})", path=path, fix=FIX_MISMATCH) from error
    missing = [k for k in missing if k != "latent_avg"]
    if missing or unexpected:
        raise CheckpointError(f"checkpoint does not match a {generator.kind} generator of {config.resolution} px "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})", path=path, fix=FIX_MISMATCH)
    generator = generator.to(runtime.pick_device(device)).eval().requires_grad_(False)
    if w_avg is not None:
        generator.latent_avg.copy_(w_avg)
    else:  # a conditional generator without one averages per label, on demand
        generator.estimate_w_avg()
    return generator


def _read(path: Path) -> tuple[MappingConfig, dict[str, torch.Tensor], torch.Tensor | None]:
    """(config, state in our names, the average latent or None: estimated, or per label if conditional)."""
    kind = sniff(path)
    if kind == "torch-zip":
        state, w_avg = rosinality.generator_state(rosinality.read_torch_checkpoint(path), path)
        return rosinality.infer_config(state, path), state, w_avg
    if kind == "pickle" and tf_pickle.is_tf_pickle(path):
        return tf_pickle.convert(tf_pickle.read_tf_pickle(path), path)
    if kind == "pickle":
        stub = read_nvidia_pickle(path)
        for architecture in ARCHITECTURES:
            if architecture.recognises is not None and architecture.recognises(stub):
                return architecture.convert(stub, path)
        raise CheckpointError("the pickle's generator is neither a StyleGAN2 nor a StyleGAN3 network", path=path,
                              fix="use a network pickle saved by stylegan2-ada-pytorch or stylegan3")
    return _read_export(path)


def _read_export(path: Path) -> tuple[MappingConfig, dict[str, torch.Tensor], torch.Tensor | None]:
    """Our .safetensors export: the config JSON of its architecture, the state with w_avg as `latent_avg` (left
    in the state, and None returned, when the generator truncates toward per-label averages)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") not in FORMAT_TAGS:
                raise CheckpointError("this .safetensors file is not a soundclip generator export", path=path,
                                      fix="convert a generator with `soundclip convert IN OUT.safetensors`")
            state = {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except Exception as error:
        raise CheckpointError(f"unreadable safetensors file ({error})", path=path,
                              fix="re-create or re-download it") from error
    config = _architecture_for_kind(metadata.get("kind", "stylegan2"), path).config.from_json(metadata.get("config"))
    w_avg = None if metadata.get("w_avg") == "per-label" else state.pop("latent_avg", None)
    return config, state, w_avg


def save_generator(generator: GeneratorBase, path: str | os.PathLike) -> Path:
    """Write our .safetensors export (config JSON with the label scheme, embedding and w_avg included),
    atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT_TAG, "kind": generator.kind,
                                            "config": generator.config.to_json(),
                                            "source": json.dumps(generator.source),
                                            "w_avg": "per-label" if generator.per_label_avg else "checkpoint"})
    return Path(path)
