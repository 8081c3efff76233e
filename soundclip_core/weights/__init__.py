"""Known checkpoints: where they live, and fetching them verified on first use.

`ensure(id_or_path)` is the one entry point: a local path is used as is; a known id is
looked up in the given folders (ComfyUI's model folders) and the cache, and downloaded
if missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import WeightsError
from .checked import CACHE_NAME, check_known_file, remember
from .download import Progress, download, sha256_of
from .manifest import CLIP_IN_ENCODER_FORMATS, KINDS, WeightEntry, find_entry, load_manifest

KIND_FOLDERS = {"stylegan2": "stylegan2", "audio_encoder": "soundclip_audio_encoders", "clip": "clip_soundclip",
                "arcface": "arcface", "perceptual": "perceptual", "e4e": "e4e"}
Request = tuple[str | os.PathLike, str | None] | None  # (id or path, kind); None: not needed this time
SearchDirs = Iterable[Path] | Mapping[str, Iterable[Path]]  # for every kind, or kind -> folders
# Folder names used before: still read, so files placed there are not lost (ComfyUI's own `audio_encoders`
# holds its wav2vec2/whisper encoders, hence our own folder name now).
FORMER_FOLDERS = {"audio_encoder": "audio_encoders"}


def cache_dir() -> Path:
    """$SOUNDCLIP_HOME, else $XDG_CACHE_HOME/soundclip, else ~/.cache/soundclip."""
    if os.environ.get("SOUNDCLIP_HOME"):
        return Path(os.environ["SOUNDCLIP_HOME"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "soundclip"


def _verified_cache() -> Path:
    """Where the checksums of known files already checked are remembered (see `checked`)."""
    return cache_dir() / CACHE_NAME


def local_copy(entry: WeightEntry, search_dirs: Iterable[Path] = ()) -> Path | None:
    cache = [cache_dir() / KIND_FOLDERS[entry.kind]]
    if entry.kind in FORMER_FOLDERS:
        cache.append(cache_dir() / FORMER_FOLDERS[entry.kind])
    for folder in [*map(Path, search_dirs), *cache]:
        if (folder / entry.filename).is_file():
            return folder / entry.filename
    return None


def ensure(id_or_path: str | os.PathLike, *, kind: str | None = None, search_dirs: Iterable[Path] = (),
           progress: Progress | None = None, download_missing: bool = True) -> Path:
    """A local file for a path or known model id, downloading a known model into the first of
    `search_dirs` (else the cache) when it is missing."""
    path = ensure_all([(id_or_path, kind)], search_dirs=search_dirs, progress=progress,
                      download_missing=download_missing)[0]
    assert path is not None
    return path


def ensure_all(requests: Iterable[Request], *, search_dirs: SearchDirs = (), progress: Progress | None = None,
               download_missing: bool = True) -> list[Path | None]:
    """Local files for several (id_or_path, kind) requests, in order (None stays None: not needed).

    Every request is checked before anything is downloaded, so one run names every missing or
    unusable model at once (each with its URL and folder) instead of one per run; then the missing
    ones are downloaded, each tried even when an earlier one failed, and the failures are again
    reported together. `search_dirs` is one list of folders for every kind, or a mapping kind -> folders
    (ComfyUI keeps each kind in its own folder)."""
    located: list[Path | tuple[WeightEntry, Path] | None] = []
    problems: list[WeightsError] = []
    for request in requests:
        where = None
        if request is not None:
            id_or_path, kind = request
            try:
                where = _locate(id_or_path, kind, _dirs_for(search_dirs, kind))
            except WeightsError as error:
                problems.append(error)
            if isinstance(where, tuple) and not download_missing:
                entry, target = where
                problems.append(WeightsError(f"'{entry.id}' is not downloaded", path=target,
                                             fix=f"get it from {entry.urls[0]} into {target.parent}, "
                                                 f"or run `soundclip weights download {entry.id}`"))
        located.append(where)
    _raise_together(problems)
    paths: list[Path | None] = []
    for where in located:
        if isinstance(where, tuple):
            entry, target = where
            try:
                where = download(entry, target, progress)
                if entry.sha256:  # checked while downloading: its first load need not hash it again
                    remember(where, entry.sha256, _verified_cache())
            except WeightsError as error:
                problems.append(error)
                where = None
        paths.append(where)
    _raise_together(problems)
    return paths


def _dirs_for(search_dirs: SearchDirs, kind: str | None) -> list[Path]:
    if isinstance(search_dirs, Mapping):
        return [Path(d) for d in search_dirs.get(kind, ())] if kind else []
    return [Path(d) for d in search_dirs]


def _locate(id_or_path: str | os.PathLike, kind: str | None,
            search_dirs: list[Path]) -> Path | tuple[WeightEntry, Path]:
    """The local file for a request, or the known entry and where to download it; a WeightsError
    when neither can be (unknown id, wrong kind, a file soundclip cannot read)."""
    candidate = Path(id_or_path).expanduser()
    if candidate.is_file():
        return candidate
    try:
        entry = find_entry(str(id_or_path))
    except WeightsError:
        if candidate.suffix or os.sep in str(id_or_path):
            raise WeightsError("file not found", path=candidate,
                               fix="check the path, or use a known id from `soundclip weights list`") from None
        raise
    if kind and entry.kind != kind:
        raise WeightsError(f"'{entry.id}' is a {entry.kind} model, not a {kind} model",
                           fix=f"use a {kind} model: `soundclip weights list` shows each id's kind")
    found = local_copy(entry, search_dirs)
    if found:
        return check_known_file(entry, found, _verified_cache())
    target = (search_dirs[0] if search_dirs else cache_dir() / KIND_FOLDERS[entry.kind]) / entry.filename
    if not entry.loadable:  # downloading would only leave a file we cannot read under the expected name
        raise WeightsError(f"'{entry.id}' is published only as a file soundclip cannot read yet ({entry.notes})",
                           path=target, fix=f"the original is at {entry.urls[0]}; put a file soundclip reads at "
                                            f"{target}, as the note says")
    return entry, target


def _raise_together(problems: list[WeightsError]) -> None:
    """One error for all problems: a single one as it is, several as one list."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise WeightsError(f"{len(problems)} models are missing or unusable:\n{lines}",
                           fix="follow each line's fix, then run again")


def verify(id_or_path: str, search_dirs: Iterable[Path] = ()) -> str:
    """'ok', 'unverified' (no known checksum), 'missing' or 'corrupt' for a known model."""
    entry = find_entry(id_or_path)
    path = local_copy(entry, search_dirs)
    if path is None:
        return "missing"
    if entry.size and path.stat().st_size != entry.size:
        return "corrupt"
    if not entry.sha256:
        return "unverified"
    return "ok" if sha256_of(path) == entry.sha256 else "corrupt"


__all__ = ["CLIP_IN_ENCODER_FORMATS", "KINDS", "KIND_FOLDERS", "WeightEntry", "cache_dir", "download", "ensure",
           "ensure_all", "find_entry", "load_manifest", "local_copy", "verify"]
