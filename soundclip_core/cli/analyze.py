"""`soundclip analyze SONG --out curves.json|csv [--plot curves.png]`: everything the analysis hears, per frame.

    soundclip analyze song.mp3 --fps 24 --out curves.json --plot curves.png
    soundclip analyze song.mp3 --stem beat=drums.wav --stem pulse=bass.wav --min-bpm 150 --max-bpm 250 --out c.csv
    soundclip analyze song.mp3 --labels "rain,applause,violin" --encoder soundclip-resnet18 --clip clip-vit-b-32 \\
        --out curves.json

The JSON holds fps, duration (s), tempo (BPM, null without a beat), beats, downbeats and sections (section start
times in seconds, sorted, the first 0), and curves (name -> one value per frame); the CSV one row per frame
(frame, time, then one column per curve). Outputs, stems and models are all checked before the song is heard.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from ..analysis import ROLES, assign_roles
from ..analysis.analyze import check_tempo_range, open_tempo_range
from ..analysis.hearing import add_semantic, hear_roles, parse_bands
from ..atomic import atomic_path
from ..audio import load_audio
from ..clip import load_clip
from ..encoders import load_audio_encoder
from ..errors import SoundClipError
from ..evaluate.zeroshot import check_labels
from ..optional import require
from ..video import DEFAULT_HOP, DEFAULT_WINDOW, cut_windows
from .models import clip_request, model_files
from .options import add_device_arg
from .outputs import check_output

MAX_SECONDS = 4 * 3600.0  # a long DJ mix; the analysis streams it in chunks (its samples are held once)


def register(subparsers) -> None:
    p = subparsers.add_parser("analyze", help="beats, tempo, sections and every curve of a song, per video frame")
    p.add_argument("song", help="the sound file (wav, flac, ogg, mp3; up to 4 hours)")
    p.add_argument("--fps", type=float, default=24.0, help="frames per second: one value per frame per curve")
    p.add_argument("--bands", default="20-150, 150-2000, 2000-11025",
                   help="frequency bands (low-high Hz) for the level_<band> and onset_<band> curves")
    p.add_argument("--min-bpm", type=float, help="the slowest tempo allowed: a song read at half its tempo is "
                                                 "moved up by octaves")
    p.add_argument("--max-bpm", type=float, help="the fastest tempo allowed: a song read at double its tempo is "
                                                 "moved down by octaves")
    p.add_argument("--sections", type=int, help="exactly this many sections (default: as many as the music has)")
    p.add_argument("--stem", action="append", default=[], metavar="ROLE=FILE",
                   help=f"a stem heard for one role ({', '.join(ROLES)}; repeat for several), e.g. beat=drums.wav")
    p.add_argument("--labels", default="", help='semantic curves: comma-separated labels, e.g. "rain,applause,violin" '
                                                "(needs --encoder and --clip)")
    p.add_argument("--encoder", help="audio encoder file or known id, for --labels")
    p.add_argument("--clip", help="CLIP file or id of the encoder's space, for --labels")
    p.add_argument("--template", default="{}", help="prompt template for the labels, with {} for the label")
    p.add_argument("--window", type=float, default=DEFAULT_WINDOW, help="seconds of sound per semantic window "
                                                                        "(as `soundclip video`)")
    p.add_argument("--hop", type=float, default=DEFAULT_HOP, help="seconds between semantic windows")
    add_device_arg(p)
    p.add_argument("--out", required=True, type=Path, help="curves.json or curves.csv")
    p.add_argument("--plot", type=Path, help="also draw the curves against time into this PNG")
    p.set_defaults(func=run)


def _stems(specs: list[str]) -> dict[str, str]:
    stems = {}
    for spec in specs:
        role, _, path = spec.partition("=")
        if role.strip() not in ROLES or not path.strip():
            raise SoundClipError(f"--stem {spec!r} is not ROLE=FILE with a role of {', '.join(ROLES)}",
                                 fix="write e.g. --stem beat=drums.wav")
        if role.strip() in stems:
            raise SoundClipError(f"--stem gives the {role.strip()} role twice", fix="give each role one stem")
        stems[role.strip()] = path.strip()
    return stems


def _check(args: argparse.Namespace) -> tuple[Path, Path | None, list[str], tuple | None]:
    """Everything that can be known before the song is heard: outputs, options, the labels' models."""
    out = check_output(args.out, {".json", ".csv"}, "curves.json")
    plot = check_output(args.plot, {".png"}, "curves.png") if args.plot else None
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    if labels and not (args.encoder and args.clip):
        raise SoundClipError("--labels need an audio encoder and its CLIP to hear them",
                             fix="add --encoder soundclip-resnet18 --clip clip-vit-b-32 (or your own files)")
    if labels:
        check_labels(labels)
    if plot is not None:
        require("PIL.Image", "--plot")
    if args.sections is not None and args.sections < 1:
        raise SoundClipError(f"--sections {args.sections}: a song has at least one section",
                             fix="give 1 or more, or leave --sections out (as many as the music has)")
    bpm = (args.min_bpm, args.max_bpm)
    return out, plot, labels, None if bpm == (None, None) else check_tempo_range(open_tempo_range(*bpm))


def run(args: argparse.Namespace) -> int:
    out, plot, labels, tempo_range = _check(args)
    stems, bands = _stems(args.stem), parse_bands(args.bands)
    song = load_audio(args.song, max_seconds=MAX_SECONDS, allow_silence=True)
    roles = assign_roles(song, **{role: load_audio(path, max_seconds=MAX_SECONDS, allow_silence=True)
                                  for role, path in stems.items()})  # a stem that does not fit: before any work
    models = None
    if labels:
        spans = cut_windows(roles["meaning"], args.window, args.hop).spans  # a bad --window before models load
        files = model_files({"encoder": (args.encoder, "audio_encoder"), "clip": clip_request(args.clip)})
        models = load_audio_encoder(files["encoder"], device=args.device), load_clip(None, files["clip"], args.device)
    heard = hear_roles(roles, args.fps, bands=bands, section_count=args.sections, tempo_range=tempo_range)
    if models is not None:
        encoder, clip = models
        heard = add_semantic(heard, encoder, roles["meaning"], spans, clip=clip, labels=labels,
                             templates=[args.template])
    picture = heard.plot() if plot is not None else None  # drawn before anything is written
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".json":
            tmp.write_text(json.dumps(heard.to_json()), encoding="utf-8")
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(heard.csv_header())
                writer.writerows(heard.csv_rows())
    print(heard.report())
    print(f"wrote {out}")
    if plot is not None:
        with atomic_path(plot) as tmp:
            require("PIL.Image", "--plot").fromarray(picture).save(tmp, format="PNG")
        print(f"wrote {plot}")
    return 0
