"""`soundclip mix A B --layers SPEC`: style-mix two saved latents and render the result."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..generators import load_generator
from ..generators.labels import label_for
from ..image import save_png
from ..latents import png_text, read_latent, save_latent
from ..manipulate import default_mix_layers, style_mix
from ..noise_maps import check_noise, synthesize
from ..weights import ensure


def register(subparsers) -> None:
    p = subparsers.add_parser("mix", help="take some W+ layers from latent A, the rest from B")
    p.add_argument("latent_a", help="e.g. the sound-guided latent (.safetensors)")
    p.add_argument("latent_b", help="e.g. the text-guided latent (.safetensors)")
    p.add_argument("--layers", help="layers from A, e.g. 0-8 (default: the coarse half, as in the paper)")
    p.add_argument("--generator", required=True)
    p.add_argument("--label", default="", help="class-conditional generators: the label the latents were made "
                                               "with (default: the one saved in latent A)")
    p.add_argument("--device")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    a, b = read_latent(args.latent_a), read_latent(args.latent_b)
    w_a, w_b, meta = a.ws, b.ws, a.meta
    generator = load_generator(ensure(args.generator, kind="stylegan2"), args.device)
    label_text = args.label or (meta.get("label", "") if generator.c_dim else "")
    label = label_for(generator, label_text, source="--label")
    mixed = style_mix(w_a, w_b, args.layers or default_mix_layers(w_a.shape[1]))
    noise = check_noise(generator, a.noise)  # noise maps (of an inverted photo) follow latent A, as in the node
    with torch.no_grad():
        images = synthesize(generator, mixed.to(generator.w_avg.device), noise)
    meta = {"mixed_from": [args.latent_a, args.latent_b], **({"label": label_text} if label is not None else {})}
    save_png(images, args.out, text=png_text(mixed, meta, noise))
    save_latent(args.out.with_suffix(".safetensors"), mixed, meta, noise)
    print(f"wrote {args.out}")
    return 0
