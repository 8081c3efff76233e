"""Known checkpoints: where they live, and fetching them verified on first use.

`ensure(id_or_path)` is the one entry point: a local path is used as is; a known id is
looked up in the given folders (ComfyUI's model folders) and the cache, and downloaded
if missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import WeightsError
from .download import Progress, download, sha256_of
from .manifest import KINDS, WeightEntry, find_entry, load_manifest

KIND_FOLDERS = {"stylegan2": "stylegan2", "audio_encoder": "soundclip_audio_encoders", "clip": "clip_soundclip",
                "arcface": "arcface", "perceptual": "perceptual", "e4e": "e4e"}
# Folder names used before: still read, so files placed there are not lost (ComfyUI's own `audio_encoders`
# holds its wav2vec2/whisper encoders, hence our own folder name now).
FORMER_FOLDERS = {"audio_encoder": "audio_encoders"}


def cache_dir() -> Path:
    """$SOUNDCLIP_HOME, else $XDG_CACHE_HOME/soundclip, else ~/.cache/soundclip."""
    if os.environ.get("SOUNDCLIP_HOME"):
        return Path(os.environ["SOUNDCLIP_HOME"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "soundclip"


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
    candidate = Path(id_or_path).expanduser()
    if candidate.is_file():
        return candidate
    search_dirs = [Path(d) for d in search_dirs]
    try:
        entry = find_entry(str(id_or_path))
    except WeightsError:
        if candidate.suffix or os.sep in str(id_or_path):
            raise WeightsError("file not found", path=candidate,
                               fix="check the path, or use a known id from `soundclip weights list`") from None
        raise
    if kind and entry.kind != kind:
        raise WeightsError(f"'{entry.id}' is a {entry.kind} model, not a {kind} model")
    found = local_copy(entry, search_dirs)
    if found:
        return found
    target = (search_dirs[0] if search_dirs else cache_dir() / KIND_FOLDERS[entry.kind]) / entry.filename
    if not entry.loadable:  # downloading would only leave a file we cannot read under the expected name
        raise WeightsError(f"'{entry.id}' is published only as a file soundclip cannot read yet ({entry.notes})",
                           path=target, fix=f"the original is at {entry.urls[0]}; put a file soundclip reads at "
                                            f"{target}, as the note says")
    if not download_missing:
        raise WeightsError(f"'{entry.id}' is not downloaded", path=target, fix=f"get it from {entry.urls[0]}")
    return download(entry, target, progress)


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


__all__ = ["KINDS", "KIND_FOLDERS", "WeightEntry", "cache_dir", "download", "ensure", "find_entry",
           "load_manifest", "local_copy", "verify"]
