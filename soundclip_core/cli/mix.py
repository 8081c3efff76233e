"""`soundclip mix A B --layers SPEC`: style-mix two saved latents and render the result."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..generators import load_generator
from ..generators.labels import label_for
from ..image import IMAGE_FORMATS, save_image
from ..latents import png_text, read_latent, save_latent
from ..manipulate import default_mix_layers, style_mix
from ..noise_maps import check_noise, synthesize
from .manipulate import check_image_outputs, wrote_image
from .models import model_files
from .options import add_device_arg


def register(subparsers) -> None:
    p = subparsers.add_parser("mix", help="take some W+ layers from latent A, the rest from B")
    p.add_argument("latent_a", help="e.g. the sound-guided latent (.safetensors, or a PNG with one embedded)")
    p.add_argument("latent_b", help="e.g. the text-guided latent (.safetensors, or a PNG with one embedded)")
    p.add_argument("--layers", help="layers from A, e.g. 0-8 (default: the coarse half, as in the paper)")
    p.add_argument("--generator", required=True, help="the StyleGAN file or known id the latents were made with")
    p.add_argument("--label", default="", help="class-conditional generators: the label the latents were made "
                                               "with (default: the one saved in latent A)")
    add_device_arg(p)
    p.add_argument("--out", required=True, type=Path,
                   help=f"the mixed image ({', '.join(IMAGE_FORMATS)}); its W+ latent goes beside it as "
                        ".safetensors, and inside it too when it is a PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    image_path, latent_path = check_image_outputs(args.out)
    a, b = read_latent(args.latent_a), read_latent(args.latent_b)
    w_a, w_b, meta = a.ws, b.ws, a.meta
    mixed = style_mix(w_a, w_b, args.layers or default_mix_layers(w_a.shape[1]))  # a bad --layers before loading
    generator = load_generator(model_files({"generator": (args.generator, "stylegan2")})["generator"], args.device)
    label_text = args.label or (meta.get("label", "") if generator.c_dim else "")
    label = label_for(generator, label_text, source="--label")
    noise = check_noise(generator, a.noise)  # noise maps (of an inverted photo) follow latent A, as in the node
    with torch.no_grad():
        images = synthesize(generator, mixed.to(generator.w_avg.device), noise)
    meta = {"mixed_from": [args.latent_a, args.latent_b], **({"label": label_text} if label is not None else {})}
    save_image(images, image_path, text=png_text(mixed, meta, noise))
    save_latent(latent_path, mixed, meta, noise)
    print(wrote_image(image_path, latent_path))
    return 0
