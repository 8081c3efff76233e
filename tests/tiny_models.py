"""Tiny random models saved under the file names the example workflows expect (test helpers).

The CLIP stand-in is a 64-d tiny CLIP tagged with the ViT-B-32 space, and the audio encoder
is the real SoundCLIP architecture with a 64-d head, so the graph's spaces and sizes agree.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from stylegan_formats import (
    save_nvidia_pickle,
    save_tf_pickle,
    tf_generator_variables,
    tf_static_kwargs,
    tiny_generator,
)

from soundclip_core.arcface import build_arcface
from soundclip_core.clip import ClipModel, save_clip, tiny_clip
from soundclip_core.encoders import AudioEncoder, build_audio_encoder
from soundclip_core.generators import save_generator

GENERATOR_FILES = ("landscape.pt", "stylegan2-ffhq-config-f.pt")
WIKIART_FILE = "network-snapshot-012052.pkl"
AUDIOCLIP_FILE = "AudioCLIP-Full-Training.pt"
TINY_DIM = 64


def write_sound(path: Path, seconds: float = 2.0, rate: int = 22050, seed: int = 0) -> Path:
    """A chirp with a little noise, written as a real sound file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.02, t.shape)
    soundfile.write(path, (0.3 * np.sin(2 * math.pi * (220 + 200 * seed + 300 * t) * t) + noise).astype("float32"),
                    rate)
    return path


def write_cli_files(root: Path) -> Path:
    """`root` holding the workflow's tiny models under models/ and a rain sound, for the CLI tests."""
    write_workflow_models(root / "models", with_arcface=False)
    write_sound(root / "rain.wav")
    return root


def randomize_batch_norms(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every batch norm non-trivial statistics and affine terms, as trained networks have
    (fresh ones are the identity, which would hide a wrong fold or a missing normalisation)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                module.weight.copy_(torch.rand(n, generator=g) + 0.5)
                module.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return net


def tiny_rn_clip(seed: int = 0) -> CLIP:
    """A small ModifiedResNet CLIP with AudioCLIP's 1024-d embeddings (the key names of RN50)."""
    torch.manual_seed(seed)
    return CLIP(1024, CLIPVisionCfg(layers=(1, 1, 1, 1), width=8, image_size=64),
                CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1), quick_gelu=True)


