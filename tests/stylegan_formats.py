"""Write tiny generators in the native layouts people download (test helpers).

- rosinality: `torch.save({"g_ema": state_dict, "latent_avg": w_avg})`, or a training
  checkpoint with g/d/optimizer states and an argparse.Namespace.
- NVIDIA: a plain pickle of `torch_utils.persistence` objects (fake modules registered
  here produce the same global references as the real files).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import torch

from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig


def tiny_generator(resolution: int = 16, seed: int = 0, conv_clamp: float | None = None, c_dim: int = 0,
                   label_embedding: str = "embed") -> Generator:
    torch.manual_seed(seed)
    channels = [32, 24, 16, 8, 8, 8][: resolution.bit_length() - 2]
    labels = dict(c_dim=c_dim, label_embedding=label_embedding, embed_dim=32) if c_dim else {}
    g = Generator(GeneratorConfig(resolution=resolution, z_dim=32, w_dim=32, mapping_layers=2, channels=channels,
                                  conv_clamp=conv_clamp, **labels)).eval().requires_grad_(False)
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


def _drop_tensor(root: _Persistent, name: str) -> None:
    """Remove the parameter or buffer `name` (NVIDIA's dotted state-dict name) from a persistent tree."""
    *path, leaf = name.split(".")
    state = root.meta["state"]
    for child in path:
        state = state["_modules"][child].meta["state"]
    if not any(state[group].pop(leaf, None) is not None for group in ("_parameters", "_buffers")):
        raise KeyError(name)


def save_nvidia_pickle(g: Generator, path: Path, drop: str | None = None, **kwarg_overrides) -> Path:
    """G_ema of `g` as stylegan2-ada-pytorch would pickle it (names, shapes, init kwargs). For bad-input tests:
    `drop` leaves out one tensor (NVIDIA's name, e.g. "synthesis.b4.const"), `kwarg_overrides` replace init kwargs."""
    _, easy = _fake_nvidia_modules()
    sd = g.state_dict()
    P = torch.nn.Parameter

    def fc(i):
        return _Persistent("FullyConnectedLayer", {"weight": P(sd[f"style.{i + 1}.weight"]),
                                                   "bias": P(sd[f"style.{i + 1}.bias"])}, {}, {})

    layers = {f"fc{i}": fc(i) for i in range(g.config.mapping_layers)}
    if g.c_dim:  # ada's MappingNetwork.embed = FullyConnectedLayer(c_dim, embed_features)
        layers = {"embed": _Persistent("FullyConnectedLayer", {"weight": P(sd["embed.weight"]),
                                                               "bias": P(sd["embed.bias"])}, {}, {}), **layers}
    mapping = _Persistent("MappingNetwork", {}, {"w_avg": sd["latent_avg"]}, layers)

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
    kwargs = easy(z_dim=g.z_dim, c_dim=g.c_dim, w_dim=g.w_dim, img_resolution=g.resolution, img_channels=3,
                  mapping_kwargs=easy(num_layers=g.config.mapping_layers),
                  synthesis_kwargs=easy(channel_base=16384, channel_max=512, num_fp16_res=4,
                                        conv_clamp=g.config.conv_clamp, architecture="skip"))
    kwargs.update(kwarg_overrides)
    generator = _Persistent("Generator", {}, {}, {"mapping": mapping,
                                                  "synthesis": _Persistent("SynthesisNetwork", {}, {}, blocks)},
                            kwargs)
    if drop:
        _drop_tensor(generator, drop)
    with open(path, "wb") as f:
        pickle.dump({"G": generator, "D": None, "G_ema": generator, "augment_pipe": None,
                     "training_set_kwargs": {}}, f)
    return path


# -- TensorFlow-era pickles (NVlabs/stylegan2, stylegan2-ada TF, pbaylies' fork) -----------------------------------

TF_BUILD_SRC = "import os\nopen(os.environ.get('SOUNDCLIP_TEST_MARKER', '/dev/null'), 'w').write('executed')\n"


def _fake_tf_network_class():
    """A class that pickles exactly like dnnlib.tflib.network.Network: NEWOBJ of that global + BUILD(state)."""
    module = sys.modules.get("dnnlib.tflib.network")
    if module is None or not hasattr(module, "Network"):
        for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"):
            sys.modules.setdefault(name, types.ModuleType(name))
        module = sys.modules["dnnlib.tflib.network"]

        class Network:
            def __init__(self, state: dict):
                self._state = state

            def __getstate__(self):
                return self._state

            def __setstate__(self, state):  # pragma: no cover - our loader never uses this class
                raise AssertionError("the real Network class was used")

        Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
        module.Network = Network
    return module.Network


def tf_generator_variables(resolution: int = 16, z_dim: int = 32, w_dim: int = 32, mapping_layers: int = 2,
                           c_dim: int = 0, label: str = "none", label_fmaps: int | None = None,
                           channels: list[int] | None = None, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Random Gs variables with TF names and shapes: {"Gs": ..., "mapping": ..., "synthesis": ...}."""
    rng = np.random.default_rng(seed)
    levels = resolution.bit_length() - 2
    channels = channels or [32, 24, 16, 8, 8, 8][:levels]

    def randn(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    mapping: dict[str, np.ndarray] = {}
    embed = 0
    if label == "concat":
        mapping["LabelConcat/weight"], embed = randn(c_dim, z_dim), z_dim
    elif label == "embed":
        embed = label_fmaps or z_dim
        mapping["LabelEmbed/weight"], mapping["LabelEmbed/bias"] = randn(c_dim, embed), randn(embed, scale=0.3)
    for i in range(mapping_layers):
        mapping[f"Dense{i}/weight"] = randn(z_dim + embed if i == 0 else w_dim, w_dim, scale=100.0)  # raw, lrmul 0.01
        mapping[f"Dense{i}/bias"] = randn(w_dim, scale=20.0)
    synthesis: dict[str, np.ndarray] = {"4x4/Const/const": randn(1, channels[0], 4, 4)}

    def conv(scope, cin, cout):
        synthesis.update({f"{scope}/weight": randn(3, 3, cin, cout), f"{scope}/bias": randn(cout, scale=0.2),
                          f"{scope}/mod_weight": randn(w_dim, cin), f"{scope}/mod_bias": randn(cin, scale=0.2),
                          f"{scope}/noise_strength": np.float32(rng.normal(0, 0.3))})  # a numpy scalar, as TF returns

    def torgb(scope, cin):
        synthesis.update({f"{scope}/weight": randn(1, 1, cin, 3), f"{scope}/bias": randn(3, scale=0.2),
                          f"{scope}/mod_weight": randn(w_dim, cin), f"{scope}/mod_bias": randn(cin, scale=0.2)})

    conv("4x4/Conv", channels[0], channels[0])
    torgb("4x4/ToRGB", channels[0])
    for level in range(1, levels):
        r = 4 * 2 ** level
        conv(f"{r}x{r}/Conv0_up", channels[level - 1], channels[level])
        conv(f"{r}x{r}/Conv1", channels[level], channels[level])
        torgb(f"{r}x{r}/ToRGB", channels[level])
    for k in range(2 * levels - 1):
        size = 2 ** ((k + 5) // 2)
        synthesis[f"noise{k}"] = randn(1, 1, size, size)
    gs = {"dlatent_avg": randn(w_dim, scale=0.5), "lod": np.array(0.0, dtype=np.float32)}
    return {"Gs": gs, "mapping": mapping, "synthesis": synthesis}


def tf_static_kwargs(variables: dict, **extra) -> dict:
    """Gs static_kwargs as training_loop.py writes them: num_channels, resolution, label_size, + G_args."""
    resolution = max(int(k.split("x")[0]) for k in variables["synthesis"] if k[0].isdigit())
    label = variables["mapping"].get("LabelConcat/weight", variables["mapping"].get("LabelEmbed/weight"))
    return {"num_channels": 3, "resolution": resolution, "label_size": 0 if label is None else int(label.shape[0]),
            **extra}


@contextlib.contextmanager
def _numpy_names(numpy1: bool):
    """While pickling: write numpy arrays/scalars under numpy 1's `numpy.core.multiarray` names if asked
    (a stand-in module under that name holds look-alike functions the pickler resolves)."""
    if not numpy1:
        yield None
        return
    fake = types.ModuleType("numpy.core.multiarray")

    def _reconstruct(*args):  # pragma: no cover - never called
        raise AssertionError

    def scalar(*args):  # pragma: no cover - never called
        raise AssertionError

    for fn in (_reconstruct, scalar):
        fn.__module__, fn.__qualname__ = "numpy.core.multiarray", fn.__name__
        setattr(fake, fn.__name__, fn)

    class Pickler(pickle.Pickler):
        def reducer_override(self, obj):
            if type(obj) is np.ndarray:
                _, args, state = obj.__reduce__()
                return fake._reconstruct, args, state
            if isinstance(obj, np.generic):
                _, args = obj.__reduce__()
                return fake.scalar, args
            return NotImplemented

    saved = sys.modules.get("numpy.core.multiarray")
    sys.modules["numpy.core.multiarray"] = fake
    try:
        yield Pickler
    finally:
        if saved is None:
            del sys.modules["numpy.core.multiarray"]
        else:
            sys.modules["numpy.core.multiarray"] = saved


def save_tf_pickle(variables: dict, path: Path, static_kwargs: dict, protocol: int = 4, numpy1: bool = False,
                   build_module_src: str = TF_BUILD_SRC, version: int = 4, payload: object = None) -> Path:
    """(G, D, Gs) of dnnlib.tflib.network.Network states as NVlabs/stylegan2's training loop pickles them.
    numpy1: reference numpy.core.multiarray (files written under numpy 1) instead of numpy._core."""
    network = _fake_tf_network_class()

    def state(name, func, kwargs, own, components=None):
        return network({"version": version, "name": name, "static_kwargs": dict(kwargs),
                        "components": components or {}, "build_module_src": build_module_src,
                        "build_func_name": func, "variables": list(own.items())})

    kwargs = dict(static_kwargs)
    synthesis = state("G_synthesis", "G_synthesis_stylegan2", kwargs, variables["synthesis"])
    num_ws = 2 * int(kwargs["resolution"]).bit_length() - 4
    mapping = state("G_mapping", "G_mapping", {**kwargs, "dlatent_broadcast": num_ws}, variables["mapping"])
    gs_vars = dict(variables["Gs"])
    if payload is not None:
        gs_vars["payload"] = payload
    gs = state("Gs", "G_main", kwargs, gs_vars, {"mapping": mapping, "synthesis": synthesis})
    discriminator = state("D", "D_stylegan2", kwargs, {"Output/weight": np.ones((4, 1), np.float32)})
    buffer = io.BytesIO()
    with _numpy_names(numpy1) as pickler:
        (pickler or pickle.Pickler)(buffer, protocol=protocol).dump((gs, discriminator, gs))
    path.write_bytes(buffer.getvalue())
    return path
