"""A folder's embeddings, cached: what a search ranks, kept up to date without re-encoding what did not change.

One safetensors file per folder, kind (images or sounds) and CLIP space: the unit vectors [N, D] and, in its
metadata, each file's path (relative to the folder), size and modification time (ns). A file is encoded again
when any of the three differs, dropped when it is gone; the others are read back. Files that cannot be read are
listed (`skipped`, with the reason) and left out, and tried again next time (they may have been fixed). A long
update writes what it has encoded every `SAVE_SECONDS`, and when it is cancelled or fails midway: a second try of a
10,000-picture folder takes up where the first stopped, even after the process was killed.

The cache lives in the folder (`.soundclip_index/`), or under `cache_dir` when given, or, when the folder is
not writable, under soundclip's cache folder (`$SOUNDCLIP_HOME/search/`), named after the folder's path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_path
from ..errors import Cancelled, SoundClipError
from ..weights import cache_dir as soundclip_cache

INDEX_FOLDER = ".soundclip_index"
FORMAT = 1
SAVE_SECONDS = 60.0  # a 10,000-file index is ~20 MB: rewritten once a minute at most

Embed = Callable[[Sequence[Path]], torch.Tensor]  # files -> unit vectors [n, D]; raises SoundClipError for a bad one
Progress = Callable[[int, int], None]


@dataclass
class Index:
    """The vectors [N, D] (unit rows, CPU) of the files `paths` (strings, under `folder`) in `space`;
    `skipped`: (path, why) of the files that could not be read."""

    folder: Path
    kind: str
    space: str
    paths: list[str]
    vectors: torch.Tensor
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    encoded: int = 0  # how many files this update encoded (the rest came from the cache)
    file: Path | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "space"


def index_file(folder: Path, kind: str, space: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the index of `folder` for (kind, space) is kept (see the module docstring)."""
    name = f"{kind}-{_slug(space)}.safetensors"
    if cache_dir is None and os.access(folder, os.W_OK):
        return folder / INDEX_FOLDER / name
    root = Path(cache_dir) if cache_dir is not None else soundclip_cache() / "search"
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    return root / f"{_slug(folder.name)}-{digest}-{name}"


