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
from stylegan_formats import save_nvidia_pickle, tiny_generator

from soundclip_core.arcface import build_arcface
from soundclip_core.clip import ClipModel, save_clip, tiny_clip
from soundclip_core.encoders import AudioEncoder, build_audio_encoder
from soundclip_core.stylegan2 import save_generator

GENERATOR_FILES = ("landscape.pt", "wikiart.pt", "stylegan2-ffhq-config-f.pt")
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
    if with_arcface:
        torch.save(build_arcface(device="cpu").model.state_dict(), models / "arcface" / "model_ir_se50.pth")
    write_stylegan3_models(models)


STYLEGAN3_FILES = ("stylegan3-t-afhqv2-512x512.pkl",)


def write_stylegan3_models(models: Path) -> None:
    """Tiny StyleGAN3-T pickles, written as NVIDIA's code writes them, under the real file names."""
    from stylegan3_formats import save_nvidia_sg3_pickle, tiny_sg3

    for name in STYLEGAN3_FILES:
        save_nvidia_sg3_pickle(tiny_sg3("stylegan3-t", resolution=32), models / "stylegan2" / name)
