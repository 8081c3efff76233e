"""TensorFlow-era StyleGAN2 pickles (NVlabs/stylegan2, stylegan2-ada TF, pbaylies' fork), without TensorFlow.

Such a file is a pickled tuple (G, D, Gs) of `dnnlib.tflib.network.Network`. The real class
executes the pickled `build_module_src` when unpickled; here `Network` is an inert stand-in that
keeps its state dict (name, static_kwargs, components, variables), through the shared restricted
unpickler (`safe_pickle`): only numpy arrays/scalars and protocol-2 bytes are rebuilt besides it.

The EMA generator Gs is converted by variable name onto our `Generator` (rosinality names) with
the layout changes the TF graph implies: weights [k, k, in, out] -> [out, in, k, k]; the up-sampling
conv flipped spatially (TF's `upsample_conv_2d` flips it before its transposed conv, ours runs the
transposed conv as is); `mod_bias + 1` (TF adds the 1 at run time); dense weights transposed. Every
static kwarg is checked: what changes the math but is not supported is refused by name.
"""

from __future__ import annotations

import pickletools
from pathlib import Path

import numpy as np
import torch

from ...checkpoints.safe_pickle import (
    BYTES_ALLOWED,
    CONTAINERS_ALLOWED,
    NUMPY_ALLOWED,
    UNPICKLING_ERRORS,
    restricted_load,
)
from ...errors import CheckpointError
from ..labels import label_set_for_size
from .config import GeneratorConfig


class TFNetwork:
    """What `dnnlib.tflib.network.Network` becomes: its pickled state, nothing callable."""

    def __setstate__(self, state) -> None:
        if not isinstance(state, dict):
            raise TypeError("malformed TF Network state (not a dict)")
        self.state = state

    @property
    def variables(self) -> dict[str, np.ndarray]:
        out = {}
        for item in self.state.get("variables", []):
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
                raise ValueError("malformed TF variable list")
            out[item[0]] = np.asarray(item[1])
        return out


ALLOWED = {("dnnlib.tflib.network", "Network"): TFNetwork, **NUMPY_ALLOWED, **BYTES_ALLOWED, **CONTAINERS_ALLOWED}

# static kwargs that do not change what Gs computes (training, evaluation defaults, precision, which op
# implementation ran) or whose sizes are read off the variables and checked against them
IGNORED_KWARGS = {"truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
                  "dlatent_avg_beta", "style_mixing_prob", "randomize_noise", "structure", "fused_modconv",
                  "num_fp16_res", "fmap_base", "fmap_max", "fmap_min", "fmap_decay", "dtype", "is_template_graph",
                  "resolution", "latent_size", "dlatent_size", "label_size", "mapping_layers", "label_fmaps",
                  "res_log2", "conv_clamp", "mapping_lrmul", "mapping_fmaps", "impl"}
# static kwargs accepted only at the value the math below implements
REQUIRED_VALUES = {"num_channels": 3, "architecture": "skip", "nonlinearity": "lrelu",
                   "mapping_nonlinearity": "lrelu", "normalize_latents": True, "resample_kernel": [1, 3, 3, 1],
                   "min_h": 4, "min_w": 4, "use_attention": False, "use_noise": (True, False), "fmap_const": None,
                   "mapping_func": "G_mapping", "synthesis_func": ("G_synthesis_stylegan2", "G_synthesis")}
VERSIONS = (4, 5)  # NVlabs/stylegan2 writes 4, stylegan2-ada TF 5
FIX_VARIABLES = ("re-download the file; if it still fails, it comes from a StyleGAN2 fork soundclip does not read "
                 "(use a snapshot of NVlabs/stylegan2 or stylegan2-ada)")


def is_tf_pickle(path: Path) -> bool:
    """Whether the pickle's first global is `dnnlib.tflib.network.Network` (the outer tuple's first network);
    read as opcodes only, a few dozen at most."""
    strings: list[str] = []
    try:
        with open(path, "rb") as f:
            for count, (op, arg, _) in enumerate(pickletools.genops(f)):
                if op.name == "GLOBAL":
                    return arg == "dnnlib.tflib.network Network"
                if op.name == "STACK_GLOBAL":
                    return strings[-2:] == ["dnnlib.tflib.network", "Network"]
                if isinstance(arg, str):
                    strings.append(arg)
                if count > 64:
                    return False
    except (ValueError, EOFError):
        return False
    return False


