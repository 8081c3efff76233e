"""Write tiny generators in the native layouts people download (test helpers).

- rosinality: `torch.save({"g_ema": state_dict, "latent_avg": w_avg})`, or a training
  checkpoint with g/d/optimizer states and an argparse.Namespace.
- NVIDIA: a plain pickle of `torch_utils.persistence` objects (fake modules registered
  here produce the same global references as the real files).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import types
from pathlib import Path

import torch

from soundclip_core.stylegan2 import Generator, GeneratorConfig


def tiny_generator(resolution: int = 16, seed: int = 0, conv_clamp: float | None = None) -> Generator:
    torch.manual_seed(seed)
    channels = [32, 24, 16, 8, 8, 8][: resolution.bit_length() - 2]
    g = Generator(GeneratorConfig(resolution=resolution, z_dim=32, w_dim=32, mapping_layers=2, channels=channels,
                                  conv_clamp=conv_clamp)).eval().requires_grad_(False)
    for name, p in g.named_parameters():  # non-trivial biases and noise strengths
        if name.endswith(("noise.weight", "activate.bias", ".bias")):
            p.data.normal_(0, 0.2)
    g.estimate_w_avg(256)
    return g


def save_rosinality(g: Generator, path: Path, training: bool = False) -> Path:
    state = {k: v for k, v in g.state_dict().items() if k != "latent_avg"}
    if training:
        torch.save({"g": state, "d": {"conv.weight": torch.zeros(2)}, "g_ema": state, "g_optim": {}, "d_optim": {},
                    "args": argparse.Namespace(size=g.resolution, iter=10), "ada_aug_p": 0.0}, path)
    else:
        torch.save({"g_ema": state, "latent_avg": g.w_avg.clone()}, path)
    return path


def _fake_nvidia_modules():
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - never called by our loader
        raise AssertionError("executed")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    for name, module in {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                         "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}.items():
        sys.modules.setdefault(name, module)
    return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, sys.modules["dnnlib.util"].EasyDict


class _Persistent:
    """Pickles like a torch_utils.persistence object: (_reconstruct_persistent_obj, (meta,))."""

    def __init__(self, class_name: str, params: dict, buffers: dict, modules: dict, init_kwargs: dict | None = None):
        self.meta = dict(type="class", version=6, module_src="raise SystemExit('source executed')",
                         class_name=class_name,
                         state={"training": False, "_parameters": params, "_buffers": buffers,
                                "_modules": {k: v for k, v in modules.items()}, "_init_kwargs": init_kwargs or {},
                                "_init_args": ()})

    def __reduce__(self):
        reconstruct, _ = _fake_nvidia_modules()
        return reconstruct, (self.meta,)


def save_nvidia_pickle(g: Generator, path: Path) -> Path:
    """G_ema of `g` as stylegan2-ada-pytorch would pickle it (names, shapes, init kwargs)."""
    _, easy = _fake_nvidia_modules()
    sd = g.state_dict()
    P = torch.nn.Parameter

    def fc(i):
        return _Persistent("FullyConnectedLayer", {"weight": P(sd[f"style.{i + 1}.weight"]),
                                                   "bias": P(sd[f"style.{i + 1}.bias"])}, {}, {})

    mapping = _Persistent("MappingNetwork", {}, {"w_avg": sd["latent_avg"]},
                          {f"fc{i}": fc(i) for i in range(g.config.mapping_layers)})

    def affine(src):
        return _Persistent("FullyConnectedLayer", {"weight": P(sd[f"{src}.conv.modulation.weight"]),
                                                   "bias": P(sd[f"{src}.conv.modulation.bias"])}, {}, {})

    def layer(src, noise):
        return _Persistent("SynthesisLayer", {"weight": P(sd[f"{src}.conv.weight"][0]),
                                              "bias": P(sd[f"{src}.activate.bias"]),
                                              "noise_strength": P(sd[f"{src}.noise.weight"][0])},
                           {"noise_const": sd[f"noises.noise_{noise}"][0, 0], "resample_filter": torch.ones(4, 4)},
                           {"affine": affine(src)})

    def torgb(src):
        return _Persistent("ToRGBLayer", {"weight": P(sd[f"{src}.conv.weight"][0]),
                                          "bias": P(sd[f"{src}.bias"].reshape(3))}, {}, {"affine": affine(src)})

    blocks = {"b4": _Persistent("SynthesisBlock", {"const": P(sd["input.input"][0])}, {},
                                {"conv1": layer("conv1", 0), "torgb": torgb("to_rgb1")})}
    for level in range(1, g.config.levels):
        blocks[f"b{4 * 2 ** level}"] = _Persistent("SynthesisBlock", {}, {}, {
            "conv0": layer(f"convs.{2 * level - 2}", 2 * level - 1),
            "conv1": layer(f"convs.{2 * level - 1}", 2 * level),
            "torgb": torgb(f"to_rgbs.{level - 1}")})
    kwargs = easy(z_dim=g.z_dim, c_dim=0, w_dim=g.w_dim, img_resolution=g.resolution, img_channels=3,
                  mapping_kwargs=easy(num_layers=g.config.mapping_layers),
                  synthesis_kwargs=easy(channel_base=16384, channel_max=512, num_fp16_res=4,
                                        conv_clamp=g.config.conv_clamp, architecture="skip"))
    generator = _Persistent("Generator", {}, {}, {"mapping": mapping,
                                                  "synthesis": _Persistent("SynthesisNetwork", {}, {}, blocks)},
                            kwargs)
    with open(path, "wb") as f:
        pickle.dump({"G": generator, "D": None, "G_ema": generator, "augment_pipe": None,
                     "training_set_kwargs": {}}, f)
    return path
