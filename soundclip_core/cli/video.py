"""`soundclip video`: a whole song -> an H.264 mp4 with the song, whose imagery follows what it hears."""

from __future__ import annotations

import argparse
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from ..analysis import assign_roles
from ..audio import load_audio
from ..clip import load_clip
from ..encoders import load_audio_encoder
from ..errors import SoundClipError
from ..generators import load_generator
from ..generators.labels import label_for
from ..latents import read_latent
from ..manipulate import MASK_MODES, PRESETS
from ..manipulate.region import FEATHER
from ..picture import load_image
from ..runtime import PRECISIONS, pick_device
from ..video import CUTS, DEFAULT_HOP, DEFAULT_WINDOW, MusicCut, MusicFrames, cut_windows, frame_rate, make_video
from ..video.cuts import DEFAULT_TRANSITION
from ..video.drives import BLEND_MODES, parse_envelope
from ..video.frames import DECODE_BATCH
from ..video.regions import DEFAULT_THRESHOLD, LocatedRegion
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
    add_music_args(p)
    add_region_args(p)
    p.set_defaults(func=run)


def add_region_args(p) -> None:
    """Each keyframe's edit confined to where the sound is (issue 27; soundclip_core/video/regions.py)."""
    where = p.add_argument_group("the edit where the sound is (keyframe mode)")
    where.add_argument("--region", default="", help="confine every keyframe's edit to where this text is in the "
                                                     "source image, e.g. 'the sky' (located by CLIP, no training)")
    where.add_argument("--region-audio", action="store_true",
                       help="confine each keyframe's edit to where its own window's sound is in the source image "
                            "(a mask per keyframe, following the song)")
    where.add_argument("--region-threshold", type=float, default=DEFAULT_THRESHOLD,
                       help="the part of each heatmap's range that is inside the region (0-1)")
    where.add_argument("--region-feather", type=float, default=FEATHER,
                       help="the soft edge inside the region, in generator pixels")


def located_region(args) -> LocatedRegion | None:
    """--region / --region-audio as a LocatedRegion, checked before any model loads (None without either)."""
    located = LocatedRegion(args.region, args.region_audio, args.region_threshold, args.region_feather)
    if not located.check():
        return None
    if args.mode == "instant":
        raise SoundClipError("--region and --region-audio confine the keyframes' optimisation",
                             fix="use them with --mode keyframes")
    return located


def add_music_args(p) -> None:
    """The music drives the video (issue 25; soundclip_core/video/music.py and drives.py)."""
    music = p.add_argument_group("the music drives the video")
    music.add_argument("--cut", choices=CUTS, default="fixed",
                       help="keyframe windows: fixed (--window/--hop), or cut on the song's beats, bars or sections "
                            "(no beats heard: fixed windows, with a note)")
    music.add_argument("--every", type=int, default=1, help="with --cut beats or bars: a keyframe every N of them")
    music.add_argument("--transition", type=float, default=DEFAULT_TRANSITION,
                       help="with a music cut: seconds around each boundary in which the image turns into the next "
                            "window's (each keyframe is held through its window; 0: glide between window centres)")
    music.add_argument("--section-texts", default="",
                       help="one text per song section, separated by ';' (e.g. 'at night; fireworks'), mixed into "
                            "each window's sound with --text-weight; fewer texts than sections cycle, extra ones "
                            "are unused")
    music.add_argument("--strength-curve", default="",
                       help="the edit's strength follows this analysis curve, e.g. rms, onset, onset_20-150Hz, "
                            "level_150-2000Hz, chroma_A (empty: full strength)")
    music.add_argument("--strength-envelope", default="",
                       help="its shaping, NAME=VALUE pairs: normalise (song|window|none), window, threshold, "
                            "ceiling, attack, hold, release, smoothing (s), gamma, invert")
    music.add_argument("--pulse-bands", default="",
                       help="band:layers pairs, e.g. '20-150Hz:0-3, 5000-11025Hz:10-17@0.5': each band's onsets pulse "
                            "only its W+ layers, with --pulse (or @strength); replaces the whole-song pulse")
    music.add_argument("--motion-bands", default="",
                       help="band:layers pairs as --pulse-bands, moving each range along its own loop with --motion")
    music.add_argument("--pulse-audio", help="a separate sound (e.g. a drum stem) the pulse bands hear (default: "
                                             "the song)")
    music.add_argument("--motion-audio", help="a separate sound the motion bands hear (default: the song)")
    music.add_argument("--beat-audio", help="a separate sound (e.g. a drum stem) whose beats or bars cut the song "
                                            "with --cut beats or bars (default: the song)")
    music.add_argument("--meaning-audio", help="a separate sound (e.g. a vocals stem) whose windows guide the "
                                               "keyframes instead of the song's (default: the song)")
    music.add_argument("--blend-seeds", default="",
                       help="several source seeds (e.g. '3,7,11') blended per frame by --blend-by; the keyframes' "
                            "edit rides on the blend")
    music.add_argument("--blend-labels", default="",
                       help="class-conditional generators: several labels separated by ';', one source each (from "
                            "--seed), blended per frame")
    music.add_argument("--blend-by", default="chroma",
                       help="chroma (pitch class k feeds source k mod S) or one curve name per source, comma-separated")
    music.add_argument("--blend-smoothing", type=float, default=1.0, help="seconds of Gaussian smoothing of the blend")
    music.add_argument("--blend-mode", choices=BLEND_MODES, default="normalise",
                       help="normalise (weights in proportion) or softmax (the strongest source dominates)")


