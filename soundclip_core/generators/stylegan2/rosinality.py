"""rosinality/stylegan2-pytorch checkpoints: `{"g_ema": state_dict, "latent_avg": [w_dim], ...}`.

Read weights-only (`checkpoints.read_checkpoint`). Training checkpoints also pickle an
`argparse.Namespace` under "args"; exactly that one class is allowed, nothing else.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from ...checkpoints.reader import read_checkpoint
from ...errors import CheckpointError
from ..checks import FIX_DAMAGED, require
from .config import GeneratorConfig

BUFFER_KEYS = re.compile(r"(convs\.\d+\.conv\.blur\.kernel|to_rgbs\.\d+\.upsample\.kernel)$")


def read_torch_checkpoint(path: Path) -> object:
    """Weights-only (argparse.Namespace allowed), errors made readable."""
    return read_checkpoint(path, "a StyleGAN2 generator", "re-download the file; only weights-only checkpoints are "
                           "accepted", allow=[argparse.Namespace])


def generator_state(checkpoint: object, path: Path) -> tuple[dict, torch.Tensor | None]:
    """Pick the generator state dict (g_ema preferred) and latent_avg out of a checkpoint."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError("expected a dict of tensors", path=path,
                              fix="use a rosinality stylegan2-pytorch .pt (a dict with 'g_ema'), an NVIDIA .pkl or a "
                                  "soundclip .safetensors generator")
    state = checkpoint.get("g_ema", checkpoint.get("g", checkpoint))
    if not isinstance(state, dict) or "input.input" not in state or "style.1.weight" not in state:
        raise CheckpointError("this is not a StyleGAN2 generator (no 'g_ema' with style.*/input.input keys)",
                              path=path, fix="use a rosinality stylegan2-pytorch .pt, an NVIDIA .pkl or a soundclip "
                                             ".safetensors generator")
    latent_avg = checkpoint.get("latent_avg") if state is not checkpoint else state.get("latent_avg")
    return {k: v for k, v in state.items() if not BUFFER_KEYS.search(k) and k != "latent_avg"}, latent_avg


def infer_config(state: dict, path: Path) -> GeneratorConfig:
    """Resolution, channels, mapping depth and widths from tensor shapes alone (the tensors they are read
    from checked present first: one error listing what is missing)."""
    levels = 1 + sum(1 for k in state if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
    mapping_layers = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
    convs = ["conv1.conv.weight"] + [f"convs.{2 * i + 1}.conv.weight" for i in range(levels - 1)]
    require(state, ["style.1.weight", *convs], path, f"this rosinality StyleGAN2 generator ({2 ** (levels + 1)} px)")
    if state["style.1.weight"].ndim != 2 or any(state[name].ndim != 5 for name in convs):
        raise CheckpointError("this rosinality StyleGAN2 generator has a mapping or conv weight of the wrong rank",
                              path=path, fix=FIX_DAMAGED)
    w_dim, z_dim = state["style.1.weight"].shape
    return GeneratorConfig(resolution=2 ** (levels + 1), z_dim=int(z_dim), w_dim=int(w_dim),
                           mapping_layers=mapping_layers, channels=[int(state[name].shape[1]) for name in convs])
