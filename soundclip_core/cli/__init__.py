"""`soundclip` command line: one sub-module per command group.

Each module in this package exposes ``register(subparsers)``, which adds its
commands and sets ``func`` on the parsed arguments. Errors the user can fix are
printed as one line (exit code 2) instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import SoundClipError

COMMAND_MODULES = ("convert", "weights", "manipulate", "mix", "selftest", "invert", "train", "evaluate",
                   "video")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soundclip", description="Sound-guided StyleGAN2 image manipulation (Lee et al., CVPR 2022).")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SoundClipError as error:
        print(f"soundclip: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("soundclip: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`soundclip weights list | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0


if __name__ == "__main__":
    sys.exit(main())
