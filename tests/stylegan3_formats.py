"""Tiny StyleGAN3 generators and NVIDIA stylegan3-repo pickles of them (test helpers).

The pickle has what `torch_utils.persistence` writes for networks_stylegan3: persistent
Generator / MappingNetwork / SynthesisNetwork / SynthesisInput / SynthesisLayer / FullyConnectedLayer
objects whose state holds parameters, buffers (None for absent filters), the flat `_init_kwargs`
and the plain attributes (numpy arrays for sizes, numpy floats for rates and cutoffs, numpy bools).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from stylegan_formats import _fake_nvidia_modules, _Persistent

from soundclip_core.generators.stylegan3 import Stylegan3Generator

TINY = {"stylegan3-t": dict(channel_base=512, channel_max=16, margin_size=4),
        "stylegan3-r": dict(channel_base=512, channel_max=16, margin_size=4)}


def tiny_sg3(kind: str = "stylegan3-t", resolution: int = 32, seed: int = 0, conv_clamp: float | None = 256,
             **overrides) -> Stylegan3Generator:
    """A random SG3 with trained-looking values: biases, input gains, a non-trivial input transform."""
    torch.manual_seed(seed)
    g = Stylegan3Generator.from_schedule(resolution, kind, conv_clamp=conv_clamp, z_dim=16, w_dim=16,
                                         **{**TINY[kind], **overrides}).eval().requires_grad_(False)
    with torch.no_grad():
        for layer in g.layers.values():
            layer.magnitude_ema.fill_(float(torch.rand(()) * 2 + 0.3))
            layer.bias.normal_(0, 0.3)
        g.input.affine.weight.normal_(0, 0.5)
    g.estimate_w_avg(256)
    return g


class _WithAttrs(_Persistent):
    def __init__(self, class_name, params, buffers, modules, attrs, init_kwargs=None):
        super().__init__(class_name, params, buffers, modules, init_kwargs)
        self.meta["state"].update(attrs)


def _fc(weight, bias, lr=1.0):
    P = torch.nn.Parameter
    return _WithAttrs("FullyConnectedLayer", {"weight": P(weight), "bias": P(bias)}, {}, {},
                      dict(in_features=weight.shape[1], out_features=weight.shape[0], activation="linear",
                           weight_gain=np.float64(lr / np.sqrt(weight.shape[1])), bias_gain=lr))


def save_nvidia_sg3_pickle(g: Stylegan3Generator, path: Path, drop: str | None = None,
                           reshape: str | None = None, **kwarg_overrides) -> Path:
    """G_ema of `g` as NVIDIA's stylegan3 code pickles it. `drop` / `reshape`: a state-dict key (NVIDIA
    names) to leave out / store with a wrong shape, for bad-input tests."""
    _, easy = _fake_nvidia_modules()
    sd, c = g.state_dict(), g.config
    P = torch.nn.Parameter

    def tensor(key):
        value = sd[key]
        return value.reshape(-1)[:-1] if reshape and key.endswith(reshape) else value

    mapping_fcs = {f"fc{i}": _fc(tensor(f"style.{i + 1}.weight"), tensor(f"style.{i + 1}.bias"), 0.01)
                   for i in range(c.mapping_layers)}
    if c.c_dim:
        mapping_fcs["embed"] = _fc(tensor("embed.weight"), tensor("embed.bias"))
    mapping = _WithAttrs("MappingNetwork", {}, {"w_avg": sd["latent_avg"]}, mapping_fcs,
                         dict(z_dim=c.z_dim, c_dim=c.c_dim, w_dim=c.w_dim, num_ws=c.num_ws,
                              num_layers=c.mapping_layers, w_avg_beta=0.998, **({} if c.c_dim else {"embed": None})))
    inputs = _WithAttrs("SynthesisInput", {"weight": P(tensor("input.weight"))},
                        {k: sd[f"input.{k}"] for k in ("transform", "freqs", "phases")},
                        {"affine": _fc(tensor("input.affine.weight"), tensor("input.affine.bias"))},
                        dict(w_dim=c.w_dim, channels=c.input_channels,
                             size=np.broadcast_to(np.asarray(c.input_size), [2]),
                             sampling_rate=np.float64(c.input_sampling_rate),
                             bandwidth=np.float64(c.input_bandwidth)))
    layers = {}
    for i, (spec, design) in enumerate(zip(c.layers, g.designs, strict=True)):
        key = f"layers.{spec.name}"
        buffers = {"magnitude_ema": sd[f"{key}.magnitude_ema"],
                   "up_filter": sd.get(f"{key}.up_filter"), "down_filter": sd.get(f"{key}.down_filter")}
        attrs = dict(
            w_dim=c.w_dim, is_torgb=spec.torgb, is_critically_sampled=i >= len(c.layers) - 3,
            use_fp16=np.bool_(i > 6), in_channels=spec.in_channels, out_channels=spec.out_channels,
            in_size=np.broadcast_to(np.asarray(spec.in_size), [2]),
            out_size=np.broadcast_to(np.asarray(spec.out_size), [2]),
            in_sampling_rate=int(design["up"]["rate"] // spec.up), out_sampling_rate=int(design["up"]["rate"]
                                                                                         // spec.down),
            tmp_sampling_rate=int(design["up"]["rate"]), in_cutoff=np.float64(design["up"]["cutoff"]),
            out_cutoff=np.float64(design["down"]["cutoff"]), in_half_width=np.float64(design["up"]["half_width"]),
            out_half_width=np.float64(design["down"]["half_width"]), conv_kernel=spec.kernel,
            conv_clamp=None if spec.clamp is None else int(spec.clamp), magnitude_ema_beta=0.999,
            up_factor=spec.up, up_taps=spec.up_taps, down_factor=spec.down, down_taps=spec.down_taps,
            down_radial=spec.down_radial, padding=list(spec.padding))
        layers[spec.name] = _WithAttrs(
            "SynthesisLayer", {"weight": P(tensor(f"{key}.weight")), "bias": P(tensor(f"{key}.bias"))}, buffers,
            {"affine": _fc(tensor(f"{key}.affine.weight"), tensor(f"{key}.affine.bias"))}, attrs)
    if drop:
        owner, _, leaf = drop.rpartition(".")
        node = {"input": inputs, "mapping": mapping, **layers}.get(owner.split(".")[-1]) if owner else None
        state = node.meta["state"] if node is not None else None
        if state is None or not any(state[group].pop(leaf, None) is not None for group in ("_parameters", "_buffers")):
            raise KeyError(drop)
    synthesis = _WithAttrs("SynthesisNetwork", {}, {}, {"input": inputs, **layers},
                           dict(w_dim=c.w_dim, num_ws=c.num_ws, img_resolution=c.resolution, img_channels=3,
                                num_layers=len(c.layers) - 1, num_critical=2, margin_size=TINY[c.kind]["margin_size"],
                                output_scale=c.output_scale, num_fp16_res=4, layer_names=[s.name for s in c.layers]))
    kwargs = easy(z_dim=c.z_dim, c_dim=c.c_dim, w_dim=c.w_dim, img_resolution=c.resolution, img_channels=3,
                  mapping_kwargs=easy(num_layers=c.mapping_layers), channel_base=TINY[c.kind]["channel_base"],
                  channel_max=TINY[c.kind]["channel_max"], margin_size=TINY[c.kind]["margin_size"],
                  magnitude_ema_beta=0.999)
    if c.kind == "stylegan3-r":
        kwargs.update(conv_kernel=1, use_radial_filters=True)
    kwargs.update(kwarg_overrides)
    generator = _WithAttrs("Generator", {}, {}, {"mapping": mapping, "synthesis": synthesis},
                           dict(z_dim=c.z_dim, c_dim=c.c_dim, w_dim=c.w_dim, img_resolution=c.resolution,
                                img_channels=3, num_ws=c.num_ws), kwargs)
    with open(path, "wb") as f:
        pickle.dump({"G": generator, "D": None, "G_ema": generator, "augment_pipe": None,
                     "training_set_kwargs": {}}, f)
    return path
