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

from .. import VERSION
from ..errors import SoundClipError

# the artist's path first (check the install, get models, edit, mix, photos, video), then the researcher's
COMMAND_MODULES = ("selftest", "weights", "manipulate", "mix", "invert", "video", "analyze", "locate", "search",
                   "table", "train", "evaluate", "convert")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, except where there is none to show (no value, a flag that is
    off) or the help text already says what happens without it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        nothing = action.default is None or action.default is False or action.default == ""  # (0 is a value)
        if nothing or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help shows defaults; subcommands' parsers inherit it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="soundclip",
                    description="Sound-guided StyleGAN image manipulation (Lee et al., CVPR 2022).")
    parser.add_argument("--version", action="version", version=f"soundclip {VERSION}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error argparse has printed: its exit status
        return int(done.code or 0)
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
