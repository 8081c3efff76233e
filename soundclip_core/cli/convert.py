"""`soundclip convert IN OUT.safetensors`: any supported generator file to our safetensors export."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..generators import load_generator, save_generator
from .models import model_files
from .outputs import check_output


def register(subparsers) -> None:
    parser = subparsers.add_parser("convert", help="convert a StyleGAN2/StyleGAN3 checkpoint to .safetensors")
    parser.add_argument("source", help="rosinality .pt, NVIDIA .pkl or soundclip .safetensors (or a known id)")
    parser.add_argument("target", type=Path, help="output .safetensors path")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    target = check_output(args.target, {".safetensors"}, "generator.safetensors")
    generator = load_generator(model_files({"source": (args.source, "stylegan2")})["source"], device="cpu")
    save_generator(generator, target)
    print(f"wrote {args.target}: {generator.kind}, {generator.resolution} px, {generator.num_ws} W+ layers")
    return 0
