"""`soundclip manipulate`: edit a StyleGAN image with a sound (and/or text), as in the paper, or instantly
(`--instant`: a StyleSpace direction through a table, or its one-target estimate; no optimisation)."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..audio import load_audio
from ..clip import load_clip
from ..directions import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    Direction,
    apply_direction,
    decode_styles,
    estimate_direction,
    find_cached_table,
    load_styleclip_table,
    load_table,
    save_styles,
    table_direction,
    text_direction,
)
from ..directions.estimate import IMAGES as ESTIMATE_IMAGES
from ..embedding import Embedding, combine
from ..encoders import load_audio_encoder
from ..errors import CheckpointError, SoundClipError
from ..generators import load_generator
from ..generators.labels import label_for
from ..image import IMAGE_FORMATS, save_image
from ..invert import load_perceptual
from ..latents import png_text, read_latent, save_latent
from ..manipulate import MASK_MODES, PRESETS, Region, composite, feathered, optimize
from ..manipulate.region import FEATHER
from ..noise_maps import synthesize
from ..picture import fit_mask, load_image, load_mask
from ..runtime import PRECISIONS, pick_device
from .invert import add_align_args, add_inversion_args, aligned_photo, inversion_requests, pasted, start_latent
from .models import clip_request, model_files
from .options import CLIP_ARCHS, add_device_arg
from .outputs import check_output
from .progress import step_bar


def register(subparsers) -> None:
    p = subparsers.add_parser("manipulate", help="optimise a W+ latent toward a sound and/or text")
    p.add_argument("--audio", help="sound file (wav, flac, ogg, mp3)")
    p.add_argument("--text", help="text prompt (mixed with the sound when both are given)")
    p.add_argument("--audio-weight", type=float, default=1.0, help="weight of the sound in the mixed target")
    p.add_argument("--text-weight", type=float, default=1.0, help="weight of the text in the mixed target")
    p.add_argument("--generator", required=True, help="StyleGAN file or known id (e.g. landscape-256)")
    p.add_argument("--encoder", help="audio encoder file or known id (e.g. soundclip-resnet18); needed with --audio")
    p.add_argument("--clip", required=True, help="CLIP weights file or known id (e.g. clip-vit-b-32, clip-rn50); "
                                                 "an AudioCLIP checkpoint or id gives its own RN50 towers")
    p.add_argument("--clip-arch", choices=CLIP_ARCHS,
                   help="the architecture the weights must be (default: read off the weights)")
    p.add_argument("--arcface", help="ArcFace IR-SE50 file or id, for the identity loss (faces)")
    p.add_argument("--preset", choices=list(PRESETS), default="landscape",
                   help="the paper's loss weights for this kind of image")
    p.add_argument("--steps", type=int, default=300, help="optimisation steps")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (warm-up and cosine ramp-down)")
    p.add_argument("--lam-sim", type=float, help="weight of staying close to the source latent (default: the "
                                                 "preset's)")
    p.add_argument("--lam-id", type=float, help="weight of the identity loss with --arcface (default: the preset's)")
    p.add_argument("--mask", choices=MASK_MODES, default="learned",
                   help="each W+ layer's weight in the closeness term: learned (adaptive, bounded: no layer loses "
                        "more than half its weight), official (the official code's update, unbounded), fixed, or "
                        "freeze all but --layers")
    p.add_argument("--layers", help="with --mask freeze: the layers that may change, e.g. 0-8; with --instant: the "
                                    "W+ layers the direction may touch (default: every layer its table covers)")
    p.add_argument("--seed", type=int, default=0, help="the source image's seed (without --latent or --image)")
    p.add_argument("--truncation", type=float, default=0.7, help="truncation psi of the seed's latent (1: none)")
    p.add_argument("--label", default="", help="class-conditional generators: class indices ('3', '3,7') or, for "
                                               "WikiArt, e.g. 'genre=landscape, style=impressionism'")
    p.add_argument("--latent", help="start from this saved latent (.safetensors, or a PNG with one embedded) "
                                    "instead of the seed")
    p.add_argument("--image", type=Path, help="start from this photo: it is inverted into the generator first")
    add_inversion_args(p, steps_flag="--invert-steps")
    add_align_args(p)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="arithmetic of the generator and CLIP")
    p.add_argument("--clip-input", choices=["area", "official"], default="area",
                   help="how the image is resized for CLIP: area-averaged, or the official code's upsample+pool")
    add_device_arg(p)
    p.add_argument("--out", required=True, type=Path,
                   help=f"the edited image ({', '.join(IMAGE_FORMATS)}); its W+ latent goes beside it as "
                        ".safetensors, and inside it too when it is a PNG")
    p.add_argument("--side-by-side", action="store_true", help="write the source and the edit side by side")
    p.add_argument("--region-mask", type=Path,
                   help="a picture mask, white = may change: outside it the edit is held at the source (pixels, and "
                        "VGG-LPIPS features when --image loads VGG). Drawn on --image: it follows the photo "
                        "(cropped or padded as --fit, or warped with the face for --align face); otherwise any size, "
                        "centre-cropped and resized to the generator's; an all-black mask is refused")
    p.add_argument("--feather", type=float, default=FEATHER, help="with --region-mask: the soft edge inside the mask, "
                                                                  "in generator pixels")
    p.add_argument("--composite", action="store_true",
                   help="with --region-mask: paste the source's pixels back outside the mask (exact outside; the "
                        "saved latent stays the edit's)")
    instant = p.add_argument_group("instant edits (--instant)")
    instant.add_argument("--instant", action="store_true",
                         help="no optimisation: move the StyleSpace channels the target's direction selects; writes "
                              "the edit and its styles (<out>.styles.safetensors)")
    instant.add_argument("--table", help="a table from `soundclip table` (or StyleCLIP's fs3.npy, for the generator "
                                         "it was made for); without it, a table of this generator and CLIP in the "
                                         "cache, else the direction is estimated from a few sample images "
                                         "(seconds, a first try)")
    instant.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                         help="strength: 0 gives the source back, negative goes the other way (StyleCLIP: -10..10; "
                              "beyond +-100 it is clamped)")
    instant.add_argument("--beta", type=float, default=DEFAULT_BETA,
                         help="only channels whose relevance reaches beta move (StyleCLIP: 0.08-0.3)")
    instant.add_argument("--neutral", default="a photo",
                         help="what the image is now: a text, or a sound file (encoded with --encoder); the edit "
                              "goes from it to the target")
    instant.add_argument("--estimate-images", type=int, default=ESTIMATE_IMAGES,
                         help="without --table: sample images the direction is estimated from")
    p.set_defaults(func=run)


def check_image_outputs(out: Path) -> tuple[Path, Path]:
    """(image, latent beside it) once both are known writable: an image the extension names and its latent."""
    image = check_output(out, IMAGE_FORMATS, "edit.png")
    return image, check_output(image.with_suffix(".safetensors"), {".safetensors"}, "edit.safetensors")


def mask_on_photo(mask: torch.Tensor, photo: torch.Tensor, path: Path) -> torch.Tensor:
    """The region mask [1, 1, h, w] at the photo's size [.., H, W]: one drawn on a copy at another scale is resized;
    one of another shape cannot be placed on the photo and is refused (before any model loads)."""
    (h, w), (height, width) = mask.shape[-2:], photo.shape[-2:]
    if (h, w) == (height, width):
        return mask
    if abs(w / h - width / height) > 0.01 * width / height:
        raise SoundClipError(f"the region mask is {w}x{h} and the photo {width}x{height}: it cannot be placed on it",
                             path=path, fix="draw the mask on the photo itself (or a copy of the same shape)")
    return F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False,
                         antialias=h > height).clamp(0, 1)


def square_mask(mask: torch.Tensor, face, fit: str, resolution: int) -> torch.Tensor:
    """A mask drawn on the photo [1, 1, H, W] -> over the square that is edited [1, 1, resolution, resolution]: warped
    with the face's transform for --align face, else cropped or padded as --fit made the photo square."""
    if face is not None:
        from ..faces import align_mask

        return align_mask(mask, face.transform, resolution)
    return fit_mask(mask, resolution, fit)