def scan(folder: Path, extensions: Sequence[str]) -> list[tuple[str, int, int]]:
    """(path relative to the folder, size, mtime_ns) of its files with these suffixes, in and below it, sorted;
    hidden files and folders are skipped, symlinked folders not followed (no loops). os.scandir gives each
    file's stat with the listing: a 10,000-file folder is scanned in tens of milliseconds."""
    found, pending = [], [("", str(folder))]
    while pending:
        prefix, directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{entry.name}/", entry.path))
                elif os.path.splitext(entry.name)[1].lower() in extensions and entry.is_file():
                    stat = entry.stat()
                    found.append((prefix + entry.name, stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def _read(file: Path, kind: str, space: str) -> tuple[dict[str, tuple[int, int, int]], torch.Tensor]:
    """(relative path -> (size, mtime_ns, row), vectors) from a cache file; nothing when it is absent, of another
    format, kind or space, or damaged."""
    nothing = {}, torch.zeros(0, 0)
    if not file.is_file():
        return nothing
    try:
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
            entries = json.loads(meta.get("entries", "[]"))
            if meta.get("format") != str(FORMAT) or meta.get("kind") != kind or meta.get("space") != space:
                return nothing
            vectors = f.get_tensor("vectors") if entries else torch.zeros(0, 0)
    except Exception:  # noqa: BLE001 (a damaged cache is rebuilt, never trusted)
        return nothing
    if vectors.shape[0] != len(entries):
        return nothing
    return {name: (size, mtime, row) for row, (name, size, mtime) in enumerate(entries)}, vectors


def _write(file: Path, kind: str, space: str, files: list[tuple[str, int, int]], vectors: torch.Tensor) -> None:
    meta = {"format": str(FORMAT), "kind": kind, "space": space, "entries": json.dumps([list(f) for f in files])}
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as tmp:
        save_file({"vectors": vectors.contiguous()}, str(tmp), metadata=meta)


def _gather(files: list[tuple[str, int, int]], rows: dict[str, int], cached_vectors: torch.Tensor,
            fresh: dict[str, torch.Tensor]) -> tuple[list[tuple[str, int, int]], torch.Tensor]:
    """The files with a vector (cached or fresh), in `files`' order, and their vectors [n, D]."""
    kept = [f for f in files if f[0] in rows or f[0] in fresh]
    if not kept:
        return kept, torch.zeros(0, 0)
    if not fresh:  # nothing new: the cached rows, gathered at once
        return kept, cached_vectors[torch.tensor([rows[name] for name, _, _ in kept], dtype=torch.long)]
    return kept, torch.cat([cached_vectors[rows[name]][None] if name in rows else fresh[name][None]
                            for name, _, _ in kept])


def build_index(folder: str | os.PathLike, kind: str, space: str, extensions: Sequence[str], embed: Embed,
                cache_dir: str | os.PathLike | None = None, progress: Progress | None = None,
                batch: int = 16, should_cancel: Callable[[], bool] | None = None,
                save_seconds: float = SAVE_SECONDS) -> Index:
    """The index of `folder`'s files of `kind` in `space`, updated from its cache (module docstring): only new or
    changed files go through `embed`, `batch` at a time (one at a time again when a batch holds a bad file).
    `should_cancel` is asked before every batch; the files encoded so far are written to the cache every
    `save_seconds`, and first thing when the update is cancelled (Cancelled) or fails."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SoundClipError("the folder to search does not exist", path=folder, fix="check the path")
    file = index_file(folder, kind, space, cache_dir)
    cached, cached_vectors = _read(file, kind, space)
    files = scan(folder, extensions)
    rows: dict[str, int] = {}  # name -> row of cached_vectors
    todo = []
    for name, size, mtime in files:
        hit = cached.get(name)
        if hit is not None and hit[:2] == (size, mtime):
            rows[name] = hit[2]
        else:
            todo.append(name)
    fresh: dict[str, torch.Tensor] = {}
    skipped: list[tuple[Path, str]] = []
    if progress is not None and todo:
        progress(0, len(todo))
    saved = time.monotonic()
    try:
        for first in range(0, len(todo), batch):
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"indexing cancelled after {first} of {len(todo)} new files (those are kept in "
                                f"{file})")
            _encode(folder, todo[first:first + batch], embed, fresh, skipped)
            if progress is not None:
                progress(min(first + batch, len(todo)), len(todo))
            if fresh and time.monotonic() - saved >= save_seconds and first + batch < len(todo):
                _write(file, kind, space, *_gather(files, rows, cached_vectors, fresh))
                saved = time.monotonic()
    except BaseException:
        if fresh:  # keep what was encoded; a failure to write it must not hide why the update stopped
            with contextlib.suppress(SoundClipError, OSError):
                _write(file, kind, space, *_gather(files, rows, cached_vectors, fresh))
        raise
    kept, vectors = _gather(files, rows, cached_vectors, fresh)
    if todo or len(cached) != len(kept):
        _write(file, kind, space, kept, vectors)
    paths = [os.path.join(folder, name) for name, _, _ in kept]
    return Index(folder, kind, space, paths, vectors, skipped, len(todo) - len(skipped), file)


def _encode(folder: Path, group: list[str], embed: Embed, fresh: dict[str, torch.Tensor],
            skipped: list[tuple[Path, str]]) -> None:
    """`group`'s vectors into `fresh` (one call; one file at a time again when one of them cannot be read, which
    goes to `skipped`)."""
    try:
        made = embed([folder / name for name in group])
        fresh.update({name: made[i].float().cpu() for i, name in enumerate(group)})
    except SoundClipError as error:
        if len(group) == 1:
            skipped.append((folder / group[0], str(error)))
            return
        for name in group:
            try:
                fresh[name] = embed([folder / name])[0].float().cpu()
            except SoundClipError as bad:
                skipped.append((folder / name, str(bad)))
