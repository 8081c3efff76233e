"""NVIDIA stylegan2-ada-pytorch / stylegan3-repo StyleGAN2 `G_ema` networks -> our config and state dict.

The pickle itself is read by the shared container reader (`generators/nvidia_pickle.py`), nothing in
it runs. A StyleGAN2 network is recognised by its synthesis blocks `b4`, `b8`, ... (NVIDIA's StyleGAN2
and StyleGAN3 share class names); its tensors are renamed onto the rosinality layout of our `Generator`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...errors import CheckpointError
from ..labels import label_set_for_size
from ..nvidia_pickle import PersistentStub, flatten, modules
from .config import GeneratorConfig


def recognises(stub: PersistentStub) -> bool:
    """A G_ema whose synthesis network is made of resolution blocks `b4`, `b8`, ..."""
    return "b4" in modules(modules(stub).get("synthesis"))


def convert(stub: PersistentStub, path: Path) -> tuple[GeneratorConfig, dict, torch.Tensor]:
    """NVIDIA names -> rosinality names, plus the config from `_init_kwargs`."""
    kwargs = stub.state.get("_init_kwargs", {})
    synthesis_kwargs = kwargs.get("synthesis_kwargs", {}) or {}
    if synthesis_kwargs.get("architecture", "skip") != "skip":
        raise CheckpointError(f"architecture '{synthesis_kwargs['architecture']}' is not supported (only 'skip')",
                              path=path)
    src = flatten(stub)
    resolution = int(kwargs.get("img_resolution", 0))
    levels = resolution.bit_length() - 2
    sd = {}
    mapping = sorted(k for k in src if k.startswith("mapping.fc") and k.endswith(".weight"))
    for i in range(len(mapping)):
        sd[f"style.{i + 1}.weight"] = src[f"mapping.fc{i}.weight"]
        sd[f"style.{i + 1}.bias"] = src[f"mapping.fc{i}.bias"]
    sd["input.input"] = src["synthesis.b4.const"][None]
    c_dim = int(kwargs.get("c_dim", 0) or 0)
    embed_dim = 0
    if c_dim:  # ada's MappingNetwork.embed: FullyConnectedLayer(c_dim, embed_features), normalised separately
        if "mapping.embed.weight" not in src:
            raise CheckpointError(f"c_dim is {c_dim} but the mapping has no 'embed' layer", path=path)
        sd["embed.weight"], sd["embed.bias"] = src["mapping.embed.weight"], src["mapping.embed.bias"]
        embed_dim = int(sd["embed.weight"].shape[0])

    def layer(dst: str, name: str, noise_index: int) -> None:
        sd[f"{dst}.conv.weight"] = src[f"{name}.weight"][None]
        sd[f"{dst}.conv.modulation.weight"] = src[f"{name}.affine.weight"]
        sd[f"{dst}.conv.modulation.bias"] = src[f"{name}.affine.bias"]
        sd[f"{dst}.noise.weight"] = src[f"{name}.noise_strength"].reshape(1)
        sd[f"{dst}.activate.bias"] = src[f"{name}.bias"]
        sd[f"noises.noise_{noise_index}"] = src[f"{name}.noise_const"][None, None]

    def torgb(dst: str, name: str) -> None:
        sd[f"{dst}.conv.weight"] = src[f"{name}.weight"][None]
        sd[f"{dst}.conv.modulation.weight"] = src[f"{name}.affine.weight"]
        sd[f"{dst}.conv.modulation.bias"] = src[f"{name}.affine.bias"]
        sd[f"{dst}.bias"] = src[f"{name}.bias"].reshape(1, 3, 1, 1)

    try:
        layer("conv1", "synthesis.b4.conv1", 0)
        torgb("to_rgb1", "synthesis.b4.torgb")
        for level in range(1, levels):
            res = 4 * 2 ** level
            layer(f"convs.{2 * level - 2}", f"synthesis.b{res}.conv0", 2 * level - 1)
            layer(f"convs.{2 * level - 1}", f"synthesis.b{res}.conv1", 2 * level)
            torgb(f"to_rgbs.{level - 1}", f"synthesis.b{res}.torgb")
    except KeyError as missing:
        raise CheckpointError(f"pickle lacks parameter {missing}", path=path) from missing
    channels = [int(sd["conv1.conv.weight"].shape[1])]
    channels += [int(sd[f"convs.{2 * i + 1}.conv.weight"].shape[1]) for i in range(levels - 1)]
    clamp = synthesis_kwargs.get("conv_clamp")
    config = GeneratorConfig(
        resolution=resolution, z_dim=int(kwargs.get("z_dim", 512)), w_dim=int(kwargs.get("w_dim", 512)),
        mapping_layers=len(mapping), channels=channels,
        mapping_lr_multiplier=float((kwargs.get("mapping_kwargs") or {}).get("lr_multiplier", 0.01)),
        conv_clamp=None if clamp is None else float(clamp), c_dim=c_dim,
        label_embedding="embed" if c_dim else "none", embed_dim=embed_dim,
        label_set=label_set_for_size(c_dim) if c_dim else "")
    return config, sd, src["mapping.w_avg"]
