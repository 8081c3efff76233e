"""Resuming an evaluation: the embeddings of a dataset's clips through one encoder, saved as they are made.

A run over AudioSet's 20k eval clips takes hours on a CPU; when it is interrupted, the next run with the same
encoder file and the same clip list takes up where the saved part stops. The part is one `.npz` (plain arrays,
read with allow_pickle=False: nothing in it can run) named by a hash of the encoder (kind, space, size, its
file's path, size and modification time) and of the clips (the same of each, in order), written atomically every
`SAVE_SECONDS` and at the end. Memory stays bounded: vectors [N, D] float32 and flags, never audio
(20k x 1024-d: 80 MB).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..atomic import atomic_path

if TYPE_CHECKING:
    from ..encoders import AudioEncoder

SAVE_SECONDS = 30.0
VERSION = 1


def _file_stamp(source: str) -> str:
    path = Path(source)
    if not path.is_file():
        return source
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def embedding_key(encoder: AudioEncoder, paths: Sequence[Path]) -> str:
    """What the saved embeddings depend on: the encoder's identity and the clips (path, size, modification
    time: a clip downloaded again is embedded again), in order."""
    described = json.dumps({"version": VERSION, "kind": encoder.kind, "space": encoder.space, "dim": encoder.dim,
                            "encoder": _file_stamp(encoder.source), "frontend": encoder.config}, sort_keys=True,
                           default=str)
    digest = hashlib.sha1(described.encode())
    for path in paths:
        digest.update(_file_stamp(str(path)).encode() + b"\0")
    return digest.hexdigest()


@dataclass
class SavedPart:
    """The first `done` clips: their vectors [done, D], ok flags [done], the (path, reason) pairs skipped."""

    done: int
    vectors: torch.Tensor
    ok: torch.Tensor
    skipped: list[tuple[str, str]]


class EmbeddingStore:
    """The saved part of one (encoder, clip list) at `folder/<key>.npz`."""

    def __init__(self, folder: str | os.PathLike, encoder: AudioEncoder, paths: Sequence[Path]):
        self.key = embedding_key(encoder, paths)
        self.path = Path(folder) / f"{encoder.kind}-{self.key[:20]}.npz"
        self.dim, self.count = encoder.dim, len(paths)

    def load(self) -> SavedPart | None:
        """The saved part, or None (none yet, another key, or an unreadable file, which is then recomputed)."""
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                if str(saved["key"]) != self.key:
                    return None
                vectors, ok = saved["vectors"], saved["ok"]
                skipped = [tuple(row) for row in saved["skipped"].tolist()]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        done = len(ok)
        if vectors.shape != (done, self.dim) or done > self.count:
            return None
        return SavedPart(done, torch.from_numpy(vectors.astype(np.float32)), torch.from_numpy(ok.astype(bool)),
                         skipped)

    def save(self, done: int, vectors: torch.Tensor, ok: torch.Tensor, skipped: list[tuple[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp, open(tmp, "wb") as f:
            np.savez(f, key=np.array(self.key), vectors=vectors[:done].numpy(), ok=ok[:done].numpy(),
                     skipped=np.array(skipped, dtype=str).reshape(-1, 2))