def blend_sources(args, generator, label) -> torch.Tensor | None:
    """The latents --blend-seeds or --blend-labels name [S, num_ws, w_dim] (None without either)."""
    if args.blend_seeds.strip() and args.blend_labels.strip():
        raise SoundClipError("--blend-seeds and --blend-labels both given", fix="blend either seeds or labels")
    if args.blend_seeds.strip():
        try:
            seeds = [int(s) for s in args.blend_seeds.split(",") if s.strip()]
        except ValueError:
            raise SoundClipError(f"bad --blend-seeds {args.blend_seeds!r}", fix="give seeds like 3,7,11") from None
        return torch.cat([generator.ws_from_seed(s, truncation_psi=args.truncation, c=label) for s in seeds])
    if args.blend_labels.strip():
        labels = [label_for(generator, text, source="--blend-labels") for text in args.blend_labels.split(";")]
        return torch.cat([generator.ws_from_seed(args.seed, truncation_psi=args.truncation, c=c) for c in labels])
    return None


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
    plan = MusicCut(args.cut, args.every, args.transition, args.section_texts)
    plan.check()
    parse_envelope(args.strength_envelope)
    located = located_region(args)
    audio = load_audio(args.audio, max_seconds=args.max_seconds)
    windows = cut_windows(audio, args.window, args.hop)
    if windows.note and args.cut == "fixed":
        print(f"soundclip: {windows.note}")
    paths = {"pulse": args.pulse_audio, "motion": args.motion_audio, "beat": args.beat_audio,
             "meaning": args.meaning_audio}
    with warnings.catch_warnings():  # the notes are printed below, once
        warnings.simplefilter("ignore")  # a stem that does not fit is refused here, before any model loads
        stems = assign_roles(audio, **{role: load_audio(path, max_seconds=args.max_seconds)
                                       for role, path in paths.items() if path})
    for note in stems.notes:
        print(f"soundclip: {note}")
    roles = {f"{role}_audio": stems[role] for role in ("pulse", "motion") if stems.own(role)}
    beat_audio = stems["beat"] if stems.own("beat") else None
    meaning_audio = stems["meaning"] if stems.own("meaning") else None
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
    music = MusicFrames(args.strength_curve, args.strength_envelope, args.pulse_bands, args.motion_bands,
                        args.blend_by, args.blend_smoothing, args.blend_mode)
    roles["sources"] = blend_sources(args, generator, label)
    identity = None
    if files["arcface"] is not None:
        from ..arcface import load_arcface

        identity = load_arcface(files["arcface"], device)
    if located is not None and files["vgg"] is not None:  # VGG is at hand when a photo was inverted
        from ..invert import load_perceptual

        located = replace(located, perceptual=load_perceptual(files["vgg"], files["lpips"], device))
    bars = PhaseBars([("optimising keyframes", "step", args.steps), ("rendering frames", "frame", None)])
    notes: list[str] = []
    try:
        keyframes, result = make_video(
            args.out, generator, clip, encoder, audio, w_source.to(device), fps=args.fps, window=args.window,
            hop=args.hop, steps=args.steps, text=text, text_weight=args.text_weight, pulse=args.pulse,
            motion=args.motion, batch_size=args.batch, crf=args.crf, keyframes_path=args.keyframes,
            progress=bars, preset=args.preset, lr=args.lr, mask=args.mask, layers=args.layers, seed=args.seed,
            precision=args.precision, chunk_size=args.chunk, identity=identity, noise=noise, plan=plan, music=music,
            roles=roles, notes=notes, beat_audio=beat_audio, meaning_audio=meaning_audio, region=located)
    finally:
        bars.close()
    for note in notes:
        print(f"soundclip: {note}")
    print(result.report())
    print(f"wrote {args.out} ({len(keyframes.times)} keyframes, {audio.duration:.1f} s at {args.fps:g} fps)"
          + (f" and {args.keyframes}" if args.keyframes else ""))
    return 0
