"""`soundclip weights list | download ID... | verify [ID...]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..weights import ensure, load_manifest, local_copy, verify
from .progress import byte_bar


def register(subparsers) -> None:
    parser = subparsers.add_parser("weights", help="list, download and verify known checkpoints")
    commands = parser.add_subparsers(dest="weights_command", required=True)
    commands.add_parser("list", help="known models and whether they are present").set_defaults(func=run_list)
    download = commands.add_parser("download", help="download known models (verified)")
    download.add_argument("ids", nargs="+")
    download.add_argument("--dir", type=Path, help="target folder (default: the cache, by kind)")
    download.set_defaults(func=run_download)
    check = commands.add_parser("verify", help="check present models against their checksums")
    check.add_argument("ids", nargs="*")
    check.set_defaults(func=run_verify)


def run_list(args: argparse.Namespace) -> int:
    for e in load_manifest():
        size = f"{e.size / 1e6:.0f} MB" if e.size else "?"
        present = "present" if local_copy(e) else "missing"
        note = "" if e.loadable else "  (not loadable yet)"
        print(f"{e.id:22} {e.kind:13} {size:>8}  {e.license[:30]:30} {present}{note}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    for model_id in args.ids:
        bar, progress = byte_bar(model_id)
        try:
            dirs = [args.dir] if args.dir else []
            path = ensure(model_id, search_dirs=dirs, progress=progress)
        finally:
            bar.close()
        print(f"{model_id}: {path}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    ids = args.ids or [e.id for e in load_manifest() if local_copy(e)]
    bad = 0
    for model_id in ids:
        status = verify(model_id)
        bad += status in ("corrupt", "missing")
        print(f"{model_id}: {status}")
    return 1 if bad else 0
