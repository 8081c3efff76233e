"""`soundclip video`: a whole song -> an H.264 mp4 with the song, whose imagery follows what it hears."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..audio import load_audio
from ..clip import load_clip
from ..encoders import load_audio_encoder
from ..errors import SoundClipError
from ..generators import load_generator
from ..generators.labels import label_for
from ..latents import read_latent
from ..manipulate import MASK_MODES, PRESETS
from ..picture import load_image
from ..runtime import PRECISIONS, pick_device
from ..video import DEFAULT_HOP, DEFAULT_WINDOW, cut_windows, frame_rate, make_video
from ..video.frames import DECODE_BATCH
from .instant_video import add_instant_args, check_instant_args, run_instant
from .invert import add_inversion_args, inversion_requests, start_latent
from .models import clip_request, model_files
from .options import CLIP_ARCHS, add_device_arg
from .outputs import check_output
from .progress import PhaseBars

SONG_MAX_SECONDS = 4 * 3600.0  # songs are long: far above load_audio's 600 s default for single edits


def register(subparsers) -> None:
    p = subparsers.add_parser("video", help="turn a whole song into a video that follows the sound")
    p.add_argument("--audio", required=True, help="the song (wav, flac, ogg, mp3)")
    p.add_argument("--generator", required=True, help="StyleGAN file or known id")
    p.add_argument("--encoder", required=True, help="audio encoder file or known id")
    p.add_argument("--clip", required=True, help="CLIP weights file or known id (AudioCLIP ids give their towers)")
    p.add_argument("--clip-arch", choices=CLIP_ARCHS, help="the architecture the weights must be (default: read off "
                                                           "the weights)")
    p.add_argument("--fps", type=float, default=24.0, help="frames per second (1-120)")
    p.add_argument("--window", type=float, default=DEFAULT_WINDOW,
                   help="seconds of sound per keyframe (a shorter sound is one window)")
    p.add_argument("--hop", type=float, default=DEFAULT_HOP, help="seconds between keyframes")
    p.add_argument("--steps", type=int, default=300, help="optimisation steps (all keyframes at once)")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate")
    p.add_argument("--preset", choices=list(PRESETS), default="landscape",
                   help="the paper's loss weights for this kind of image")
    p.add_argument("--arcface", help="ArcFace IR-SE50 file or id, for the identity loss (faces, --preset ffhq)")
    p.add_argument("--mask", choices=MASK_MODES, default="learned", help="how each W+ layer's closeness is "
                                                                           "weighted (as in manipulate)")
    p.add_argument("--layers", help="with --mask freeze: the layers that may change, e.g. 0-8")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--seed", type=int, default=0, help="start every keyframe from this seed's latent")
    source.add_argument("--latent", help="start from this saved W+ latent (.safetensors, or a PNG with one) instead")
    source.add_argument("--image", type=Path, help="start from this photo: it is inverted into the generator first")
    add_inversion_args(p, steps_flag="--invert-steps")
    p.add_argument("--label", default="", help="class-conditional generators: class indices or names (see manipulate)")
    p.add_argument("--truncation", type=float, default=0.7, help="truncation psi of the seed's latent (1: none)")
    p.add_argument("--text", help="text mixed into every window's sound embedding")
    p.add_argument("--text-weight", type=float, default=0.5, help="weight of --text next to the sound's 1.0")
    p.add_argument("--pulse", type=float, default=0.0,
                   help="loudness pushes the image's features (0 = off; 0.3 is clearly visible)")
    p.add_argument("--motion", type=float, default=0.0,
                   help="onsets move the image along a loop (0 = off; 0.2 is clearly visible)")
    p.add_argument("--chunk", type=int, default=8, help="keyframes optimised at once (memory bound)")
    p.add_argument("--batch", type=int, default=DECODE_BATCH, help="frames decoded at once")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality (lower is better, 18 is visually lossless)")
    p.add_argument("--max-seconds", type=float, default=SONG_MAX_SECONDS, help="longest song accepted, in seconds")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="arithmetic of the generator and CLIP")
    add_device_arg(p)
    p.add_argument("--out", required=True, type=Path, help="output video (.mp4)")
    p.add_argument("--keyframes", type=Path, help="also write the keyframe latents [K, num_ws, w_dim] with their times "
                                                  "(.safetensors)")
    add_instant_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.chunk < 1 or args.batch < 1:
        raise SoundClipError("--chunk and --batch must be at least 1",
                             fix="give how many keyframes (--chunk) and frames (--batch) to compute at once, e.g. 8")
    # everything the user named is checked before any model loads: outputs, inputs, then every model together
    frame_rate(args.fps)
    check_instant_args(args)
    check_output(args.out, {".mp4"}, "song.mp4")  # the disk space is checked once the frame size is known
    if args.keyframes:
        check_output(args.keyframes, {".safetensors"}, "song.safetensors")
    audio = load_audio(args.audio, max_seconds=args.max_seconds)
    windows = cut_windows(audio, args.window, args.hop)
    if windows.note:
        print(f"soundclip: {windows.note}")
    source = read_latent(args.latent) if args.latent else None
    photo = load_image(args.image) if args.image else None
    files = model_files({"generator": (args.generator, "stylegan2"), "encoder": (args.encoder, "audio_encoder"),
                         "clip": clip_request(args.clip),
                         "arcface": (args.arcface, "arcface") if args.arcface else None,
                         **inversion_requests(args, photo=photo is not None)})
    device = pick_device(args.device)
    generator = load_generator(files["generator"], device)
    seeded = source is None and photo is None
    label = label_for(generator, args.label, source="--label") if seeded or args.label else None
    encoder = load_audio_encoder(files["encoder"], device=device)
    clip = load_clip(args.clip_arch, files["clip"], device)
    w_source, noise = start_latent(args, files, generator, source, photo, device, label)
    w_source = w_source[:1]  # every keyframe starts from one latent
    if args.mode == "instant":
        return run_instant(args, audio, generator, clip, encoder, w_source.to(device), noise)
    text = clip.encode_text([args.text]) if args.text else None
    identity = None
    if files["arcface"] is not None:
        from ..arcface import load_arcface

        identity = load_arcface(files["arcface"], device)
    bars = PhaseBars([("optimising keyframes", "step", args.steps), ("rendering frames", "frame", None)])
    try:
        keyframes, result = make_video(
            args.out, generator, clip, encoder, audio, w_source.to(device), fps=args.fps, window=args.window,
            hop=args.hop, steps=args.steps, text=text, text_weight=args.text_weight, pulse=args.pulse,
            motion=args.motion, batch_size=args.batch, crf=args.crf, keyframes_path=args.keyframes,
            progress=bars, preset=args.preset, lr=args.lr, mask=args.mask, layers=args.layers, seed=args.seed,
            precision=args.precision, chunk_size=args.chunk, identity=identity, noise=noise)
    finally:
        bars.close()
    print(result.report())
    print(f"wrote {args.out} ({len(keyframes.times)} keyframes, {audio.duration:.1f} s at {args.fps:g} fps)"
          + (f" and {args.keyframes}" if args.keyframes else ""))
    return 0
