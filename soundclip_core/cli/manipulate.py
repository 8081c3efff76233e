"""`soundclip manipulate`: edit a StyleGAN2 image with a sound (and/or text), as in the paper."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..audio import load_audio
from ..clip import load_clip
from ..encoders import load_audio_encoder
from ..errors import WeightsError
from ..generators import load_generator
from ..generators.labels import label_for
from ..image import save_png
from ..invert import load_image
from ..latents import png_text, read_latent, save_latent
from ..manipulate import MASK_MODES, PRESETS, optimize
from ..noise_maps import synthesize
from ..runtime import pick_device
from ..weights import ensure, find_entry
from .invert import add_inversion_args, start_latent
from .progress import step_bar


def register(subparsers) -> None:
    p = subparsers.add_parser("manipulate", help="optimise a W+ latent toward a sound and/or text")
    p.add_argument("--audio", help="sound file (wav, flac, ogg, mp3)")
    p.add_argument("--text", help="text prompt (mixed with the sound when both are given)")
    p.add_argument("--audio-weight", type=float, default=1.0)
    p.add_argument("--text-weight", type=float, default=1.0)
    p.add_argument("--generator", required=True, help="StyleGAN2 file or known id (e.g. landscape-256)")
    p.add_argument("--encoder", help="audio encoder file or known id (e.g. soundclip-resnet18)")
    p.add_argument("--clip", required=True, help="CLIP weights file or known id (e.g. clip-vit-b-32, clip-rn50); "
                                                 "an AudioCLIP checkpoint or id gives its own RN50 towers")
    p.add_argument("--clip-arch", choices=["ViT-B-32", "RN50"],
                   help="the architecture the weights must be (default: read off the weights)")
    p.add_argument("--arcface", help="ArcFace IR-SE50 file or id, for the identity loss (faces)")
    p.add_argument("--preset", choices=list(PRESETS), default="landscape")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--lam-sim", type=float)
    p.add_argument("--lam-id", type=float)
    p.add_argument("--mask", choices=MASK_MODES, default="learned")
    p.add_argument("--layers", help="with --mask freeze: the layers that may change, e.g. 0-8")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=0.7)
    p.add_argument("--label", default="", help="class-conditional generators: class indices ('3', '3,7') or, for "
                                               "WikiArt, e.g. 'genre=landscape, style=impressionism'")
    p.add_argument("--latent", help="start from this saved latent (.safetensors, or a PNG with one embedded) "
                                    "instead of the seed")
    p.add_argument("--image", type=Path, help="start from this photo: it is inverted into the generator first")
    add_inversion_args(p, steps_flag="--invert-steps")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--clip-input", choices=["area", "official"], default="area")
    p.add_argument("--device")
    p.add_argument("--out", required=True, type=Path, help="output image (.png); the latent goes beside it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.audio and not args.text:
        raise SystemExit("soundclip manipulate: give --audio and/or --text")
    if args.image and args.latent:
        raise SystemExit("soundclip manipulate: give --image or --latent, not both")
    source = read_latent(args.latent) if args.latent else None  # bad sources are refused before models load
    photo = load_image(args.image) if args.image else None
    device = pick_device(args.device)
    generator = load_generator(ensure(args.generator, kind="stylegan2"), device)
    # a conditional generator's seed needs a label; a saved latent remembers the one it was made with
    label_text = args.label or (source.meta.get("label", "") if source is not None and generator.c_dim else "")
    seeded = source is None and photo is None
    label = label_for(generator, label_text, source="--label") if seeded or label_text else None  # checked early
    encoder = None
    if args.audio:
        if not args.encoder:
            raise SystemExit("soundclip manipulate: --audio needs --encoder")
        encoder = load_audio_encoder(ensure(args.encoder, kind="audio_encoder"), device=device)
    clip = load_clip(args.clip_arch, clip_file(args.clip), device)  # arch None: read off the weights
    targets = []
    if encoder is not None:
        targets.append((encoder.encode(load_audio(args.audio)), args.audio_weight))
    if args.text:
        targets.append((clip.encode_text([args.text]), args.text_weight))
    identity = None
    if args.arcface:
        from ..arcface import load_arcface

        identity = load_arcface(ensure(args.arcface, kind="arcface"), device)
    w_source, noise = start_latent(args, generator, source, photo, device, label)
    bar, callback = step_bar(args.steps, "optimising")
    try:
        result = optimize(generator, clip, targets, w_source.to(device), preset=args.preset, steps=args.steps,
                          lr=args.lr, lam_sim=args.lam_sim, lam_id=args.lam_id, mask=args.mask, layers=args.layers,
                          identity=identity, clip_input=args.clip_input, precision=args.precision, seed=args.seed,
                          callback=callback, noise=noise)
    finally:
        bar.close()
    with torch.no_grad():
        images = torch.cat([synthesize(generator, w_source.to(device), result.noise),
                            synthesize(generator, result.w, result.noise)], dim=-1)
    meta = {"generator": generator.source, "settings": result.settings,
            **({"label": label_text} if label is not None else {})}
    save_png(images, args.out, text=png_text(result.w, meta, result.noise))
    latent_path = save_latent(args.out.with_suffix(".safetensors"), result.w, meta, result.noise)
    print(result.report())
    print(f"wrote {args.out} (source | result) and {latent_path}")
    return 0


def clip_file(model: str) -> Path:
    """A CLIP file or id; AudioCLIP ids are accepted too (their checkpoints hold CLIP RN50 towers)."""
    try:
        if find_entry(model).format == "audioclip-pt":
            return ensure(model, kind="audio_encoder")
    except WeightsError:
        pass  # a path, or an unknown id: `ensure` below says which
    return ensure(model, kind="clip")