def audioclip_head(seed: int = 0) -> AudioEncoder:
    """The real AudioCLIP audio head, random, with trained-looking FBSP filters (non-integer shapes m,
    so some windows are complex) and batch norms."""
    encoder = build_audio_encoder("audioclip", device="cpu", seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        encoder.net.fbsp.m.copy_(torch.rand(1025, generator=g) * 2.5 + 0.2)
        encoder.net.fbsp.fb.copy_(torch.rand(1025, generator=g) * 2 + 0.5)
        encoder.net.fbsp.fc.add_(torch.randn(1025, generator=g))
    randomize_batch_norms(encoder.net, seed)
    return encoder


def write_audioclip(path: Path, seed: int = 0) -> AudioEncoder:
    """A whole-model AudioCLIP checkpoint as released: audio head under `audio.`, CLIP towers, logit scales."""
    encoder = audioclip_head(seed)
    state = {f"audio.{k}": v for k, v in encoder.net.state_dict().items()}
    state.update(tiny_rn_clip(seed).state_dict())
    state.update({"logit_scale_ai": torch.tensor(4.6), "logit_scale_at": torch.tensor(4.6)})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return encoder


def stand_in_clip() -> ClipModel:
    clip = tiny_clip(seed=1, device="cpu")
    return ClipModel(clip.model, "openai/ViT-B-32", clip.source)


def write_workflow_models(models: Path, with_arcface: bool = True) -> None:
    for folder in ("stylegan2", "audio_encoders", "clip_soundclip", "arcface"):
        (models / folder).mkdir(parents=True, exist_ok=True)
    generator = tiny_generator(resolution=32)
    for name in GENERATOR_FILES:
        save_generator(generator, models / "stylegan2" / name)
    encoder = build_audio_encoder("soundclip", embed_dim=TINY_DIM, device="cpu")
    torch.save({f"module.{k}": v for k, v in encoder.net.state_dict().items()},
               models / "audio_encoders" / "resnet18_57.pth")
    save_clip(stand_in_clip(), models / "clip_soundclip" / "ViT-B-32.pt")
    write_audioclip(models / "audio_encoders" / AUDIOCLIP_FILE)
    save_nvidia_pickle(generator, models / "stylegan2" / "afhqdog.pkl")
    write_wikiart_pickle(models / "stylegan2" / WIKIART_FILE)
    if with_arcface:
        torch.save(build_arcface(device="cpu").model.state_dict(), models / "arcface" / "model_ir_se50.pth")
    write_inversion_models(models)
    write_stylegan3_models(models)


def write_wikiart_pickle(path: Path) -> Path:
    """A tiny stand-in for Baylies' WikiArt snapshot in its real layout: a TF pickle (G, D, Gs), conditional
    with LabelConcat over the 167-value artist/genre/style label, the fork's min_h/min_w/res_log2 settings."""
    variables = tf_generator_variables(resolution=32, c_dim=167, label="concat", seed=7)
    kwargs = tf_static_kwargs(variables, latent_size=32, dlatent_size=32, mapping_layers=2, min_h=4, min_w=4,
                              res_log2=3)
    return save_tf_pickle(variables, path, kwargs)


# -- inversion: perceptual networks and the e4e encoder in their real layouts ---------------------------
TINY_VGG_WIDTHS = (4, 8, 8, 16, 16)


def tiny_vgg(seed: int = 0, weighted: bool = True):
    """A VGG16-topology network of tiny widths with random (non-negative) LPIPS channel weights."""
    from soundclip_core.invert import VGG16LPIPS

    torch.manual_seed(seed)
    net = VGG16LPIPS(TINY_VGG_WIDTHS)
    for conv in net.convs:  # He-style init keeps activations alive through 13 layers
        torch.nn.init.normal_(conv.weight, 0, (2 / (conv.in_channels * 9)) ** 0.5)
        torch.nn.init.normal_(conv.bias, 0, 0.05)
    if weighted:
        for k, width in enumerate(TINY_VGG_WIDTHS):
            getattr(net, f"lin{k}").copy_(torch.rand(width) * 0.2)
        net.weighted = True
    return net.eval().requires_grad_(False)


def write_torchvision_vgg(net, path: Path) -> Path:
    """The trunk in torchvision's vgg16 key layout (features.{0,2,5,...,28}.weight/bias, classifier.*)."""
    from soundclip_core.invert.perceptual import TORCHVISION_CONV_INDICES

    state = {}
    for index, conv in zip(TORCHVISION_CONV_INDICES, net.convs, strict=True):
        state[f"features.{index}.weight"] = conv.weight.detach().clone()
        state[f"features.{index}.bias"] = conv.bias.detach().clone()
    state["classifier.0.weight"] = torch.zeros(8, net.widths[-1])
    state["classifier.0.bias"] = torch.zeros(8)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def write_lpips_weights(net, path: Path) -> Path:
    """The lpips package's v0.1 layout: lin{k}.model.1.weight [1, C, 1, 1]."""
    state = {f"lin{k}.model.1.weight": getattr(net, f"lin{k}").clone()[None, :, None, None]
             for k in range(len(net.widths))}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def write_nvidia_vgg_archive(net, path: Path) -> Path:
    """A TorchScript archive shaped like NVIDIA's vgg16.pt might be (its names are unpublished): conv layers
    `layers.conv{s}_{i}`, fully-connected fc6-fc8 (NVIDIA's precision/recall uses fc7), LPIPS weights
    `lpips{k}` [1, C, 1, 1]. Its forward always raises: loading must never run it."""
    from soundclip_core.invert.perceptual import STAGE_CONVS

    class Archive(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Module()
            convs = iter(net.convs)
            for stage, count in enumerate(STAGE_CONVS):
                for i in range(count):
                    conv = next(convs)
                    layer = torch.nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1)
                    layer.load_state_dict(conv.state_dict())
                    self.layers.add_module(f"conv{stage + 1}_{i + 1}", layer)
            self.fc6 = torch.nn.Linear(net.widths[-1] * 4, 32)
            self.fc7 = torch.nn.Linear(32, 32)
            self.fc8 = torch.nn.Linear(32, 10)
            for k in range(len(net.widths)):
                self.register_parameter(f"lpips{k}", torch.nn.Parameter(
                    getattr(net, f"lin{k}").clone()[None, :, None, None]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("the archive's program was run")

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(Archive()).save(str(path))
    return path


E4E_WIDTHS = (16, 16, 32, 32)


def write_e4e_checkpoint(path: Path, num_ws: int, w_dim: int, seed: int = 0, opts_namespace: bool = False):
    """An e4e checkpoint in the released layout ({'state_dict': encoder.* + decoder.*, 'latent_avg', 'opts'})
    with a small Encoder4Editing; returns (net, latent_avg)."""
    import argparse

    from soundclip_core.invert import Encoder4Editing

    torch.manual_seed(seed)
    net = randomize_batch_norms(Encoder4Editing(E4E_WIDTHS, num_ws, w_dim), seed).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(0.1, 0.4)
    latent_avg = torch.randn(w_dim).repeat(num_ws, 1)
    state = {f"encoder.{k}": v for k, v in net.state_dict().items()}
    state["decoder.style.1.weight"] = torch.zeros(w_dim, w_dim)  # the generator e4e was trained with
    opts = {"encoder_type": "Encoder4Editing", "stylegan_size": 2 ** ((num_ws + 2) // 2),
            "start_from_latent_avg": True, "progressive_steps": [0, 2000], "checkpoint_path": None, "lr": 1e-4}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "latent_avg": latent_avg,
                "opts": argparse.Namespace(**opts) if opts_namespace else opts}, path)
    return net, latent_avg


def write_inversion_models(models: Path) -> None:
    """The perceptual files (torchvision layout + LPIPS weights, and the NVIDIA-style archive)."""
    net = tiny_vgg()
    write_torchvision_vgg(net, models / "perceptual" / "vgg16-397923af.pth")
    write_lpips_weights(net, models / "perceptual" / "vgg.pth")
    write_nvidia_vgg_archive(net, models / "perceptual" / "vgg16.pt")


STYLEGAN3_FILES = ("stylegan3-t-afhqv2-512x512.pkl",)


def write_stylegan3_models(models: Path) -> None:
    """Tiny StyleGAN3-T pickles, written as NVIDIA's code writes them, under the real file names."""
    from stylegan3_formats import save_nvidia_sg3_pickle, tiny_sg3

    for name in STYLEGAN3_FILES:
        save_nvidia_sg3_pickle(tiny_sg3("stylegan3-t", resolution=32), models / "stylegan2" / name)
