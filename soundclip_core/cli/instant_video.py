"""`soundclip video --mode instant`: every frame follows its own window of the song through a StyleSpace table,
with no optimisation (soundclip_core.video.make_instant_video). `cli/video.py` registers these flags and hands
over once the song, the models and the source latent are ready; everything here is checked before any model
loads.

alpha may follow an analysis curve (`--alpha-curve loudness`): alpha(t) = alpha * curve(t), the curve normalised
to 0-1 over the song by the analysis Envelope (so the loudest moment edits with the full alpha).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..audio import load_audio
from ..directions import load_table
from ..errors import SoundClipError
from ..video import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    DEFAULT_NEUTRAL,
    DEFAULT_SMOOTH,
    InstantSettings,
    alpha_per_frame,
    frame_count,
    make_instant_video,
)
from ..video.drives import named_alpha
from ..video.instant_sound import check_smooth
from .progress import PhaseBars

MODES = ("keyframes", "instant")
TABLE_FIX = "make one with `soundclip table --generator G --clip C --out table.safetensors` and pass --table"


def add_instant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=MODES, default="keyframes",
                   help="keyframes: optimise one keyframe per window (the default); instant: every frame is its "
                        "own window's StyleSpace edit, no optimisation (needs --table)")
    g = p.add_argument_group("instant mode (--mode instant; --layers restricts the W+ layers the edit touches)")
    g.add_argument("--table", type=Path, help="the generator's StyleSpace table in the encoder's CLIP space "
                                              "(`soundclip table`)")
    g.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="edit strength (StyleCLIP: -10..10)")
    g.add_argument("--beta", type=float, default=DEFAULT_BETA,
                   help="channels whose relevance is under beta stay still (StyleCLIP: 0.08-0.3)")
    g.add_argument("--neutral", default=DEFAULT_NEUTRAL,
                   help="what the direction starts from: a text, or a sound file (e.g. a quiet room)")
    g.add_argument("--smooth", type=float, default=DEFAULT_SMOOTH,
                   help="seconds over which the sound's embeddings are smoothed (Gaussian; 0 = none)")
    g.add_argument("--alpha-curve", help="an analysis curve that scales alpha per frame, normalised over the song "
                                         "(e.g. loudness, onset; `soundclip analyze` lists them)")


def check_instant_args(args: argparse.Namespace) -> None:
    """Refuse, before any model loads, what instant mode cannot use."""
    if args.mode != "instant":
        if args.table is not None or args.alpha_curve:
            raise SoundClipError("--table and --alpha-curve are for the instant mode",
                                 fix="add --mode instant, or leave them out for the keyframe mode")
        return
    if args.table is None:
        raise SoundClipError("--mode instant needs a StyleSpace table (--table)", fix=TABLE_FIX)
    if not args.table.is_file():
        raise SoundClipError("no StyleSpace table here", path=args.table, fix=TABLE_FIX)
    if args.keyframes:
        raise SoundClipError("--mode instant makes no keyframes to write", path=args.keyframes,
                             fix="leave out --keyframes, or use --mode keyframes")
    alpha_per_frame(args.alpha, 1)
    check_smooth(args.smooth)
    if not args.beta >= 0:
        raise SoundClipError(f"beta {args.beta} must be 0 or more", fix="use beta between 0.08 and 0.3 (StyleCLIP)")


def _neutral(args: argparse.Namespace, clip, encoder):
    """--neutral as an embedding: a sound file's through the encoder, otherwise a text's through CLIP."""
    if Path(args.neutral).is_file():
        return encoder.encode(load_audio(args.neutral))
    return clip.encode_text([args.neutral])


def _alpha(args: argparse.Namespace, audio, n_frames: int):
    if not args.alpha_curve:
        return args.alpha
    from ..analysis import analyze

    return named_alpha(analyze(audio).curves(args.fps), args.alpha_curve, args.alpha, args.fps, n_frames)


def run_instant(args: argparse.Namespace, audio, generator, clip, encoder, w_source, noise) -> int:
    """The instant-mode video from the loaded models; returns the exit code."""
    table = load_table(args.table, generator, encoder.space)
    n_frames = frame_count(audio.waveform.shape[-1], audio.sample_rate, args.fps)
    settings = InstantSettings(fps=args.fps, window=args.window, smooth=args.smooth,
                               alpha=_alpha(args, audio, n_frames), beta=args.beta, layers=args.layers,
                               pulse=args.pulse, motion=args.motion, batch_size=args.batch)
    bars = PhaseBars([("encoding windows", "window", n_frames), ("rendering frames", "frame", None)])
    try:
        make_instant_video(args.out, generator, encoder, audio, w_source, table, _neutral(args, clip, encoder),
                           settings, noise=noise, crf=args.crf, progress=bars)
    finally:
        bars.close()
    print(f"wrote {args.out} ({n_frames} frames, each its own {args.window:g} s window's edit, {audio.duration:.1f} s "
          f"at {args.fps:g} fps)")
    return 0