def read_tf_pickle(path: Path) -> TFNetwork:
    """The Gs network of a TF-era pickle: the third of (G, D, Gs), or a lone generator Network."""
    try:
        with open(path, "rb") as f:
            data = restricted_load(f, ALLOWED, encoding="latin1")
    except UNPICKLING_ERRORS as error:
        raise CheckpointError(f"unsafe or unreadable TensorFlow pickle: {error}", path=path,
                              fix="only StyleGAN2 network pickles (G, D, Gs) are accepted; nothing in the file "
                                  "was executed") from error
    network = data[2] if isinstance(data, tuple) and len(data) == 3 else data
    if not isinstance(network, TFNetwork) or not hasattr(network, "state"):
        raise CheckpointError("TensorFlow pickle holds no (G, D, Gs) networks", path=path,
                              fix="use a network snapshot saved by NVlabs/stylegan2 or stylegan2-ada (TF)")
    version = network.state.get("version")
    if version not in VERSIONS:
        raise CheckpointError(f"TF Network pickle version {version!r} is not a StyleGAN2 one (expected 4 or 5; "
                              "3 is StyleGAN1)", path=path,
                              fix="use a StyleGAN2 snapshot (NVlabs/stylegan2 or stylegan2-ada); StyleGAN1 is not read")
    components = network.state.get("components") or {}
    if not all(isinstance(components.get(k), TFNetwork) for k in ("mapping", "synthesis")):
        raise CheckpointError("the generator network has no 'mapping' and 'synthesis' components", path=path,
                              fix=FIX_VARIABLES)
    return network


def _kwargs(gs: TFNetwork, path: Path) -> dict:
    kwargs = {}
    for network in (gs, gs.state["components"]["synthesis"], gs.state["components"]["mapping"]):
        kwargs.update(network.state.get("static_kwargs") or {})
    kwargs.pop("dlatent_broadcast", None)  # set by G_main for the mapping component
    for key, value in kwargs.items():
        if key in REQUIRED_VALUES:
            allowed = REQUIRED_VALUES[key]
            ok = value in allowed if isinstance(allowed, tuple) else value == allowed
            if key == "resample_kernel":
                ok = list(value or []) == allowed
            if not ok:
                what = f"architecture {value!r}" if key == "architecture" else f"setting {key}={value!r}"
                raise CheckpointError(f"unsupported {what} (only {key}={allowed!r} loads exactly)", path=path,
                                      fix="convert it with a tool that supports it, or use another model")
        elif key not in IGNORED_KWARGS:
            raise CheckpointError(f"unknown TensorFlow generator setting '{key}' (= {value!r})", path=path,
                                  fix="this fork's pickles are not supported; please report the setting")
    synthesis_func = gs.state["components"]["synthesis"].state.get("build_func_name")
    if synthesis_func not in (None, *REQUIRED_VALUES["synthesis_func"]):
        raise CheckpointError(f"unsupported synthesis network '{synthesis_func}' (progressive configs A-D and "
                              "StyleGAN1 are not read; StyleGAN2 config E/F are)", path=path,
                              fix="use a config E or F network, such as NVIDIA's published config-f snapshots")
    return kwargs


class _Variables:
    """A component's variables, checked for presence and shape as they are taken."""

    def __init__(self, network: TFNetwork, prefix: str, path: Path):
        self.values, self.prefix, self.path, self.used = network.variables, prefix, path, set()

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str, shape: tuple | None = None) -> torch.Tensor:
        if name not in self.values:
            raise CheckpointError(f"TF pickle lacks variable '{self.prefix}{name}'", path=self.path, fix=FIX_VARIABLES)
        value = self.values[name]
        if value.dtype.kind not in "fiu":
            raise CheckpointError(f"TF variable '{self.prefix}{name}' is not numeric", path=self.path,
                                  fix=FIX_VARIABLES)
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise CheckpointError(f"TF variable '{self.prefix}{name}' has shape {tuple(value.shape)}, expected "
                                  f"{tuple(shape)}", path=self.path, fix=FIX_VARIABLES)
        self.used.add(name)
        return torch.from_numpy(np.asarray(value, dtype=np.float32))

    def check_all_used(self, ignore: tuple[str, ...] = ()) -> None:
        unused = sorted(set(self.values) - self.used - set(ignore))
        if unused:
            hint = " (a 'resnet' or 'orig' generator?)" if any("Skip" in n or "ToRGB" in n for n in unused) else ""
            raise CheckpointError(f"TF pickle has variables soundclip cannot place: {unused[:4]}{hint}",
                                  path=self.path, fix="only the StyleGAN2 'skip' generator is read exactly")


