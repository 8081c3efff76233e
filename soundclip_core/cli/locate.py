"""`soundclip locate IMAGE --audio SOUND ...`: where in a picture a sound (or text) is, as a heatmap and a mask."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..audio import load_audio
from ..clip import load_clip
from ..embedding import Embedding, combine
from ..encoders import load_audio_encoder
from ..errors import SoundClipError
from ..image import IMAGE_FORMATS, save_image, save_mask
from ..locate import locate, overlay
from ..picture import load_image
from ..runtime import pick_device
from .models import clip_request, model_files
from .options import CLIP_ARCHS, add_device_arg
from .outputs import check_output


def add_query_args(p: argparse.ArgumentParser, what: str) -> None:
    """--audio/--text (mixed when both), the encoder and the CLIP they are embedded with."""
    p.add_argument("--audio", help=f"the sound to {what} (wav, flac, ogg, mp3)")
    p.add_argument("--text", help="a text, instead of or mixed with the sound")
    p.add_argument("--encoder", help="audio encoder file or known id (e.g. soundclip-resnet18); needed with --audio")
    p.add_argument("--clip", required=True, help="CLIP weights file or known id of the encoder's space (e.g. "
                                                 "clip-vit-b-32; an AudioCLIP checkpoint gives its RN50 towers)")
    p.add_argument("--clip-arch", choices=CLIP_ARCHS, help="the architecture the weights must be (default: read off "
                                                           "the weights)")


def check_query_args(args: argparse.Namespace) -> None:
    if not args.audio and not args.text:
        raise SoundClipError("nothing to look for", fix="give --audio and/or --text")
    if args.audio and not args.encoder:
        raise SoundClipError("--audio needs an audio encoder", fix="add --encoder (e.g. soundclip-resnet18)")


def query_embedding(args: argparse.Namespace, audio, encoder, clip) -> Embedding:
    """The sound's embedding, the text's, or both mixed with equal weights."""
    parts = [(encoder.encode(audio), 1.0)] if audio is not None else []
    if args.text:
        parts.append((clip.encode_text([args.text]), 1.0))
    return parts[0][0] if len(parts) == 1 else combine(parts)


def register(subparsers) -> None:
    p = subparsers.add_parser("locate", help="where in a picture a sound (or text) is: heatmap and mask")
    p.add_argument("image", type=Path, help="the picture (any size)")
    add_query_args(p, "look for")
    p.add_argument("--threshold", type=float, default=0.5, help="the mask is where the heatmap (0 = this picture's "
                                                                "worst region, 1 = its best) reaches this")
    p.add_argument("--detail", type=int, default=1, help="CLIP inputs across the picture's short side (more: a "
                                                         "finer map, one tower pass per tile)")
    p.add_argument("--opacity", type=float, default=0.5, help="of the heatmap drawn over the picture")
    add_device_arg(p)
    p.add_argument("--out", required=True, type=Path, help=f"the heatmap over the picture ({', '.join(IMAGE_FORMATS)})")
    p.add_argument("--mask-out", type=Path, help="the mask as a greyscale PNG (white = the sound is here), e.g. for "
                                                 "manipulate --region-mask")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_query_args(args)
    out = check_output(args.out, IMAGE_FORMATS, "heat.png")
    mask_out = check_output(args.mask_out, {".png"}, "mask.png") if args.mask_out else None
    picture = load_image(args.image)
    audio = load_audio(args.audio) if args.audio else None
    files = model_files({"clip": clip_request(args.clip),
                         "encoder": (args.encoder, "audio_encoder") if args.audio else None})
    device = pick_device(args.device)
    clip = load_clip(args.clip_arch, files["clip"], device)
    encoder = load_audio_encoder(files["encoder"], device=device) if audio is not None else None
    found = locate(picture, query_embedding(args, audio, encoder, clip), clip, args.threshold, args.detail)
    save_image(overlay(picture, found.heatmap, args.opacity), out)
    print(f"cosine {float(found.cosine.min()):+.4f} .. {float(found.cosine.max()):+.4f}; mask covers "
          f"{100 * float(found.mask.mean()):.1f}% of the picture; wrote {out}")
    if mask_out is not None:
        save_mask(found.mask, mask_out)
        print(f"wrote {mask_out}")
    return 0
