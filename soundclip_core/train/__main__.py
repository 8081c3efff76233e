"""`torchrun --nproc-per-node G [--nnodes N ...] -m soundclip_core.train --data ... --clip ...`: the same
options as `soundclip train`, one process per GPU (or CPU process with gloo)."""

import argparse
import sys

from ..cli.train import add_arguments, run
from ..errors import SoundClipError

parser = argparse.ArgumentParser(prog="python -m soundclip_core.train", description=__doc__)
add_arguments(parser)
try:
    sys.exit(run(parser.parse_args()))
except SoundClipError as error:
    print(f"soundclip train: error: {error}", file=sys.stderr)
    sys.exit(2)