def wrote_image(image: Path, latent: Path, what: str = "") -> str:
    """The line that says what was written, and where the latent is (a PNG carries it, JPEG and WebP do not)."""
    inside = "latent embedded" if image.suffix.lower() == ".png" else "the latent is only in the .safetensors"
    return f"wrote {image}{what} ({inside}) and {latent}"


def run(args: argparse.Namespace) -> int:
    if not args.audio and not args.text:
        raise SoundClipError("nothing to edit toward", fix="give --audio and/or --text")
    if args.image and args.latent:
        raise SoundClipError("--image and --latent both give the starting point", fix="give one of them")
    neutral_sound = args.instant and Path(args.neutral).expanduser().is_file()
    if (args.audio or neutral_sound) and not args.encoder:
        what = "--audio" if args.audio else "a --neutral sound"
        raise SoundClipError(f"{what} needs an audio encoder", fix="add --encoder (e.g. soundclip-resnet18)")
    if args.composite and not args.region_mask:
        raise SoundClipError("--composite pastes through a mask", fix="add --region-mask MASK.png")
    # everything the user named is checked before any model loads: outputs, inputs, then every model together
    image_path, latent_path = check_image_outputs(args.out)
    if args.instant:
        styles_file = check_output(styles_path(image_path), {".safetensors"}, "edit.styles.safetensors")
        if args.table and not Path(args.table).is_file():
            raise CheckpointError("no table here", path=args.table, fix="make one with `soundclip table`, or leave "
                                                                         "--table out for an estimate")
        check_instant_numbers(args)
    source = read_latent(args.latent) if args.latent else None
    original = load_image(args.image) if args.image else None
    photo, face = aligned_photo(args, original)
    audio = load_audio(args.audio) if args.audio else None
    region_mask = load_mask(args.region_mask)[None] if args.region_mask else None
    if region_mask is not None and original is not None:
        region_mask = mask_on_photo(region_mask, original, args.region_mask)
    neutral_audio = load_audio(Path(args.neutral).expanduser()) if neutral_sound else None
    files = model_files({"generator": (args.generator, "stylegan2"), "clip": clip_request(args.clip),
                         "encoder": (args.encoder, "audio_encoder") if audio or neutral_audio else None,
                         "arcface": (args.arcface, "arcface") if args.arcface else None,
                         **inversion_requests(args, photo=photo is not None)})
    device = pick_device(args.device)
    generator = load_generator(files["generator"], device)
    if region_mask is not None and original is not None:  # the edited square is the photo cropped, padded or aligned
        region_mask = square_mask(region_mask, face, args.fit, generator.resolution)
    allowed = None if region_mask is None else feathered(region_mask, generator.resolution, args.feather,
                                                         f"mask {args.region_mask}")
    # a conditional generator's seed needs a label; a saved latent remembers the one it was made with
    label_text = args.label or (source.meta.get("label", "") if source is not None and generator.c_dim else "")
    seeded = source is None and photo is None
    label = label_for(generator, label_text, source="--label") if seeded or label_text else None  # checked early
    clip = load_clip(args.clip_arch, files["clip"], device)  # arch None: read off the weights
    targets = []
    encoder = load_audio_encoder(files["encoder"], device=device) if files["encoder"] is not None else None
    if audio is not None:
        targets.append((encoder.encode(audio), args.audio_weight))
    if args.text:
        targets.append((clip.encode_text([args.text]), args.text_weight))
    identity = None
    if files["arcface"] is not None:
        from ..arcface import load_arcface

        identity = load_arcface(files["arcface"], device)
    direction = None
    if args.instant:  # the table checked and the direction made before an inversion's hundreds of steps
        neutral = encoder.encode(neutral_audio) if neutral_audio is not None else clip.encode_text([args.neutral])
        direction = instant_direction(args, generator, clip, combine(targets), neutral)
    w_source, noise = start_latent(args, files, generator, source, photo, device, label)
    if direction is not None:
        return run_instant(args, generator, direction, w_source.to(device), noise, image_path, styles_file,
                           label_text if label is not None else None, allowed, face)
    region = None
    if allowed is not None:  # VGG is at hand when a photo was inverted: its features hold the outside too
        perceptual = load_perceptual(files["vgg"], files["lpips"], device) if files["vgg"] is not None else None
        region = Region(allowed.to(device), perceptual=perceptual)
    bar, callback = step_bar(args.steps, "optimising")
    try:
        result = optimize(generator, clip, targets, w_source.to(device), preset=args.preset, steps=args.steps,
                          lr=args.lr, lam_sim=args.lam_sim, lam_id=args.lam_id, mask=args.mask, layers=args.layers,
                          identity=identity, clip_input=args.clip_input, precision=args.precision, seed=args.seed,
                          callback=callback, noise=noise, region=region)
    finally:
        bar.close()
    with torch.no_grad():
        images = synthesize(generator, result.w, result.noise)
        if args.side_by_side or args.composite:
            source_images = synthesize(generator, w_source.to(device), result.noise)
        if args.composite:
            images = composite(images, source_images, allowed)
        images = pasted(args, images, face)
        if args.side_by_side:
            source_images = pasted(args, source_images, face)
            images = torch.cat([source_images, images], dim=-1)
    meta = {"generator": generator.source, "settings": result.settings,
            **({"label": label_text} if label is not None else {}),
            **({"face_transform": face.transform.to_json()} if face is not None else {})}
    save_image(images, image_path, text=png_text(result.w, meta, result.noise))
    save_latent(latent_path, result.w, meta, result.noise)
    print(result.report())
    print(wrote_image(image_path, latent_path, " (source | edit)" if args.side_by_side else ""))
    return 0


