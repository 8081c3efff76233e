"""NVIDIA stylegan2-ada-pytorch / stylegan3-repo StyleGAN2 pickles, read without running them.

Those pickles embed the source code of their network classes and execute it when
unpickled with `pickle.load`. Here the shared restricted unpickler (`safe_pickle`) resolves
only this format's allow-list: the persistent network objects become inert holders of their
state, tensor storages are read weights-only, numpy values (gains, StyleGAN3's sizes) are
rebuilt as data, and any other global stops the load before anything runs. The parameters
are then renamed onto the rosinality layout used by our `Generator`.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import torch

from ...checkpoints.reader import load_storage_bytes
from ...checkpoints.safe_pickle import CONTAINERS_ALLOWED, NUMPY_ALLOWED, UNPICKLING_ERRORS, restricted_load
from ...errors import CheckpointError
from .config import GeneratorConfig
from .labels import label_set_for_size


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
                              fix="only NVIDIA stylegan2-ada-pytorch / stylegan3 StyleGAN2 pickles are accepted; "
                                  "nothing in the file was executed") from error
    generator = data.get("G_ema") if isinstance(data, dict) else None
    if not isinstance(generator, PersistentStub):
        raise CheckpointError("pickle has no 'G_ema' network", path=path,
                              fix="use a network pickle saved by stylegan2-ada-pytorch or stylegan3")
    if generator.class_name != "Generator" or "synthesis" not in generator.state.get("_modules", {}):
        raise CheckpointError(f"unsupported network class '{generator.class_name}'", path=path)
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


def convert(stub: PersistentStub, path: Path) -> tuple[GeneratorConfig, dict, torch.Tensor]:
    """NVIDIA names -> rosinality names, plus the config from `_init_kwargs`. StyleGAN3 networks
    (recognised by structure) go to their own converter and come back with a `Stylegan3Config`."""
    from ..stylegan3 import nvidia as stylegan3_pickle

    if stylegan3_pickle.is_stylegan3(stub):
        return stylegan3_pickle.convert(stub, path)
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
