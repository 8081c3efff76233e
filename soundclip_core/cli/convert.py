"""`soundclip convert IN OUT.safetensors`: any supported generator file to our safetensors export."""

from __future__ import annotations

import argparse

from ..generators import load_generator, save_generator


def register(subparsers) -> None:
    parser = subparsers.add_parser("convert", help="convert a StyleGAN2/StyleGAN3 checkpoint to .safetensors")
    parser.add_argument("source", help="rosinality .pt, NVIDIA .pkl or soundclip .safetensors")
    parser.add_argument("target", help="output .safetensors path")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    generator = load_generator(args.source, device="cpu")
    save_generator(generator, args.target)
    print(f"wrote {args.target}: {generator.kind}, {generator.resolution} px, {generator.num_ws} W+ layers")
    return 0