def styles_path(image: Path) -> Path:
    """Where an instant edit's styles go: beside the image, `<stem>.styles.safetensors`."""
    return image.with_name(f"{image.stem}.styles.safetensors")


def check_instant_numbers(args: argparse.Namespace) -> None:
    """--instant's numbers, refused before anything loads: beta a threshold >= 0, alpha a number, at least one
    estimate image."""
    if math.isnan(args.beta) or args.beta < 0:
        raise SoundClipError(f"--beta {args.beta:g} is not a relevance threshold",
                             fix="use a beta of 0 or more (StyleCLIP: 0.08-0.3)")
    if math.isnan(args.alpha):
        raise SoundClipError("--alpha is NaN", fix="use alpha between -10 and 10 (StyleCLIP's range)")
    if args.estimate_images < 1:
        raise SoundClipError(f"--estimate-images {args.estimate_images} leaves nothing to estimate from",
                             fix=f"use at least 1 (default {ESTIMATE_IMAGES})")


def instant_direction(args: argparse.Namespace, generator, clip, target: Embedding, neutral: Embedding) -> Direction:
    """--instant's direction: through --table (checked against the generator and CLIP), a cached table, or
    estimated; its beta checked (an error naming the beta that would move a channel)."""
    delta = text_direction(target, neutral)
    if not args.table:
        table = find_cached_table(generator, clip.space)
        if table is not None:
            print(f"using the cached {table.method} table ({table.images} images) of this generator and CLIP")
    elif Path(args.table).suffix.lower() == ".npy":
        table = load_styleclip_table(args.table, generator)
    else:
        table = load_table(args.table, generator, clip.space)
    if table is not None:
        direction = table_direction(table, delta)
    else:
        bar = tqdm(total=args.estimate_images, desc="estimating the direction", unit="item")

        def progress(done: int, total: int) -> None:  # the statistics' samples (once), then the images
            bar.total, bar.n = total, done
            bar.refresh()

        try:
            direction = estimate_direction(generator, clip, delta, images=args.estimate_images, progress=progress)
        finally:
            bar.close()
    direction.relevance(args.beta)  # a beta above every channel's relevance: said now, not after the inversion
    return direction


