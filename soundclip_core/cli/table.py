"""`soundclip table`: a generator's StyleSpace channel table for instant edits (`manipulate --instant --table`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..clip import load_clip
from ..directions import METHODS, cache_entry, cached_table, compute_table, default_table_folder, partial_path
from ..directions.sampling import SEED, SEED_MAX
from ..directions.table import IMAGES
from ..errors import SoundClipError
from ..generators import load_generator
from ..runtime import pick_device
from .models import clip_request, model_files
from .options import CLIP_ARCHS, add_device_arg
from .outputs import check_output


def register(subparsers) -> None:
    p = subparsers.add_parser("table", help="compute a generator's StyleSpace table for instant edits "
                                            "(once per generator and CLIP)")
    p.add_argument("--generator", required=True, help="StyleGAN file or known id (e.g. landscape-256)")
    p.add_argument("--clip", required=True, help="CLIP weights file or known id (e.g. clip-vit-b-32)")
    p.add_argument("--clip-arch", choices=CLIP_ARCHS,
                   help="the architecture the weights must be (default: read off the weights)")
    p.add_argument("--method", choices=METHODS, default="gradient",
                   help="gradient: clip_dim backward passes per image; finite: StyleCLIP's recipe, two renders per "
                        "channel per image")
    p.add_argument("--samples", type=int, default=IMAGES, help="sample images the directions are averaged over")
    p.add_argument("--seed", type=int, default=SEED, help="the sample images' seed (StyleCLIP's is 5)")
    add_device_arg(p)
    p.add_argument("--out", type=Path,
                   help="the table (.safetensors); an interrupted run keeps <name>.partial.safetensors beside it "
                        "and the same command resumes from there. Without it the table goes to the cache "
                        f"({default_table_folder()}), where `manipulate --instant` and the nodes find it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise SoundClipError(f"--samples {args.samples}: a table needs at least 1 image", fix=f"use {IMAGES}")
    if not 0 <= args.seed <= SEED_MAX:  # numpy's RandomState takes 0 .. 2^32 - 1
        raise SoundClipError(f"--seed {args.seed} is outside 0..{SEED_MAX}", fix=f"use a seed in that range "
                                                                                 f"(StyleCLIP's is {SEED})")
    if args.out is not None:
        out = check_output(args.out, {".safetensors"}, "table.safetensors")
        check_output(partial_path(out), {".safetensors"}, "table.safetensors")
    files = model_files({"generator": (args.generator, "stylegan2"), "clip": clip_request(args.clip)})
    device = pick_device(args.device)
    generator = load_generator(files["generator"], device)
    clip = load_clip(args.clip_arch, files["clip"], device)
    if args.out is None:
        out, _ = cache_entry(generator, clip.space, args.method, images=args.samples, seed=args.seed)
    if partial_path(out).is_file():
        print(f"resuming from {partial_path(out)} where it matches these settings")
    bar = tqdm(desc=f"{args.method} table", unit="item")

    def progress(done: int, total: int) -> None:
        bar.total, bar.n = total, done
        bar.refresh()

    try:
        if args.out is None:
            table = cached_table(generator, clip, args.method, images=args.samples, seed=args.seed, progress=progress)
        else:
            table = compute_table(generator, clip, args.method, images=args.samples, seed=args.seed, path=out,
                                  progress=progress)
    finally:
        bar.close()
    print(f"wrote {out}: {table.layout.total} channels x {table.clip_dim} ({table.space}), {table.method}, "
          f"{table.images} images, generator {table.generator}")
    return 0
