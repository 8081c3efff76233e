"""A folder's embeddings, cached: what a search ranks, kept up to date without re-encoding what did not change.

One safetensors file per folder, kind (images or sounds) and CLIP space: the unit vectors [N, D] and, in its
metadata, each file's path (relative to the folder), size and modification time (ns). A file is encoded again
when any of the three differs, dropped when it is gone; the others are read back. Files that cannot be read are
listed (`skipped`, with the reason) and left out, and tried again next time (they may have been fixed).

The cache lives in the folder (`.soundclip_index/`), or under `cache_dir` when given, or, when the folder is
not writable, under soundclip's cache folder (`$SOUNDCLIP_HOME/search/`), named after the folder's path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_path
from ..errors import SoundClipError
from ..weights import cache_dir as soundclip_cache

INDEX_FOLDER = ".soundclip_index"
FORMAT = 1

Embed = Callable[[Sequence[Path]], torch.Tensor]  # files -> unit vectors [n, D]; raises SoundClipError for a bad one
Progress = Callable[[int, int], None]


@dataclass
class Index:
    """The vectors [N, D] (unit rows, CPU) of `paths` in `space`; `skipped`: (path, why) of unreadable files."""

    folder: Path
    kind: str
    space: str
    paths: list[Path]
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


def list_files(folder: Path, extensions: Sequence[str]) -> list[Path]:
    """The folder's files with these suffixes, in and below it (hidden folders skipped), sorted."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.suffix.lower() in extensions and not any(p.startswith(".") for p in relative.parts) \
                and path.is_file():
            found.append(path)
    return sorted(found)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _read(file: Path, kind: str, space: str) -> dict[str, tuple[int, int, torch.Tensor]]:
    """relative path -> (size, mtime_ns, vector) from a cache file; {} when absent, stale in format, or damaged."""
    if not file.is_file():
        return {}
    try:
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
            entries = json.loads(meta.get("entries", "[]"))
            if meta.get("format") != str(FORMAT) or meta.get("kind") != kind or meta.get("space") != space:
                return {}
            vectors = f.get_tensor("vectors") if entries else torch.zeros(0, 0)
    except Exception:  # noqa: BLE001 (a damaged cache is rebuilt, never trusted)
        return {}
    if vectors.shape[0] != len(entries):
        return {}
    return {name: (size, mtime, vectors[i]) for i, (name, size, mtime) in enumerate(entries)}


def _write(file: Path, kind: str, space: str, names: list[str], stamps: list[tuple[int, int]],
           vectors: torch.Tensor) -> None:
    entries = [[name, size, mtime] for name, (size, mtime) in zip(names, stamps, strict=True)]
    meta = {"format": str(FORMAT), "kind": kind, "space": space, "entries": json.dumps(entries)}
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as tmp:
        save_file({"vectors": vectors.contiguous()}, str(tmp), metadata=meta)


def build_index(folder: str | os.PathLike, kind: str, space: str, extensions: Sequence[str], embed: Embed,
                cache_dir: str | os.PathLike | None = None, progress: Progress | None = None,
                batch: int = 16) -> Index:
    """The index of `folder`'s files of `kind` in `space`, updated from its cache (module docstring): only new or
    changed files go through `embed`, `batch` at a time (one at a time again when a batch holds a bad file)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SoundClipError("the folder to search does not exist", path=folder, fix="check the path")
    file = index_file(folder, kind, space, cache_dir)
    cached = _read(file, kind, space)
    paths = list_files(folder, extensions)
    names = [p.relative_to(folder).as_posix() for p in paths]
    stamps = [_stamp(p) for p in paths]
    vectors: dict[str, torch.Tensor] = {}
    todo = []
    for path, name, stamp in zip(paths, names, stamps, strict=True):
        hit = cached.get(name)
        if hit is not None and hit[:2] == stamp:
            vectors[name] = hit[2]
        else:
            todo.append((path, name))
    skipped: list[tuple[Path, str]] = []
    if progress is not None and todo:
        progress(0, len(todo))
    for first in range(0, len(todo), batch):
        group = todo[first:first + batch]
        try:
            made = embed([path for path, _ in group])
            vectors.update({name: made[i].float().cpu() for i, (_, name) in enumerate(group)})
        except SoundClipError as error:
            if len(group) == 1:
                skipped.append((group[0][0], str(error)))
            else:
                for path, name in group:
                    try:
                        vectors[name] = embed([path])[0].float().cpu()
                    except SoundClipError as bad:
                        skipped.append((path, str(bad)))
        if progress is not None:
            progress(min(first + batch, len(todo)), len(todo))
    kept = [i for i, name in enumerate(names) if name in vectors]
    kept_names = [names[i] for i in kept]
    matrix = torch.stack([vectors[n] for n in kept_names]) if kept_names else torch.zeros(0, 0)
    if todo or len(cached) != len(kept_names):
        _write(file, kind, space, kept_names, [stamps[i] for i in kept], matrix)
    return Index(folder, kind, space, [paths[i] for i in kept], matrix, skipped, len(todo) - len(skipped), file)
