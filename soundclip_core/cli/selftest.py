"""`soundclip selftest`: the whole pipeline on tiny random models, offline, in seconds."""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import soundfile
import torch

from ..audio import load_audio
from ..clip import tiny_clip
from ..encoders import build_audio_encoder
from ..generators import load_generator, save_generator
from ..generators.stylegan2 import Generator, GeneratorConfig
from ..image import save_png
from ..manipulate import optimize, style_mix


def register(subparsers) -> None:
    p = subparsers.add_parser("selftest", help="check this installation on tiny random models (offline)")
    p.add_argument("--steps", type=int, default=20)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        save_generator(Generator(GeneratorConfig(resolution=32, z_dim=64, w_dim=64, mapping_layers=2,
                                                 channels=[64, 64, 32, 32])), folder / "tiny.safetensors")
        generator = load_generator(folder / "tiny.safetensors", device="cpu")
        clip = tiny_clip(device="cpu")
        encoder = build_audio_encoder("soundclip", embed_dim=clip.dim, space=clip.space, device="cpu")
        t = torch.arange(44100 * 2) / 44100
        soundfile.write(folder / "chirp.wav", (0.3 * torch.sin(2 * math.pi * (200 + 300 * t) * t)).numpy(), 44100)
        sound = encoder.encode(load_audio(folder / "chirp.wav"))
        w_source = generator.ws_from_seed(0)
        result = optimize(generator, clip, sound, w_source, preset="landscape", steps=args.steps, lr=0.05)
        text = optimize(generator, clip, clip.encode_text(["a red sunset"]), w_source, steps=2)
        mixed = style_mix(result.w, text.w, "0-3")
        save_png(generator.synthesis(mixed), folder / "mixed.png")
    first, last = float(result.loss_history[0]), float(result.loss_history[-1])
    ok = last < first and float(result.final_similarity) > float(result.source_similarity)
    print(f"soundclip selftest: {'OK' if ok else 'FAILED'} in {time.perf_counter() - started:.1f} s — "
          f"loss {first:.4f} -> {last:.4f}, similarity {float(result.source_similarity):.4f} -> "
          f"{float(result.final_similarity):.4f}")
    return 0 if ok else 1
