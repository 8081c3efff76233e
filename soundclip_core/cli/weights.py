"""`soundclip weights list | download ID... | verify [ID...]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import WeightsError
from ..weights import KIND_FOLDERS, cache_dir, ensure, load_manifest, local_copy, verify
from .progress import byte_bar


def register(subparsers) -> None:
    parser = subparsers.add_parser("weights", help="list, download and verify known checkpoints")
    commands = parser.add_subparsers(dest="weights_command", required=True)
    commands.add_parser("list", help="known models and whether they are present").set_defaults(func=run_list)
    download = commands.add_parser("download", help="download known models (verified); each is tried even if "
                                                    "another fails")
    download.add_argument("ids", nargs="+", help="known model ids (see `soundclip weights list`)")
    download.add_argument("--dir", type=Path, help="target folder (default: the cache, by kind)")
    download.set_defaults(func=run_download)
    check = commands.add_parser("verify", help="check present models against their checksums")
    check.add_argument("ids", nargs="*", help="known model ids (default: every one present)")
    check.set_defaults(func=run_verify)


def run_list(args: argparse.Namespace) -> int:
    """One row per known model; the licence comes last and whole, since it decides what a user may do."""
    rows = [("ID", "KIND", "FILE", "SIZE", "STATUS", "FOLDER", "LICENCE")]
    for e in load_manifest():
        found = local_copy(e)
        status = ("present" if found else "missing") + ("" if e.loadable else " (not loadable yet)")
        folder = found.parent if found else cache_dir() / KIND_FOLDERS[e.kind]
        size = f"{e.size / 1e6:.0f} MB" if e.size else "?"
        rows.append((e.id, e.kind, e.filename, size, status, str(folder), e.license))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
    return 0


def run_download(args: argparse.Namespace) -> int:
    """Every id is tried; the failures are listed at the end and make the exit status 1."""
    failed = []
    for model_id in args.ids:
        bar, progress = byte_bar(model_id)
        try:
            path = ensure(model_id, search_dirs=[args.dir] if args.dir else [], progress=progress)
        except WeightsError as error:
            failed.append(model_id)
            print(f"{model_id}: failed: {error}", file=sys.stderr)
            continue
        finally:
            bar.close()
        print(f"{model_id}: {path}")
    if failed:
        print(f"{len(failed)} of {len(args.ids)} downloads failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def run_verify(args: argparse.Namespace) -> int:
    ids = args.ids or [e.id for e in load_manifest() if local_copy(e)]
    if not ids:
        print(f"no known models are present in {cache_dir()}; nothing to verify. "
              "Get one with `soundclip weights download ID` (ids: `soundclip weights list`)")
        return 0
    bad = 0
    for model_id in ids:
        status = verify(model_id)
        bad += status in ("corrupt", "missing")
        print(f"{model_id}: {status}")
    return 1 if bad else 0
