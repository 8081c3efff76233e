"""The manifest of known checkpoints (`weights/manifest.json`): data, validated on load."""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError

KINDS = ("stylegan2", "audio_encoder", "clip", "arcface", "perceptual", "e4e")
# audio encoder files that also hold the CLIP towers of their space (AudioCLIP: RN50; ImageBind: ViT-H-14)
CLIP_IN_ENCODER_FORMATS = ("audioclip-pt", "imagebind-pth")
# A built wheel carries a copy of the checkout's `weights/manifest.json` inside the package (setup.py puts it
# there); a checkout (ComfyUI custom_nodes clone, editable install) reads the one file in `weights/`.
PACKAGED_MANIFEST = Path(__file__).with_name("manifest.json")
CHECKOUT_MANIFEST = Path(__file__).resolve().parents[2] / "weights" / "manifest.json"


@dataclass(frozen=True)
class WeightEntry:
    """One downloadable checkpoint. `sha256` is None where no published checksum could be verified."""

    id: str
    kind: str
    format: str
    filename: str
    urls: tuple[str, ...]
    sha256: str | None = None
    size: int | None = None
    resolution: int | None = None
    space: str | None = None
    license: str = "unknown"
    source: str = ""
    loadable: bool = True
    notes: str = ""


def manifest_path() -> Path:
    """$SOUNDCLIP_MANIFEST, else the checkout's `weights/manifest.json`, else the copy inside an installed wheel."""
    if "SOUNDCLIP_MANIFEST" in os.environ:
        return Path(os.environ["SOUNDCLIP_MANIFEST"])
    return CHECKOUT_MANIFEST if CHECKOUT_MANIFEST.is_file() else PACKAGED_MANIFEST


def load_manifest(path: str | os.PathLike | None = None) -> list[WeightEntry]:
    """All entries, checked: unique ids, unique file names per kind, known kinds, well-formed sha256."""
    path = Path(path) if path else manifest_path()
    try:
        raw = json.loads(path.read_text())
        entries = [WeightEntry(**{**item, "urls": tuple(item["urls"])}) for item in raw["models"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise WeightsError(f"cannot read the weights manifest ({error})", path=path,
                           fix="correct that file (or unset SOUNDCLIP_MANIFEST if you set it); if it is soundclip's "
                               "own, reinstall soundclip") from error
    seen: set[str] = set()
    files: set[tuple[str, str]] = set()
    for e in entries:
        problem = ("duplicate id" if e.id in seen else "unknown kind" if e.kind not in KINDS
                   else "duplicate file name" if (e.kind, e.filename) in files
                   else "bad sha256" if e.sha256 and not re.fullmatch(r"[0-9a-f]{64}", e.sha256)
                   else "no url" if not e.urls else None)
        if problem:
            raise WeightsError(f"manifest entry '{e.id}': {problem}", path=path,
                               fix=f"correct or remove the entry '{e.id}' in that file")
        seen.add(e.id)
        files.add((e.kind, e.filename))
    return entries


def find_entry(model_id: str, entries: list[WeightEntry] | None = None) -> WeightEntry:
    entries = load_manifest() if entries is None else entries
    for e in entries:
        if e.id == model_id:
            return e
    close = difflib.get_close_matches(model_id, [e.id for e in entries], n=3)
    raise WeightsError(f"unknown model id '{model_id}'" + (f"; did you mean {', '.join(close)}?" if close else ""),
                       fix="run `soundclip weights list` to see the known models, or pass a file path")
