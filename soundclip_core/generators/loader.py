"""Load a generator from any supported file, chosen by content; save our safetensors export."""

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
from .stylegan2 import nvidia_pickle, rosinality, tf_pickle
from .stylegan2.config import GeneratorConfig
from .stylegan2.networks import Generator
from .stylegan3 import Stylegan3Config, Stylegan3Generator

FORMAT_TAG = "soundclip-stylegan2"


def _generator_class(config):
    """StyleGAN2 `Generator` or StyleGAN3 `Stylegan3Generator`, by the config a reader returned."""
    return Stylegan3Generator if isinstance(config, Stylegan3Config) else Generator


def _config_from_json(metadata: dict):
    if metadata.get("kind", "stylegan2").startswith("stylegan3"):
        return Stylegan3Config.from_json(metadata["config"])
    return GeneratorConfig.from_json(metadata["config"])


def load_generator(path: str | os.PathLike, device: str | torch.device | None = None) -> Generator:
    """A frozen, eval-mode generator from a rosinality .pt, NVIDIA .pkl (PyTorch or TensorFlow era) or
    soundclip .safetensors (StyleGAN2, or StyleGAN3 T/R from NVIDIA pickles and our export: `generator.kind`
    says which)."""
    path = Path(path)
    kind = sniff(path)
    w_avg, per_label_avg = None, False
    if kind == "torch-zip":
        state, w_avg = rosinality.generator_state(rosinality.read_torch_checkpoint(path), path)
        config = rosinality.infer_config(state)
    elif kind == "pickle" and tf_pickle.is_tf_pickle(path):
        config, state, w_avg = tf_pickle.convert(tf_pickle.read_tf_pickle(path), path)
    elif kind == "pickle":
        config, state, w_avg = nvidia_pickle.convert(nvidia_pickle.read_nvidia_pickle(path), path)
    else:
        config, state, per_label_avg = read_safetensors(path)
        w_avg = None if per_label_avg else state.pop("latent_avg", None)
    generator = _generator_class(config)(config, source=str(path))
    try:
        missing, unexpected = generator.load_state_dict(state, strict=False)
    except RuntimeError as error:  # wrongly shaped tensors
        raise CheckpointError(f"checkpoint does not match a {generator.kind} generator of {config.resolution} px "
                              f"({str(error).splitlines()[-1].strip()[:300]})", path=path) from error
    missing = [k for k in missing if k != "latent_avg"]
    if missing or unexpected:
        raise CheckpointError(f"checkpoint does not match a {generator.kind} generator of {config.resolution} px "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})", path=path)
    generator = generator.to(runtime.pick_device(device)).eval().requires_grad_(False)
    if w_avg is not None:
        generator.latent_avg.copy_(w_avg.reshape(-1))
    else:  # a conditional generator without one averages per label, on demand
        generator.estimate_w_avg()
    return generator


def read_safetensors(path: Path) -> tuple:
    """(config, state, whether truncation uses per-label average latents)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") != FORMAT_TAG:
                raise CheckpointError("this .safetensors file is not a soundclip StyleGAN2 export", path=path,
                                      fix="convert a generator with `soundclip convert IN OUT.safetensors`")
            return (_config_from_json(metadata), {k: f.get_tensor(k) for k in f.keys()},
                    metadata.get("w_avg") == "per-label")
    except CheckpointError:
        raise
    except Exception as error:
        raise CheckpointError(f"unreadable safetensors file ({error})", path=path,
                              fix="re-create or re-download it") from error


def save_generator(generator: Generator, path: str | os.PathLike) -> Path:
    """Write our .safetensors export (config JSON with the label scheme, embedding and w_avg included),
    atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT_TAG, "kind": generator.kind,
                                            "config": generator.config.to_json(),
                                            "source": json.dumps(generator.source),
                                            "w_avg": "per-label" if generator.per_label_avg else "checkpoint"})
    return Path(path)
