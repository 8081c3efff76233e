"""The files a command will write, checked before it reads or loads anything.

A command refuses an output it could not write (a suffix it does not write, a folder, a path under a file,
a folder without write permission) in one line before any model loads or any optimisation runs, not with a
traceback after the work, and never after writing one of its files and failing on the next.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from ..atomic import check_writable
from ..errors import SoundClipError


def check_output(path: str | os.PathLike, suffixes: Collection[str], example: str) -> Path:
    """`path` (user expanded) once a file of one of `suffixes` (lower case, with the dot) can be written there;
    otherwise one SoundClipError naming the path and the fix (`example` is a file name that would do)."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in suffixes:
        raise SoundClipError(f"cannot write a '{path.suffix or 'suffix-less'}' file here (this output is "
                             f"{' or '.join(sorted(suffixes))})", path=path, fix=f"name the output e.g. {example}")
    return check_writable(path)
