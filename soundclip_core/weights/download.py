"""Verified, resumable downloads: nothing partial ever sits where a model is expected.

urllib streams to `<target>.part`; an interrupted download resumes with an HTTP Range
request (or restarts if the server ignores it); size and sha256 are checked before the
file is renamed into place. The `.part` file is kept only while a resume is possible and
removed when its content is proven wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import WeightsError
from .manifest import WeightEntry

Progress = Callable[[int, "int | None"], None]
CHUNK = 1 << 20
TIMEOUT_S = 30


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, part: Path, progress: Progress | None) -> None:
    """Append the rest of `url` to `part`, resuming from its current size when the server allows it."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "soundclip", **({"Range": f"bytes={have}-"} if have else {})}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        if have and response.status != 206:  # no Range support: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as out:
            done = have
            while block := response.read(CHUNK):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total is not None and done < total:
            raise ConnectionError(f"connection closed after {done} of {total} bytes")


def download(entry: WeightEntry, target: Path, progress: Progress | None = None, attempts: int = 3) -> Path:
    """Download `entry` to `target` (verified), trying each URL and resuming dropped connections.

    A failed download leaves nothing behind: no `.part` file and none of the folders it created."""
    created = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    errors = []
    for url in entry.urls:
        for _ in range(attempts):
            try:
                _fetch(url, part, progress)
                break
            except urllib.error.HTTPError as error:
                errors.append(f"{url}: HTTP {error.code}")
                part.unlink(missing_ok=True)
                break
            except (OSError, ConnectionError) as error:  # dropped or unreachable: resume if anything arrived
                errors.append(f"{url}: {getattr(error, 'reason', error)}")
                if not part.exists() or part.stat().st_size == 0:
                    break
        else:
            continue
        if part.exists() and _verified(entry, part, errors, url):
            os.replace(part, target)
            return target
    part.unlink(missing_ok=True)
    for folder in created:  # deepest first; a folder something else wrote into meanwhile stays
        with contextlib.suppress(OSError):
            folder.rmdir()
    raise WeightsError(
        f"could not download '{entry.id}' ({'; '.join(errors[-3:]) or 'no data'})",
        path=target, fix=f"download {entry.urls[0]} by hand and save it as {target}")


def _verified(entry: WeightEntry, part: Path, errors: list[str], url: str) -> bool:
    size = part.stat().st_size
    if entry.size and size != entry.size:
        errors.append(f"{url}: got {size} bytes, expected {entry.size}")
    elif entry.sha256 and sha256_of(part) != entry.sha256:
        errors.append(f"{url}: sha256 mismatch (corrupt or changed file)")
    else:
        return True
    part.unlink(missing_ok=True)
    return False
