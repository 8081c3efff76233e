"""NVIDIA stylegan2-ada-pytorch / stylegan3-repo StyleGAN2 `G_ema` networks -> our config and state dict.

The pickle itself is read by the shared container reader (`generators/nvidia_pickle.py`), nothing in
it runs. A StyleGAN2 network is recognised by its synthesis blocks `b4`, `b8`, ... (NVIDIA's StyleGAN2
and StyleGAN3 share class names); its tensors are renamed onto the rosinality layout of our `Generator`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...errors import CheckpointError
from ..checks import require
from ..labels import label_set_for_size
from ..limits import MAX_RESOLUTION
from ..nvidia_pickle import PersistentStub, flatten, init_kwargs, modules, setting
from .config import GeneratorConfig

# our name <- NVIDIA's, below a styled conv ("conv1" <- "synthesis.b4.conv1") and a ToRGB layer
CONV_NAMES = {"conv.weight": "weight", "conv.modulation.weight": "affine.weight",
              "conv.modulation.bias": "affine.bias", "noise.weight": "noise_strength", "activate.bias": "bias"}
TORGB_NAMES = {"conv.weight": "weight", "conv.modulation.weight": "affine.weight",
               "conv.modulation.bias": "affine.bias", "bias": "bias"}


def recognises(stub: PersistentStub) -> bool:
    """A G_ema whose synthesis network is made of resolution blocks `b4`, `b8`, ..."""
    return "b4" in modules(modules(stub).get("synthesis"))


def _layers(levels: int) -> list[tuple[str, str, int | None]]:
    """(our prefix, NVIDIA's prefix, noise index or None for ToRGB) of every synthesis layer, in order."""
    layers: list[tuple[str, str, int | None]] = [("conv1", "synthesis.b4.conv1", 0),
                                                 ("to_rgb1", "synthesis.b4.torgb", None)]
    for level in range(1, levels):
        res = 4 * 2 ** level
        layers += [(f"convs.{2 * level - 2}", f"synthesis.b{res}.conv0", 2 * level - 1),
                   (f"convs.{2 * level - 1}", f"synthesis.b{res}.conv1", 2 * level),
                   (f"to_rgbs.{level - 1}", f"synthesis.b{res}.torgb", None)]
    return layers


def convert(stub: PersistentStub, path: Path) -> tuple[GeneratorConfig, dict, torch.Tensor]:
    """NVIDIA names -> rosinality names, plus the config from `_init_kwargs`; every tensor the renaming
    needs is checked present first (one error listing what is missing)."""
    kwargs = init_kwargs(stub)
    synthesis_kwargs = kwargs.get("synthesis_kwargs") or {}
    if synthesis_kwargs.get("architecture", "skip") != "skip":
        raise CheckpointError(f"architecture '{synthesis_kwargs['architecture']}' is not supported (only 'skip')",
                              path=path, fix="use a config-e/f (skip) generator, as every released StyleGAN2 is")
    resolution = setting(kwargs, "img_resolution", 0, path)
    if not 4 <= resolution <= MAX_RESOLUTION or resolution & (resolution - 1):
        raise CheckpointError(f"the network's img_resolution is {resolution}, not a power of two from 4 to "
                              f"{MAX_RESOLUTION}", path=path, fix="re-download the file (it is damaged)")
    c_dim = setting(kwargs, "c_dim", 0, path)
    src = flatten(stub)
    mapping_layers = sum(1 for k in src if k.startswith("mapping.fc") and k.endswith(".weight"))
    layers = _layers(resolution.bit_length() - 2)
    needed = [f"mapping.fc{i}.{p}" for i in range(mapping_layers) for p in ("weight", "bias")]
    needed += ["mapping.w_avg", "synthesis.b4.const"] + ["mapping.embed.weight", "mapping.embed.bias"] * bool(c_dim)
    for _, name, noise in layers:
        needed += [f"{name}.{p}" for p in (TORGB_NAMES if noise is None else CONV_NAMES).values()]
        needed += [] if noise is None else [f"{name}.noise_const"]
    require(src, needed, path, f"this StyleGAN2 network ({resolution} px{f', c_dim {c_dim}' if c_dim else ''})")

    sd = {f"style.{i + 1}.{p}": src[f"mapping.fc{i}.{p}"] for i in range(mapping_layers) for p in ("weight", "bias")}
    sd["input.input"] = src["synthesis.b4.const"][None]
    if c_dim:  # ada's MappingNetwork.embed: FullyConnectedLayer(c_dim, embed_features), normalised separately
        sd["embed.weight"], sd["embed.bias"] = src["mapping.embed.weight"], src["mapping.embed.bias"]
    for dst, name, noise in layers:
        for ours, theirs in (TORGB_NAMES if noise is None else CONV_NAMES).items():
            sd[f"{dst}.{ours}"] = src[f"{name}.{theirs}"]
        sd[f"{dst}.conv.weight"] = sd[f"{dst}.conv.weight"][None]
        if noise is None:
            sd[f"{dst}.bias"] = sd[f"{dst}.bias"].reshape(1, -1, 1, 1)
        else:
            sd[f"{dst}.noise.weight"] = sd[f"{dst}.noise.weight"].reshape(1)
            sd[f"noises.noise_{noise}"] = src[f"{name}.noise_const"][None, None]
    channels = [int(sd[f"{dst}.conv.weight"].shape[1]) for dst, _, noise in layers if noise is not None][::2]
    clamp = synthesis_kwargs.get("conv_clamp")
    config = GeneratorConfig(
        resolution=resolution, z_dim=setting(kwargs, "z_dim", 512, path), w_dim=setting(kwargs, "w_dim", 512, path),
        mapping_layers=mapping_layers, channels=channels,
        mapping_lr_multiplier=float((kwargs.get("mapping_kwargs") or {}).get("lr_multiplier", 0.01)),
        conv_clamp=None if clamp is None else float(clamp), c_dim=c_dim,
        label_embedding="embed" if c_dim else "none", embed_dim=int(sd["embed.weight"].shape[0]) if c_dim else 0,
        label_set=label_set_for_size(c_dim) if c_dim else "")
    return config, sd, src["mapping.w_avg"]
