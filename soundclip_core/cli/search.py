"""`soundclip search`: a folder of pictures ranked by a sound (`--images DIR --audio SOUND`), or a folder of
sounds ranked by a picture (`--sounds DIR --image PICTURE`), from a cached index of the folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..audio import load_audio
from ..clip import load_clip
from ..encoders import load_audio_encoder
from ..errors import SoundClipError
from ..picture import load_image
from ..runtime import pick_device
from ..search import label_metrics, picture_query, search_pictures, search_sounds
from .locate import add_query_args, check_query_args, query_embedding
from .models import clip_request, model_files
from .options import add_device_arg
from .outputs import check_output
from .progress import LabelledBars


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="rank a folder of pictures by a sound, or of sounds by a picture")
    p.add_argument("--images", type=Path, help="the folder of pictures to rank (by --audio and/or --text)")
    p.add_argument("--sounds", type=Path, help="the folder of sounds to rank (by --image; needs --encoder)")
    p.add_argument("--image", type=Path, help="with --sounds: the picture to find sounds for")
    add_query_args(p, "search with")
    p.add_argument("--top", type=int, default=10, help="how many to print and write (0: all)")
    p.add_argument("--cache-dir", type=Path, help="where the folder's index is kept (default: a .soundclip_index "
                                                  "folder inside it, or soundclip's cache when it is read-only)")
    add_device_arg(p)
    p.add_argument("--query-label", help="the query's label, for retrieval metrics: a file is relevant when its "
                                          "folder is named so (DIR/label/file), and R@1/5/10, AP and nDCG are printed")
    p.add_argument("--json", type=Path, help='the ranking as JSON: [{"path", "score"}], best first, score the cosine')
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if bool(args.images) == bool(args.sounds):
        raise SoundClipError("give one folder to search", fix="use --images DIR (with --audio/--text) or --sounds DIR "
                                                              "(with --image)")
    if args.sounds:
        if not args.image or args.audio or args.text:
            raise SoundClipError("sounds are searched with a picture", fix="give --image PICTURE (and --encoder)")
        if not args.encoder:
            raise SoundClipError("--sounds needs the audio encoder that embeds them", fix="add --encoder")
    else:
        if args.image:
            raise SoundClipError("--image goes with --sounds", fix="search pictures with --audio and/or --text")
        check_query_args(args)
    if args.top < 0:
        raise SoundClipError("--top must be 0 or more", fix="use e.g. --top 10 (0: all)")


def run(args: argparse.Namespace) -> int:
    _check(args)
    json_out = check_output(args.json, {".json"}, "ranking.json") if args.json else None
    picture = load_image(args.image) if args.image else None
    audio = load_audio(args.audio) if args.audio else None
    files = model_files({"clip": clip_request(args.clip),
                         "encoder": (args.encoder, "audio_encoder") if args.encoder else None})
    device = pick_device(args.device)
    clip = load_clip(args.clip_arch, files["clip"], device)
    encoder = load_audio_encoder(files["encoder"], device=device) if files["encoder"] else None
    bars = LabelledBars("file")

    def progress(done: int, total: int) -> None:
        bars("indexing new or changed files", done, total)

    try:
        if args.sounds:
            query = picture_query(picture, clip, str(args.image))
            ranking = search_sounds(args.sounds, query, encoder, args.cache_dir, progress)
        else:
            ranking = search_pictures(args.images, query_embedding(args, audio, encoder, clip), clip, args.cache_dir,
                                      progress)
    finally:
        bars.close()
    top = args.top or None
    print(ranking.text(top))
    if args.query_label is not None:
        labels = [Path(item).parent.name for item in ranking.items]
        metrics = label_metrics(ranking.scores[None], [args.query_label], labels)
        print(", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "queries") if metrics["queries"]
              else f"no file in a folder named '{args.query_label}': no metrics")
    if json_out is not None:
        ranking.write_json(json_out, top)
        print(f"wrote {json_out}")
    return 0
