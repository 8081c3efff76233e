"""Options several commands share, so that the same flag reads and means the same everywhere."""

from __future__ import annotations

import argparse
import re

from ..clip import KNOWN_ARCHS

CLIP_ARCHS = tuple(KNOWN_ARCHS)


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")


def fold_ids(text: str) -> tuple[int, ...]:
    """`--folds` in every command: fold ids, e.g. '5', '1,2,3' or '1-4' (an argparse type)."""
    ids: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise argparse.ArgumentTypeError(f"'{text}' is not a list of fold ids (e.g. 5, 1,2,3 or 1-4)")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        ids.extend(i for i in range(first, last + 1) if i not in ids)
    return tuple(ids)


def add_folds_arg(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--folds", type=fold_ids, help=f"fold ids, e.g. 5, 1,2,3 or 1-4 (default: {default})")