def run_instant(args: argparse.Namespace, generator, direction: Direction, w_source, noise, image_path: Path,
                styles_file: Path, label_text: str | None, allowed=None, face=None) -> int:
    """--instant: `direction` (`instant_direction`) applied at --alpha/--beta/--layers to the source's styles,
    decoded; the image and the styles written. With --region-mask (`allowed`) the edit is pasted over the source
    through the mask (there is no optimisation to hold the outside: the composite does); with --align face it
    goes back into the photo."""
    start = time.perf_counter()  # the instant edit itself: apply, decode
    with torch.no_grad():
        source = generator.styles(w_source)
        edited = apply_direction(generator, source, direction, args.alpha, args.beta, args.layers)
        images = decode_styles(generator, edited, noise)
        source_images = decode_styles(generator, source, noise) if args.side_by_side or allowed is not None else None
        if allowed is not None:
            images = composite(images, source_images, allowed.to(images.device))
        images = pasted(args, images, face)
        if args.side_by_side:
            images = torch.cat([pasted(args, source_images, face), images], dim=-1)
    seconds = time.perf_counter() - start
    meta = {"generator": generator.source, "alpha": args.alpha, "beta": args.beta, "layers": args.layers or "",
            "direction": direction.method, "target": direction.source,
            **({"label": label_text} if label_text is not None else {}),
            **({"face_transform": face.transform.to_json()} if face is not None else {})}
    save_image(images, image_path)
    save_styles(styles_file, edited, meta)
    print(f"instant edit in {seconds:.2f} s: {direction.describe(args.beta)}")
    print(f"wrote {image_path}{' (source | edit)' if args.side_by_side else ''} and {styles_file}")
    return 0
