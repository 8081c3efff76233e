"""Write files so that a reader never sees half of one.

Every file we produce (images, latents, converted checkpoints, downloads) is written
to a temporary name in the target folder and renamed into place only once complete;
on any error the temporary file is removed.

The temporary is created as a plain `open()` would create the file (mode 0666 less the
umask, or the mode of the file it replaces), so outputs are readable by whoever a plain
write would let read them (a ComfyUI service user, a container, a NAS). Its name carries the
writer's PID: a temporary left by a killed writer (SIGKILL skips every cleanup) is removed the
next time anything is written into that folder, once its writer is gone or it is a day old.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import SoundClipError

# `.<name>.<pid>-<token>.part`; `.<name>.<8 chars>.part` is what mkstemp left before the PID was in the name
TEMPORARY = re.compile(r"\..+\.(?:(?P<pid>\d+)-[0-9a-f]{8}|[a-z0-9_]{8})\.part")
GRACE_S = 60.0  # a temporary whose writer is gone, untouched this long, is abandoned
STALE_S = 24 * 3600.0  # untouched this long, it is abandoned whatever its PID says (PIDs are reused)
_swept: set[Path] = set()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the block succeeds."""
    path = Path(path)
    tmp_path = _start(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Temporaries beside files that belong together (a checkpoint and its sidecar), renamed into place in the
    given order only once every one was written: an error while writing any leaves all the old files as they
    were, never a new one beside an old one. (Put the file readers look for last.)"""
    targets = [Path(p) for p in paths]
    temporaries: list[Path] = []
    try:
        for target in targets:
            temporaries.append(_start(target))
        yield temporaries
        for tmp_path, target in zip(temporaries, targets, strict=True):
            os.replace(tmp_path, target)
    finally:
        for tmp_path in temporaries:
            tmp_path.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike) -> Path:
    """Refuse, before any long work, an output that cannot be written: a folder, a path under a file,
    a folder without write permission. Creates the missing folders, as the write would."""
    path = Path(path)
    _start(path).unlink()
    return path


def _start(path: Path) -> Path:
    """The folder made, its stale temporaries removed, and a new temporary for `path`; a SoundClipError
    naming the path when it cannot be written."""
    if path.is_dir():
        raise SoundClipError("the output is a folder", path=path, fix="give a file name inside it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)
        return _create_temporary(path)
    except OSError as error:
        raise SoundClipError(f"cannot write to this folder ({error.strerror or error})", path=path,
                             fix="choose a folder you can write to") from error


def _create_temporary(path: Path) -> Path:
    """An empty new file beside `path`, created with the permissions `open(path, "w")` would give."""
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        try:
            if path.exists():  # open() on an existing file keeps its mode
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        finally:
            os.close(fd)
        return tmp


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries that killed writers left in `folder` (once per folder and process: a
    feature cache holds thousands of files). Returns what was removed."""
    folder = Path(folder)
    if folder in _swept:
        return []
    _swept.add(folder)
    removed = []
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = TEMPORARY.fullmatch(entry.name)
            if not match:
                continue
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
                age = now - entry.stat(follow_symlinks=False).st_mtime
                pid = match["pid"]
                if age > STALE_S or (age > GRACE_S and pid is not None and not _alive(int(pid))):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    """Whether process `pid` exists here. Only asked on POSIX: on Windows os.kill(pid, 0) terminates it."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True
