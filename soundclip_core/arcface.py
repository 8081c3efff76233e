"""ArcFace IR-SE50 (TreB1eN InsightFace_Pytorch layout): the identity loss for face edits.

`model_ir_se50.pth` is a plain state dict; the network is rebuilt here with the same
module names so the file loads strictly. Preprocessing follows StyleCLIP / the official
sound-guided code: pool to 256, crop [35:223, 32:220], pool to 112.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import runtime
from .checkpoints import check_shapes, module_shapes, read_state_dict

STAGES = [(64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3)]  # (in, depth, units), IR-SE-50


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class BottleneckIRSE(nn.Module):
    def __init__(self, in_ch: int, depth: int, stride: int):
        super().__init__()
        if in_ch == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_ch, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth), SqueezeExcite(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class Backbone(nn.Module):
    """IR-SE-50 on 112x112 faces -> 512-d L2-normalised features."""

    def __init__(self):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.body = nn.Sequential(*[BottleneckIRSE(in_ch if unit == 0 else depth, depth, 2 if unit == 0 else 1)
                                    for in_ch, depth, units in STAGES for unit in range(units)])
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(0.6), nn.Flatten(),
                                          nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


def crop_face(images: torch.Tensor) -> torch.Tensor:
    """Generator output [B, 3, H, W] in [-1, 1] -> the 112x112 face crop ArcFace expects."""
    if images.shape[-1] != 256:
        images = F.adaptive_avg_pool2d(images, (256, 256))
    return F.adaptive_avg_pool2d(images[:, :, 35:223, 32:220], (112, 112))


class IdentityEncoder:
    """Frozen ArcFace with the official preprocessing and loss."""

    def __init__(self, model: Backbone, source: str):
        self.model = model
        self.source = source

    def to(self, *args, **kwargs) -> IdentityEncoder:
        """Move (or cast) the network, as `nn.Module.to` takes it."""
        self.model.to(*args, **kwargs)
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(crop_face(images).float())

    def loss(self, images: torch.Tensor, reference_images: torch.Tensor) -> torch.Tensor:
        """Per-sample 1 - <f(images), f(reference)> [B], the reference detached."""
        with torch.no_grad():
            reference = self.features(reference_images)
        return 1 - (self.features(images) * reference).sum(dim=1)


def identity_loss(encoder: IdentityEncoder, images: torch.Tensor, reference_images: torch.Tensor) -> torch.Tensor:
    """mean_i (1 - <f(images_i), f(reference_i)>)."""
    return encoder.loss(images, reference_images).mean()


def build_arcface(seed: int = 0, device: str | torch.device | None = None) -> IdentityEncoder:
    torch.manual_seed(seed)
    return IdentityEncoder(Backbone().eval().requires_grad_(False).to(runtime.pick_device(device)), "random init")


def load_arcface(path: str | os.PathLike, device: str | torch.device | None = None) -> IdentityEncoder:
    path = Path(path)
    what, fix = "an IR-SE50 ArcFace network", "use model_ir_se50.pth from TreB1eN/InsightFace_Pytorch (as StyleCLIP " \
        "does): `soundclip weights download arcface-ir-se50`"
    state = read_state_dict(path, what, fix)
    check_shapes(state, module_shapes(Backbone), path, what, fix)
    model = Backbone()
    model.load_state_dict(state)
    return IdentityEncoder(model.eval().requires_grad_(False).to(runtime.pick_device(device)), str(path))
