"""NVIDIA stylegan3-repo pickles (`G_ema` of configs T and R) -> our config and state dict.

Read by the container reader StyleGAN2 pickles share (`generators/nvidia_pickle.py`): nothing in
the file runs. The network is recognised by structure (a synthesis child `input` and layers
`L{i}_{size}_{channels}`), never by class name: NVIDIA's StyleGAN2 and StyleGAN3 share class names.
Per-layer settings (sizes, factors, taps, padding, clamp) are read from the pickled layers' plain
attributes, and the FIR filters from their `up_filter` / `down_filter` buffers.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ...errors import CheckpointError
from ..checks import require
from ..labels import label_set_for_size
from ..nvidia_pickle import PersistentStub, flatten, init_kwargs, modules, setting
from .config import LayerSpec, Stylegan3Config

LAYER_NAME = re.compile(r"L\d+_\d+_\d+")
FIX_DAMAGED_PICKLE = ("re-download the pickle; if it still fails, use one saved by NVIDIA's stylegan3 code itself "
                      "(modified variants are not read)")


def recognises(stub: PersistentStub) -> bool:
    """A G_ema stub whose synthesis network has a Fourier `input` and `L{i}_{size}_{ch}` layers."""
    children = modules(modules(stub).get("synthesis"))
    return "input" in children and any(LAYER_NAME.fullmatch(name) for name in children)


def _square(value, what: str, path: Path) -> int:
    sizes = np.asarray(value).reshape(-1)
    if sizes.size not in (1, 2) or sizes.min() != sizes.max():
        raise CheckpointError(f"{what} is {sizes.tolist()}: only square StyleGAN3 networks are supported", path=path,
                              fix="use a square StyleGAN3 network (NVIDIA's published ones all are)")
    return int(sizes[0])


def _layer_spec(name: str, state: dict, path: Path) -> LayerSpec:
    try:
        clamp = state["conv_clamp"]
        return LayerSpec(
            name=name, in_channels=int(state["in_channels"]), out_channels=int(state["out_channels"]),
            in_size=_square(state["in_size"], f"{name}.in_size", path),
            out_size=_square(state["out_size"], f"{name}.out_size", path), kernel=int(state["conv_kernel"]),
            up=int(state["up_factor"]), down=int(state["down_factor"]), up_taps=int(state["up_taps"]),
            down_taps=int(state["down_taps"]), down_radial=bool(state["down_radial"]),
            padding=tuple(int(p) for p in state["padding"]), torgb=bool(state["is_torgb"]),
            clamp=None if clamp is None else float(clamp))
    except KeyError as missing:
        raise CheckpointError(f"StyleGAN3 layer {name} lacks its setting {missing}", path=path,
                              fix="the pickle is damaged or from an unsupported StyleGAN3 variant") from missing
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"StyleGAN3 layer {name} has settings soundclip cannot run ({error})", path=path,
                              fix="only NVIDIA's configs T and R are supported") from error


def convert(stub: PersistentStub, path: Path) -> tuple[Stylegan3Config, dict[str, torch.Tensor], torch.Tensor]:
    """(config, state dict in our names, w_avg) of a StyleGAN3 G_ema stub."""
    kwargs = init_kwargs(stub)
    c_dim = setting(kwargs, "c_dim", 0, path)
    if setting(kwargs, "img_channels", 3, path) != 3:
        raise CheckpointError(f"StyleGAN3 with {kwargs['img_channels']} image channels is not supported (RGB only)",
                              path=path, fix="use a StyleGAN3 network trained on RGB images")
    synthesis = modules(stub)["synthesis"]
    children = modules(synthesis)
    names = synthesis.state.get("layer_names") or sorted(
        (n for n in children if LAYER_NAME.fullmatch(n)), key=lambda n: int(n[1:].split("_")[0]))
    if any(name not in children for name in names):
        raise CheckpointError("StyleGAN3 synthesis network lacks some of its layers", path=path, fix=FIX_DAMAGED_PICKLE)
    layers = [_layer_spec(name, children[name].state, path) for name in names]
    source = flatten(stub)
    state = {}
    for key, value in source.items():
        if key.startswith("mapping.fc"):
            index, rest = key[len("mapping.fc"):].split(".", 1)
            state[f"style.{int(index) + 1}.{rest}"] = value
        elif key.startswith("mapping.embed.") and c_dim:  # class labels: FullyConnectedLayer(c_dim, w_dim)
            state[key[len("mapping."):]] = value
        elif key.startswith("synthesis.input."):
            state[key[len("synthesis."):]] = value
        elif key.startswith("synthesis."):
            state["layers." + key[len("synthesis."):]] = value
        elif key != "mapping.w_avg":
            raise CheckpointError(f"unexpected StyleGAN3 tensor '{key}'", path=path,
                                  fix="only NVIDIA's unconditional configs T and R are supported")
    require(source, ["mapping.w_avg", "mapping.fc0.weight", "synthesis.input.weight"], path,
            "this StyleGAN3 network (its mapping network, w_avg or input layer)")
    if c_dim and "embed.weight" not in state:
        raise CheckpointError(f"c_dim is {c_dim} but the mapping has no 'embed' layer", path=path,
                              fix=FIX_DAMAGED_PICKLE)
    embed_dim = int(state["embed.weight"].shape[0]) if c_dim else 0
    inputs = children["input"].state
    mapping_layers = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
    radial = any(spec.down_radial for spec in layers) or any(spec.kernel == 1 for spec in layers[:-1])
    try:
        config = Stylegan3Config(
            resolution=setting(kwargs, "img_resolution", layers[-1].out_size, path),
            kind="stylegan3-r" if radial else "stylegan3-t", z_dim=int(state["style.1.weight"].shape[1]) - embed_dim,
            c_dim=c_dim, label_embedding="embed" if c_dim else "none", embed_dim=embed_dim,
            label_set=label_set_for_size(c_dim) if c_dim else "",
            w_dim=int(state["style.1.weight"].shape[0]), mapping_layers=mapping_layers,
            mapping_lr_multiplier=float((kwargs.get("mapping_kwargs") or {}).get("lr_multiplier", 0.01)),
            input_channels=int(inputs["channels"]), input_size=_square(inputs["size"], "input.size", path),
            input_sampling_rate=float(inputs["sampling_rate"]), input_bandwidth=float(inputs["bandwidth"]),
            output_scale=float(synthesis.state.get("output_scale", 0.25)), layers=layers)
    except KeyError as missing:
        raise CheckpointError(f"StyleGAN3 input layer lacks its setting {missing}", path=path,
                              fix=FIX_DAMAGED_PICKLE) from missing
    except ValueError as error:
        raise CheckpointError(f"inconsistent StyleGAN3 network ({error})", path=path, fix=FIX_DAMAGED_PICKLE) from error
    return config, state, source["mapping.w_avg"]
