"""A known model placed by hand is checked against its published sha256 once, on first use.

Hashing a 300 MB checkpoint on every load would cost seconds per run, so a match is remembered
in `<cache>/verified.json`, keyed by the file's resolved path, size and modification time: any
change to the file (a new copy, an edit) makes it unverified again.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_path
from ..errors import WeightsError
from .download import sha256_of
from .manifest import WeightEntry

CACHE_NAME = "verified.json"


def _key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _read(cache: Path) -> dict[str, str]:
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):  # absent or damaged: everything is simply checked again
        return {}
    return data if isinstance(data, dict) else {}


def remember(path: Path, sha256: str, cache: Path) -> None:
    """Record that `path`, as it is now, has `sha256` (a read-only cache folder only costs a re-check)."""
    entries = _read(cache)
    entries[_key(path)] = sha256
    try:
        with atomic_path(cache) as tmp:
            tmp.write_text(json.dumps(entries, indent=0, sort_keys=True))
    except OSError:
        pass


def check_known_file(entry: WeightEntry, path: Path, cache: Path) -> Path:
    """`path` when it is the file `entry` publishes (by sha256, else by size); a WeightsError otherwise."""
    size = path.stat().st_size
    problem = None
    if entry.size and size != entry.size:
        problem = f"is {size} bytes, but '{entry.id}' is {entry.size} bytes"
    elif entry.sha256 and _read(cache).get(_key(path)) != entry.sha256:
        if sha256_of(path) != entry.sha256:
            problem = f"does not match the published sha256 of '{entry.id}'"
        else:
            remember(path, entry.sha256, cache)
    if problem:
        raise WeightsError(f"{problem} (a corrupt, truncated or different file under its name)", path=path,
                           fix=f"delete it and run `soundclip weights download {entry.id}` (or get "
                               f"{entry.urls[0]}), or pass the file by its path to use it as it is")
    return path
