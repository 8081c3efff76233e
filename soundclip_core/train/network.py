"""The network to train: from scratch, ImageNet-initialised, or fine-tuned from an encoder checkpoint.

For `--kind swin`, `--init` takes a Swin encoder trained here (fine-tuning) or timm's Swin ImageNet weights
(`swin_tiny_patch4_window7_224`'s `model.safetensors`/`pytorch_model.bin`, or Microsoft's original `.pth`):
`encoders.swin.imagenet_backbone` loads their backbone, the projection into CLIP starts fresh.

`--init` takes either an audio encoder checkpoint of the kind being trained (fine-tuning; its embedding
size and CLIP space must be the chosen CLIP's), or a timm/torchvision ResNet-18 ImageNet state dict
(`conv1.weight`, `layer1.0.conv1.weight`, ..., `fc.weight` [1000, 512]): the official code starts from
timm's ImageNet weights (pretrained=True); their backbone is loaded and the 512-d head starts fresh.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ..checkpoints import check_shapes, module_shapes, read_state_dict
from ..encoders import ENCODER_KINDS, load_audio_encoder
from ..encoders.encoder import detect_kind
from ..encoders.soundclip import SoundCLIPNet
from ..encoders.swin import SwinAudioNet, imagenet_backbone, is_imagenet_swin
from ..errors import CheckpointError

TRAINABLE_KINDS = ("soundclip", "swin")
NETWORKS = {"soundclip": SoundCLIPNet, "swin": SwinAudioNet}
IMAGENET = {"soundclip": "timm's resnet18 ImageNet weights",
            "swin": "timm's swin_tiny_patch4_window7_224 ImageNet weights"}
IMAGENET_KEYS = ("conv1.weight", "layer1.0.conv1.weight", "layer4.1.conv2.weight", "fc.weight")


def build_network(kind: str, embed_dim: int, init: str | os.PathLike | None, clip_space: str,
                  ) -> tuple[nn.Module, str]:
    """-> (network in train mode, a description of where its weights came from)."""
    if kind not in TRAINABLE_KINDS:
        raise CheckpointError(f"training a '{kind}' encoder is not supported",
                              fix=f"use --kind {' or '.join(TRAINABLE_KINDS)}")
    if init is None:
        return NETWORKS[kind](embed_dim).train(), "random init"
    path = Path(init)
    state = read_state_dict(path, f"a {kind} audio encoder or ImageNet weights (--init)",
                            f"give a {kind} encoder (.pth) or {IMAGENET[kind]}", nested=("state_dict", "model"))
    if kind == "swin" and is_imagenet_swin(state):
        net = SwinAudioNet(embed_dim)
        imagenet_backbone(state, net, path)
        return net.train(), f"ImageNet backbone from {path}"
    if kind == "soundclip" and all(k in state for k in IMAGENET_KEYS) and tuple(state["fc.weight"].shape) == (
            1000, 512):
        backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the 512-d head starts fresh
        expected = module_shapes(lambda: SoundCLIPNet(embed_dim).feature_extractor)
        check_shapes(backbone, {k: v for k, v in expected.items() if not k.startswith("fc.")}, path,
                     "a ResNet-18 ImageNet state dict", "use timm's resnet18 ImageNet weights")
        net = SoundCLIPNet(embed_dim)
        net.feature_extractor.load_state_dict(backbone, strict=False)
        return net.train(), f"ImageNet backbone from {path}"
    try:
        found = detect_kind(state, path)
    except CheckpointError:
        raise CheckpointError("--init is neither an audio encoder checkpoint nor an ImageNet state dict",
                              path=path, fix=f"give a {kind} encoder (.pth) or {IMAGENET[kind]}") from None
    if found != kind:
        raise CheckpointError(f"--init is a {found} encoder checkpoint, but a {kind} encoder is being trained",
                              path=path, fix=f"use --kind {found} if supported, or a {kind} checkpoint "
                                             f"(kinds: {', '.join(ENCODER_KINDS)})")
    encoder = load_audio_encoder(path, kind=kind, device="cpu")
    if encoder.space != clip_space:
        raise CheckpointError(f"--init encoder lives in CLIP space '{encoder.space}', the chosen CLIP in "
                              f"'{clip_space}'", path=path, fix="fine-tune with the CLIP it was trained with")
    if encoder.dim != embed_dim:
        raise CheckpointError(f"--init encoder gives {encoder.dim}-d embeddings, the CLIP {embed_dim}-d", path=path,
                              fix="fine-tune with the CLIP it was trained with")
    return encoder.net.train().requires_grad_(True), f"fine-tuned from {path}"
