"""VGG16-LPIPS (Zhang et al. 2018, version 0.1), the perceptual distance of NVIDIA's projector.

LPIPS compares unit-normalised VGG16 activations at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3
through per-channel weights w_c:  d(x, y) = sum_layers mean_pixels sum_c w_c (f_x - f_y)^2.
`taps()` returns each layer's normalised activation scaled by sqrt(w_c / pixels) (flattened and
concatenated, that is what NVIDIA's vgg16.pt returns with `return_lpips=True`), so the distance is a
sum of squared L2 norms, and a fixed target's taps are computed once per inversion.

Weights come from (a) a torchvision VGG16 state dict (`vgg16-397923af.pth`: features.{0,2,...,28})
plus the lpips package's linear layers (`vgg.pth`: lin{k}.model.1.weight [1, C, 1, 1]); without those
the channels weigh 1 (LPIPS's unweighted baseline), or (b) NVIDIA's `vgg16.pt`, a TorchScript archive
holding both, whose tensors are read and whose program is never run (see `_archive_layers`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from ..checkpoints import check_shapes, is_torchscript_archive, read_state_dict, require_keys, sniff
from ..errors import CheckpointError
from ..generators.derived import ForgetsDerived
from ..generators.winograd import frozen_conv3x3

STAGE_CONVS = (2, 2, 3, 3, 3)  # VGG16 ("configuration D"): 3x3 convs per stage, 2x2 max-pool between stages
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)  # in vgg16().features
SHIFT = (-0.030, -0.088, -0.188)  # LPIPS ScalingLayer, for inputs in [-1, 1]
SCALE = (0.458, 0.448, 0.450)
VGG_FIX = "use torchvision's vgg16-397923af.pth or NVIDIA's vgg16.pt (`soundclip weights download vgg16`)"
LPIPS_FIX = "use vgg.pth from the lpips package (`soundclip weights download lpips-vgg`)"


class VGG16LPIPS(ForgetsDerived):
    """VGG16 conv trunk (any stage widths; the real one is 64, 128, 256, 512, 512) + LPIPS channel weights.
    Moves completely with `.to(device)`: its convolutions' cached Winograd kernels are dropped on a move."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256, 512, 512)):
        super().__init__()
        self.widths = tuple(widths)
        convs, in_ch = [], 3
        for width, count in zip(self.widths, STAGE_CONVS, strict=True):
            for _ in range(count):
                convs.append(nn.Conv2d(in_ch, width, 3, padding=1))
                in_ch = width
        self.convs = nn.ModuleList(convs).to(memory_format=torch.channels_last)  # no weight reorder per call
        for k, width in enumerate(self.widths):
            self.register_buffer(f"lin{k}", torch.ones(width))
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None])
        self.weighted = False  # whether real LPIPS channel weights were loaded
        self.source = "random init"

    def taps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images [B, 3, H, W] in [-1, 1] -> per VGG stage, the unit-normalised activation scaled by
        sqrt(w_c / pixels) ([B, C_k, H_k, W_k], channels_last): sum_k ||taps_k(x) - taps_k(y)||^2 = LPIPS."""
        x = ((images.float() - self.shift) / self.scale).contiguous(memory_format=torch.channels_last)
        taps, conv = [], iter(self.convs)
        for stage, count in enumerate(STAGE_CONVS):
            if stage:
                x = F.max_pool2d(x, 2)
            for _ in range(count):
                x = F.relu(frozen_conv3x3(x, next(conv)))
            unit = x * torch.rsqrt(x.square().sum(1, keepdim=True) + 1e-20)  # = x / (||x|| + 1e-10) up to 1e-10
            weight = getattr(self, f"lin{stage}").clamp(min=0).sqrt() / math.sqrt(x.shape[2] * x.shape[3])
            taps.append(unit * weight[None, :, None, None])
        return taps

    def distance_to_taps(self, images: torch.Tensor, reference_taps: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS [B] between `images` and the images whose `taps` are given (a fixed target's, computed
        once): tap by tap, with no flattened, concatenated copy of them."""
        return sum((tap - ref).square().sum((1, 2, 3)) for tap, ref in zip(self.taps(images), reference_taps,
                                                                         strict=True))

    def distance(self, images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """LPIPS [B] between two image batches in [-1, 1]."""
        return self.distance_to_taps(images, self.taps(reference))


def _stage_widths(shapes: list[tuple[int, ...]], path: Path) -> tuple[int, ...]:
    """The stage widths of 13 conv weight shapes [out, in, 3, 3] that chain as VGG16 does, or an error."""
    problem = None
    if len(shapes) != sum(STAGE_CONVS):
        problem = f"{len(shapes)} 3x3 conv layers, VGG16 has {sum(STAGE_CONVS)}"
    else:
        in_ch = 3
        for shape in shapes:
            if len(shape) != 4 or shape[1] != in_ch or shape[2:] != (3, 3):
                problem = f"a conv of shape {list(shape)} where VGG16 takes {in_ch} input channels"
                break
            in_ch = shape[0]
        starts = [sum(STAGE_CONVS[:k]) for k in range(len(STAGE_CONVS))]
        widths = tuple(shapes[s][0] for s in starts)
        expected = [w for w, c in zip(widths, STAGE_CONVS, strict=True) for _ in range(c)]
        if problem is None and [s[0] for s in shapes] != expected:
            problem = "conv widths do not follow VGG16's five stages"
    if problem:
        raise CheckpointError(f"not a VGG16 network ({problem})", path=path, fix=VGG_FIX)
    return widths


def _build(convs: list[tuple[torch.Tensor, torch.Tensor]], lins: list[torch.Tensor] | None,
           widths: tuple[int, ...], path: Path, device) -> VGG16LPIPS:
    """The network from checked tensors: conv shapes chain as VGG16 (`_stage_widths`), each bias has its
    conv's width and each LPIPS weight its stage's (checked by the readers, which name their own files)."""
    net = VGG16LPIPS(widths)
    with torch.no_grad():
        for module, (weight, bias) in zip(net.convs, convs, strict=True):
            module.weight.copy_(weight)
            module.bias.copy_(bias.reshape(-1))
        for k, lin in enumerate(lins or ()):
            getattr(net, f"lin{k}").copy_(lin.reshape(-1))
    net.weighted = lins is not None
    net.source = str(path)
    return net.eval().requires_grad_(False).to(runtime.pick_device(device))


def read_lpips_weights(path: str | os.PathLike, widths: tuple[int, ...]) -> list[torch.Tensor]:
    """The five channel-weight vectors of the lpips package's `vgg.pth` (keys lin{k}.model.1.weight), one
    per VGG16 stage of `widths`; any problem is reported under this file's name, not the VGG16's."""
    path = Path(path)
    what = "LPIPS linear-layer weights (vgg.pth)"
    state = read_state_dict(path, what, LPIPS_FIX)
    keys = [f"lin{k}.model.1.weight" for k in range(len(STAGE_CONVS))]
    require_keys(state, keys, path, what, LPIPS_FIX)
    lins = [state[key].float().reshape(-1) for key in keys]
    for k, (lin, width) in enumerate(zip(lins, widths, strict=True)):
        if lin.numel() != width:
            raise CheckpointError(f"LPIPS weight lin{k} has {lin.numel()} values, the VGG16's stage {k} has {width} "
                                  "channels", path=path, fix=LPIPS_FIX)
    return lins


def _torchvision_convs(state: dict[str, torch.Tensor], path: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The 13 convs of a torchvision VGG16 state dict; its `features.*` must be exactly VGG16's (an extra
    conv, a bias of the wrong size or a missing layer is refused, naming the keys)."""
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    what = "a torchvision VGG16 state dict"
    require_keys(features, [f"features.{i}.weight" for i in TORCHVISION_CONV_INDICES], path, what, VGG_FIX)
    shapes = [tuple(features[f"features.{i}.weight"].shape) for i in TORCHVISION_CONV_INDICES]
    expected = {}
    for index, shape in zip(TORCHVISION_CONV_INDICES, shapes, strict=True):
        expected[f"features.{index}.weight"], expected[f"features.{index}.bias"] = shape, shape[:1]
    check_shapes(features, expected, path, "torchvision's VGG16 (features.*)", VGG_FIX)
    return [(features[f"features.{i}.weight"].float(), features[f"features.{i}.bias"].float())
            for i in TORCHVISION_CONV_INDICES]


def _archive_layers(state: dict[str, torch.Tensor], path: Path,
                    ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor]]:
    """Conv weights/biases and LPIPS weights from the tensors of a TorchScript archive such as NVIDIA's vgg16.pt.

    Its internal names are not published, so this reads by structure and states what it expects:
    in state-dict order, 13 tensors [out, in, 3, 3] chaining like VGG16 (each with a bias: the
    same name ending in `bias`, else the next 1-d tensor of `out` values), and, among the other
    tensors that are not fully-connected layers, five of 64, 128, 256, 512, 512 values (scaled to
    the trunk's widths), [C] or [1, C, 1, 1], in order: the LPIPS channel weights. The archive is
    assumed to hold LPIPS v0.1's own VGG16 and channel weights for [-1, 1] inputs (NVIDIA's
    notice says it derives from them); the [0, 255] input scaling of NVIDIA's program is not read.
    """
    items = [(k, v.detach().float()) for k, v in state.items()]
    used: set[str] = set()
    convs = []
    for i, (name, tensor) in enumerate(items):
        if tensor.ndim != 4 or tuple(tensor.shape[2:]) != (3, 3):
            continue
        bias_name = name[: -len("weight")] + "bias" if name.endswith("weight") else None
        bias = dict(items).get(bias_name) if bias_name else None
        if bias is None:
            bias_name, bias = next(((k, v) for k, v in items[i + 1:] if v.ndim == 1 and k not in used
                                    and v.numel() == tensor.shape[0]), (None, None))
        if bias is None or bias.numel() != tensor.shape[0]:
            raise CheckpointError(f"conv '{name}' [{tensor.shape[0]} channels] has no bias of that size in the archive",
                                  path=path, fix=VGG_FIX)
        used.update({name, bias_name})
        convs.append((tensor, bias))
    widths = _stage_widths([tuple(w.shape) for w, _ in convs], path)
    lins, want = [], list(widths)
    for name, tensor in items:
        if want and name not in used and (tensor.ndim == 1 or (tensor.ndim == 4 and tensor.shape[2:] == (1, 1)
                                                                and tensor.shape[0] == 1)) \
                and tensor.numel() == want[0]:
            lins.append(tensor)
            want.pop(0)
    if want:
        raise CheckpointError(f"found the VGG16 trunk but not the five LPIPS channel-weight tensors "
                              f"({len(lins)} of 5)", path=path,
                              fix="use NVIDIA's vgg16.pt, or torchvision's vgg16 with --lpips-weights vgg.pth")
    return convs, lins


def load_perceptual(path: str | os.PathLike, lpips_weights: str | os.PathLike | None = None,
                    device: str | torch.device | None = None, notify=print) -> VGG16LPIPS:
    """VGG16-LPIPS from NVIDIA's vgg16.pt, or a torchvision VGG16 state dict (+ LPIPS `vgg.pth`)."""
    path = Path(path)
    state = read_state_dict(path, "a VGG16 network", VGG_FIX)  # an archive's tensors only: its program never runs
    if sniff(path) == "torch-zip" and is_torchscript_archive(path):
        convs, lins = _archive_layers(state, path)
    else:
        convs, lins = _torchvision_convs(state, path), None
    widths = _stage_widths([tuple(w.shape) for w, _ in convs], path)
    if lpips_weights is not None:
        lins = read_lpips_weights(lpips_weights, widths)
    elif lins is None:
        notify("soundclip: no LPIPS weights given: using the unweighted VGG16 feature distance (LPIPS's "
               "baseline); pass the lpips package's vgg.pth for the learned LPIPS")
    return _build(convs, lins, widths, path, device)
