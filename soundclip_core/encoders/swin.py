"""A Swin-Transformer audio encoder (the supplement's Table 1 row): a 224 x 224 log-mel image through timm's
Swin (one input channel), its pooled features projected into the CLIP space by one linear layer.

The front end is the paper's (`soundclip_inputs`: log-mel window of `frames`, resized bilinearly to
`resize` = the Swin's image size), so training and inference share every step with the ResNet encoder. That
front end hands the image flattened row-major into [1, n_mels, H * W / n_mels] (the paper's raw reshape); a raw
reshape is undone exactly by another, so the network first restores [1, H, W].

Settings (`network` in configs/swin.json, overridden by a trained encoder's sidecar): timm's `arch` and its
`img_size`, `window_size`, `width` (the first stage's channels), `depths` and `num_heads`. No weights are ever
downloaded (`pretrained=False`); ImageNet weights come in through `--init` (`imagenet_backbone`).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..errors import CheckpointError
from ..optional import require

RGB_STEM = "patch_embed.proj.weight"
BIAS_TABLE = "layers.0.blocks.0.attn.relative_position_bias_table"
IMAGENET_KEYS = (RGB_STEM, BIAS_TABLE)


class SwinAudioNet(nn.Module):
    def __init__(self, embed_dim: int = 512, arch: str = "swin_tiny_patch4_window7_224", img_size: int = 224,
                 window_size: int = 7, width: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                 num_heads: tuple[int, ...] = (3, 6, 12, 24)):
        super().__init__()
        timm = require("timm", "the Swin audio encoder")
        self.swin = timm.create_model(arch, pretrained=False, in_chans=1, num_classes=0, img_size=img_size,
                                      window_size=window_size, embed_dim=width, depths=tuple(depths),
                                      num_heads=tuple(num_heads))
        self.proj = nn.Linear(self.swin.num_features, embed_dim)
        self.embed_dim, self.img_size, self.window_size = embed_dim, img_size, window_size
        self.settings = {"arch": arch, "img_size": img_size, "window_size": window_size, "width": width,
                         "depths": list(depths), "num_heads": list(num_heads)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Front-end output [B, 1, n_mels, H * W / n_mels] (or the image [B, 1, H, W]) -> [B, embed_dim]."""
        image = x.reshape(x.shape[0], 1, self.img_size, self.img_size)
        return self.proj(self.swin(image))


def bias_window(table: torch.Tensor) -> int:
    """The attention window a relative position bias table [(2w - 1)^2, heads] belongs to."""
    return (round(table.shape[0] ** 0.5) + 1) // 2


def check_window(state: dict[str, torch.Tensor], key: str, window: int, img_size: int,
                 path: str | os.PathLike) -> None:
    """A Swin checkpoint made for another input size (another attention window, e.g. HTS-AT's 256 x 256 with
    windows of 8) cannot be loaded into one with `window` and `img_size`: one clear error instead of a list of
    misshapen tensors."""
    if key in state and bias_window(state[key]) != window:
        raise CheckpointError(f"this Swin checkpoint uses attention windows of {bias_window(state[key])} (made for "
                              f"another input size); this encoder takes {img_size} x {img_size} images with "
                              f"windows of {window}", path=path,
                              fix=f"use a Swin checkpoint for {img_size} x {img_size} inputs with window {window} "
                                  "(e.g. timm's swin_tiny_patch4_window7_224)")


def is_imagenet_swin(state: dict[str, torch.Tensor]) -> bool:
    """timm's (or Microsoft's original) Swin ImageNet state dict, classifier included or not."""
    return all(k in state for k in IMAGENET_KEYS)


def imagenet_backbone(state: dict[str, torch.Tensor], net: SwinAudioNet, path: str | os.PathLike) -> None:
    """Load a Swin ImageNet state dict (timm's layout, or the original one that timm's own filter converts) into
    `net.swin`: the RGB stem summed into one channel (what timm does for in_chans=1), the classifier dropped (the
    projection into CLIP starts fresh); the window and every shape checked first."""
    from timm.models.swin_transformer import checkpoint_filter_fn

    from ..checkpoints import check_shapes

    check_window(state, BIAS_TABLE, net.window_size, net.img_size, path)
    state = checkpoint_filter_fn(dict(state), net.swin)
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    if state[RGB_STEM].shape[1] == 3:
        state[RGB_STEM] = state[RGB_STEM].sum(dim=1, keepdim=True)
    expected = {k: tuple(v.shape) for k, v in net.swin.state_dict().items() if not k.startswith("head.")}
    check_shapes(state, expected, path, "a Swin ImageNet state dict of this size",
                 f"use timm's {net.settings['arch']} ImageNet weights")
    net.swin.load_state_dict(state, strict=False)
