"""e4e, Encoder4Editing (Tov et al. 2021): one forward pass from a face to a W+ estimate.

Rebuilt from the layout of `e4e_ffhq_encode.pt` (omertov/encoder4editing): an IR-SE-50 body (the
ArcFace blocks of `arcface.py`), taps after body units 6, 20 and 23 (c1, c2, c3), a feature pyramid
p2 = up(c3) + latlayer1(c2), p1 = up(p2) + latlayer2(c1) (bilinear, align_corners=True), and one
GradualStyleBlock per W+ layer (log2(spatial) stride-2 3x3 convs + leaky ReLU, then an equalised
linear layer) reading c3 (layers 0-2, 16 px), p2 (3-6, 32 px) or p1 (7+, 64 px). The code is
  w_0 = style_0(c3) on every layer;  w_i += style_i(features) for i >= 1;  W+ = w + latent_avg.
Input: the face resized to 256x256 in [-1, 1]. Widths are read off the tensors, so a small model
with the same key names (as the tests build) loads the same way.

The checkpoint is read weights-only: {'state_dict': {encoder.*, decoder.*}, 'latent_avg', 'opts'}
where opts is a plain dict; a file whose opts is an argparse.Namespace is allowed that one class.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from ..arcface import STAGES, BottleneckIRSE
from ..checkpoints import check_finite, check_shapes, module_shapes, read_checkpoint, require_keys
from ..errors import CheckpointError, SoundClipError
from ..generators.mapping import EqualLinear
from ..picture import fit_square

TAPS = (6, 20, 23)  # c1, c2, c3: the last unit of the 2nd, 3rd and 4th IR-SE-50 stage
COARSE, MIDDLE = 3, 7  # first layer reading p2, first reading p1
INPUT_SIZE = 256
WIDTH_UNITS = (0, 3, 7, 21)  # the first body unit of each IR-SE-50 stage: its width is the stage's
E4E_FIX = "use e4e_ffhq_encode.pt from omertov/encoder4editing (`soundclip weights download e4e-ffhq`)"


class GradualStyleBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, spatial: int):
        super().__init__()
        layers = []
        for i in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


class Encoder4Editing(nn.Module):
    """widths: IR-SE-50 stage depths (64, 128, 256, 512 in the released model); style_count: W+ layers."""

    def __init__(self, widths: tuple[int, int, int, int] = (64, 128, 256, 512), style_count: int = 18,
                 w_dim: int = 512):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                         nn.PReLU(widths[0]))
        units, in_ch = [], widths[0]
        for (_, _, count), depth in zip(STAGES, widths, strict=True):
            for unit in range(count):
                units.append(BottleneckIRSE(in_ch, depth, 2 if unit == 0 else 1))
                in_ch = depth
        self.body = nn.Sequential(*units)
        self.styles = nn.ModuleList([
            GradualStyleBlock(widths[3], w_dim, 16 if i < COARSE else 32 if i < MIDDLE else 64)
            for i in range(style_count)])
        self.latlayer1 = nn.Conv2d(widths[2], w_dim, 1)
        self.latlayer2 = nn.Conv2d(widths[1], w_dim, 1)

    @staticmethod
    def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 3, 256, 256] in [-1, 1] -> codes [B, style_count, w_dim] (before latent_avg)."""
        x = self.input_layer(x)
        taps = []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in TAPS:
                taps.append(x)
        c1, c2, c3 = taps
        w = self.styles[0](c3)[:, None].repeat(1, len(self.styles), 1)
        features = c3
        deltas = []
        for i in range(1, len(self.styles)):
            if i == COARSE:
                features = p2 = self._upsample_add(c3, self.latlayer1(c2))
            elif i == MIDDLE:
                features = self._upsample_add(p2, self.latlayer2(c1))
            deltas.append(self.styles[i](features))
        return w + torch.cat([w.new_zeros(w.shape[0], 1, w.shape[2]), torch.stack(deltas, 1)], 1)