def convert(gs: TFNetwork, path: Path) -> tuple[GeneratorConfig, dict[str, torch.Tensor], torch.Tensor]:
    """Gs -> (config, state dict in our names, w_avg [w_dim])."""
    try:
        return _convert(gs, path)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as error:  # a malformed state
        raise CheckpointError(f"malformed TF network state ({type(error).__name__}: {error})", path=path,
                              fix="re-download the file") from error


def _convert(gs: TFNetwork, path: Path) -> tuple[GeneratorConfig, dict[str, torch.Tensor], torch.Tensor]:
    kwargs = _kwargs(gs, path)
    top = _Variables(gs, "", path)
    mapping = _Variables(gs.state["components"]["mapping"], "mapping/", path)
    synthesis = _Variables(gs.state["components"]["synthesis"], "synthesis/", path)
    sd: dict[str, torch.Tensor] = {}

    # mapping: Dense{i}/weight [in, out] (+ the label embedding, named by the scheme the file uses)
    layers = sum(1 for k in mapping.values if k.startswith("Dense") and k.endswith("/weight"))
    if not layers:
        raise CheckpointError("TF pickle lacks variable 'mapping/Dense0/weight'", path=path, fix=FIX_VARIABLES)
    dense0 = mapping.values.get("Dense0/weight", np.zeros((0, 0)))
    w_dim = int(mapping.values.get(f"Dense{layers - 1}/weight", np.zeros((0, 0))).shape[-1])
    c_dim = int(kwargs.get("label_size", 0))
    embedding, embed_dim = "none", 0
    if "LabelConcat/weight" in mapping and "impl" in kwargs:
        raise CheckpointError("unsupported label embedding: DiffAugment-stylegan2's LabelConcat (integer labels, "
                              "equalised weight) differs from the original one", path=path,
                              fix="use a conditional network trained with NVlabs/stylegan2 or stylegan2-ada")
    if "LabelConcat/weight" in mapping:
        embedding = "concat"
        embed_dim = int(mapping.values["LabelConcat/weight"].shape[-1])  # = latent_size
    elif "LabelEmbed/weight" in mapping:
        embedding = "embed"
        embed_dim = int(mapping.values["LabelEmbed/weight"].shape[-1])
    z_dim = int(dense0.shape[0]) - embed_dim
    if "latent_size" in kwargs and int(kwargs["latent_size"]) != z_dim:
        raise CheckpointError(f"latent_size={kwargs['latent_size']} does not match mapping/Dense0/weight "
                              f"{tuple(dense0.shape)}", path=path, fix=FIX_VARIABLES)
    if embedding == "concat":
        sd["embed.weight"] = mapping.get("LabelConcat/weight", (c_dim, z_dim)).t()
    elif embedding == "embed":
        sd["embed.weight"] = mapping.get("LabelEmbed/weight", (c_dim, embed_dim)).t()
        sd["embed.bias"] = mapping.get("LabelEmbed/bias", (embed_dim,))
    if c_dim and embedding == "none":
        raise CheckpointError(f"label_size is {c_dim} but the mapping has no LabelConcat or LabelEmbed weights",
                              path=path, fix=FIX_VARIABLES)
    if embedding != "none" and not c_dim:
        raise CheckpointError("the mapping has label weights but label_size is 0", path=path, fix=FIX_VARIABLES)
    for i in range(layers):
        fan_in = z_dim + embed_dim if i == 0 else w_dim
        sd[f"style.{i + 1}.weight"] = mapping.get(f"Dense{i}/weight", (fan_in, w_dim)).t()
        sd[f"style.{i + 1}.bias"] = mapping.get(f"Dense{i}/bias", (w_dim,))
    mapping.check_all_used()
    w_avg = top.get("dlatent_avg", (w_dim,))
    top.check_all_used(ignore=("lod",))

    # synthesis: 4x4/{Const,Conv,ToRGB}, then {r}x{r}/{Conv0_up,Conv1,ToRGB}; noise{k}
    resolution = 4
    while f"{resolution * 2}x{resolution * 2}/Conv1/weight" in synthesis:
        resolution *= 2
    if "res_log2" in kwargs and resolution != 4 * 2 ** int(kwargs["res_log2"]):
        raise CheckpointError(f"res_log2={kwargs['res_log2']} does not match the variables ({resolution} px)",
                              path=path, fix=FIX_VARIABLES)
    const = synthesis.get("4x4/Const/const")
    channels = [int(const.shape[1])]
    res = 8
    while res <= resolution:
        channels.append(int(synthesis.values[f"{res}x{res}/Conv1/weight"].shape[-1]))
        res *= 2
    sd["input.input"] = synthesis.get("4x4/Const/const", (1, channels[0], 4, 4))
    use_noise = kwargs.get("use_noise", True)

    def layer(dst: str, scope: str, in_ch: int, out_ch: int, noise: int, up: bool) -> None:
        weight = synthesis.get(f"{scope}/weight", (3, 3, in_ch, out_ch))
        if up:
            weight = weight.flip(0, 1)
        sd[f"{dst}.conv.weight"] = weight.permute(3, 2, 0, 1)[None]
        sd[f"{dst}.conv.modulation.weight"] = synthesis.get(f"{scope}/mod_weight", (w_dim, in_ch)).t()
        sd[f"{dst}.conv.modulation.bias"] = synthesis.get(f"{scope}/mod_bias", (in_ch,)) + 1
        sd[f"{dst}.activate.bias"] = synthesis.get(f"{scope}/bias", (out_ch,))
        size = 4 * 2 ** ((noise + 1) // 2)
        if use_noise:
            sd[f"{dst}.noise.weight"] = synthesis.get(f"{scope}/noise_strength", ()).reshape(1)
            sd[f"noises.noise_{noise}"] = synthesis.get(f"noise{noise}", (1, 1, size, size))
        else:  # stylegan2-ada's use_noise=False: no noise at all, i.e. zero strength
            sd[f"{dst}.noise.weight"] = torch.zeros(1)
            sd[f"noises.noise_{noise}"] = torch.zeros(1, 1, size, size)

    def torgb(dst: str, scope: str, in_ch: int) -> None:
        sd[f"{dst}.conv.weight"] = synthesis.get(f"{scope}/weight", (1, 1, in_ch, 3)).permute(3, 2, 0, 1)[None]
        sd[f"{dst}.conv.modulation.weight"] = synthesis.get(f"{scope}/mod_weight", (w_dim, in_ch)).t()
        sd[f"{dst}.conv.modulation.bias"] = synthesis.get(f"{scope}/mod_bias", (in_ch,)) + 1
        sd[f"{dst}.bias"] = synthesis.get(f"{scope}/bias", (3,)).reshape(1, 3, 1, 1)

    layer("conv1", "4x4/Conv", channels[0], channels[0], 0, up=False)
    torgb("to_rgb1", "4x4/ToRGB", channels[0])
    for level in range(1, len(channels)):
        r = 4 * 2 ** level
        layer(f"convs.{2 * level - 2}", f"{r}x{r}/Conv0_up", channels[level - 1], channels[level], 2 * level - 1,
              up=True)
        layer(f"convs.{2 * level - 1}", f"{r}x{r}/Conv1", channels[level], channels[level], 2 * level, up=False)
        torgb(f"to_rgbs.{level - 1}", f"{r}x{r}/ToRGB", channels[level])
    synthesis.check_all_used()

    clamp = kwargs.get("conv_clamp")
    config = GeneratorConfig(
        resolution=resolution, z_dim=z_dim, w_dim=w_dim, mapping_layers=layers, channels=channels,
        mapping_lr_multiplier=float(kwargs.get("mapping_lrmul", 0.01)),
        conv_clamp=None if clamp is None else float(clamp), c_dim=c_dim, label_embedding=embedding,
        embed_dim=embed_dim, label_set=label_set_for_size(c_dim) if c_dim else "")
    return config, sd, w_avg