class E4EEncoder:
    """A loaded e4e: images of any size in [-1, 1] -> W+ [B, num_ws, w_dim] for its generator."""

    def __init__(self, net: Encoder4Editing, latent_avg: torch.Tensor, source: str):
        self.net = net
        self.latent_avg = latent_avg  # [num_ws, w_dim]
        self.source = source

    def to(self, *args, **kwargs) -> E4EEncoder:
        """Move (or cast) the network and its mean latent, as `nn.Module.to` takes it."""
        self.net.to(*args, **kwargs)
        self.latent_avg = self.latent_avg.to(*args, **kwargs)
        return self

    @property
    def num_ws(self) -> int:
        return len(self.net.styles)

    @property
    def w_dim(self) -> int:
        return int(self.latent_avg.shape[-1])

    def start_for(self, generator, images: torch.Tensor, fit: str = "crop") -> torch.Tensor:
        """The inversion's start for `images` [B, 3, H, W] in [-1, 1]: this encoder's W+ estimate of them made
        square as the inversion will see them (`fit`). An encoder trained for another generator shape is
        refused before anything runs: its latents would not fit."""
        if (self.num_ws, self.w_dim) != (generator.num_ws, generator.w_dim):
            raise SoundClipError(f"this e4e encoder makes {self.num_ws} x {self.w_dim} latents, the generator "
                                 f"needs {generator.num_ws} x {generator.w_dim}", path=self.source,
                                 fix="use the encoder trained for this generator (e4e_ffhq_encode.pt: FFHQ 1024)")
        return self.encode(fit_square(images, generator.resolution, fit))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        device = self.latent_avg.device
        x = images.float().to(device)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", antialias=True, align_corners=False)
        with torch.no_grad():
            return self.net(x.clamp(-1, 1)) + self.latent_avg


def load_e4e(path: str | os.PathLike, device: str | torch.device | None = None,
             generator_w_avg: torch.Tensor | None = None) -> E4EEncoder:
    """An e4e checkpoint's encoder (+ its latent_avg; else `generator_w_avg` on every layer), every tensor
    checked (finite, the shapes of the Encoder4Editing its widths describe) before the network is built."""
    path = Path(path)
    ckpt = read_checkpoint(path, "an e4e encoder", E4E_FIX, allow=[argparse.Namespace])  # old opts: a Namespace
    state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    encoder = {k.removeprefix("encoder."): v for k, v in (state or {}).items() if k.startswith("encoder.")}
    if not encoder or "styles.0.linear.weight" not in encoder:
        raise CheckpointError("not an e4e checkpoint (no encoder.* Encoder4Editing weights in 'state_dict')",
                              path=path, fix=E4E_FIX)
    latent_avg = ckpt.get("latent_avg")
    check_finite({"state_dict": encoder, "latent_avg": latent_avg}, path, "this e4e encoder")
    what = "an e4e Encoder4Editing network"
    require_keys(encoder, [f"body.{i}.res_layer.1.weight" for i in WIDTH_UNITS], path, what, E4E_FIX)
    style_count = sum(1 for k in encoder if k.endswith(".linear.weight") and k.startswith("styles."))
    widths = tuple(int(encoder[f"body.{i}.res_layer.1.weight"].shape[0]) for i in WIDTH_UNITS)
    w_dim = int(encoder["styles.0.linear.weight"].shape[0])
    check_shapes(encoder, module_shapes(lambda: Encoder4Editing(widths, style_count, w_dim)), path, what, E4E_FIX)
    if latent_avg is None:
        if generator_w_avg is None:
            raise CheckpointError("this e4e checkpoint has no latent_avg", path=path,
                                  fix="load it with the generator it was trained for (its w_avg is used)")
        latent_avg = generator_w_avg
    elif not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() not in (w_dim, style_count * w_dim):
        shape = list(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
        raise CheckpointError(f"latent_avg {shape} fits neither one W [{w_dim}] nor W+ [{style_count}, {w_dim}] of "
                              "its encoder", path=path, fix=E4E_FIX)
    net = Encoder4Editing(widths, style_count, w_dim)
    net.load_state_dict(encoder)
    opts = ckpt.get("opts")
    opts = vars(opts) if isinstance(opts, argparse.Namespace) else opts if isinstance(opts, dict) else {}
    latent_avg = latent_avg.detach().float().cpu().reshape(-1, w_dim)
    if opts.get("start_from_latent_avg") is False:  # trained to output absolute codes
        latent_avg = torch.zeros_like(latent_avg)
    latent_avg = latent_avg.expand(style_count, -1) if latent_avg.shape[0] == 1 else latent_avg
    if latent_avg.shape != (style_count, w_dim):
        raise CheckpointError(f"latent_avg of shape {tuple(latent_avg.shape)} does not fit {style_count} styles",
                              path=path, fix="load it with the generator it was trained for")
    device = runtime.pick_device(device)
    net = net.eval().requires_grad_(False).to(device)
    return E4EEncoder(net, latent_avg.contiguous().to(device), str(path))
