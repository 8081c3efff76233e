"""The feature cache: every clip's log-mel computed once, so epochs never decode audio again.

As the official curate.py saves mels, we save each clip's scaled log-mel [n_mels, frames] (float16,
values in [0, 1]) as one .npy under `<cache>/<kind>-<front-end hash>/`, named by a hash of the clip's
path, size and modification time (an edited file is recomputed). The windowing, resize and
SpecAugment happen per epoch on top (they are random). Building is resumable (finished files are
kept, each written atomically) and parallel (DataLoader workers); clips that cannot be decoded are
listed in `unreadable.txt` beside the features and skipped. Under torchrun the processes of a node
split the work, so a node-local cache works too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..atomic import atomic_path
from ..audio import Audio, load_audio
from ..datasets import VIDEO_EXTENSIONS, Clip, load_clip_audio
from ..encoders.frontends import soundclip_mel
from ..errors import DatasetError, SoundClipError
from ..optional import require
from . import distributed

FEATURE_VERSION = 2  # 2: sound files over MAX_SECONDS are read as evenly spaced segments, not their first minute
FRONTEND_KEYS = ("sample_rate", "n_fft", "hop_length", "n_mels", "top_db")
MAX_SECONDS = 60.0  # of each clip's sound kept: a training window is ~10 s
SEGMENTS = 6  # a sound file longer than MAX_SECONDS is read as this many evenly spaced segments


def frontend_hash(kind: str, cfg: dict) -> str:
    described = json.dumps({"kind": kind, "version": FEATURE_VERSION, **{k: cfg[k] for k in FRONTEND_KEYS}},
                           sort_keys=True)
    return hashlib.sha1(described.encode()).hexdigest()[:12]


def compute_features(path: Path, cfg: dict) -> np.ndarray:
    """A clip's scaled log-mel [n_mels, frames] as float16 (decode, mono, resample, mel: the slow part). Any
    sample rate is resampled to the front end's."""
    audio = _long_file_segments(path) or load_clip_audio(path, max_seconds=MAX_SECONDS * 10)
    audio = audio.mono().resample(cfg["sample_rate"])
    waveform = audio.waveform[0, :int(MAX_SECONDS * cfg["sample_rate"])]
    return soundclip_mel(waveform, cfg).numpy().astype(np.float16)


def _long_file_segments(path: Path) -> Audio | None:
    """A sound file over MAX_SECONDS (an hour-long recording) as SEGMENTS evenly spaced segments joined, MAX_SECONDS
    in all: only those spans are decoded, so memory stays bounded however long the file; None for other files
    (and videos, which keep their 10-minute limit)."""
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return None
    soundfile = require("soundfile", "reading sound files")
    try:
        info = soundfile.info(str(path))
        seconds = info.frames / info.samplerate
    except Exception:  # unreadable headers get load_audio's own error
        return None
    if seconds <= MAX_SECONDS:
        return None
    span = MAX_SECONDS / SEGMENTS
    starts = np.linspace(0.0, seconds - span, SEGMENTS)
    parts = [load_audio(path, start=float(s), duration=span, allow_silence=True).waveform for s in starts]
    return Audio(torch.cat(parts, dim=1), int(info.samplerate), str(path)).require_sound()


class _Builder(torch.utils.data.Dataset):
    """Computes and writes the features of the clips not cached yet (runs in DataLoader workers)."""

    def __init__(self, cache: FeatureCache, clips: Sequence[Clip]):
        self.cache, self.clips = cache, clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[str, str]:
        clip = self.clips[i]
        try:
            features = compute_features(clip.audio, self.cache.cfg)
        except SoundClipError as error:
            return str(clip.audio), error.problem
        except Exception as error:  # a decoder crash on one file must not stop a run of thousands
            return str(clip.audio), f"{type(error).__name__}: {str(error)[:200]}"
        with atomic_path(self.cache.path_for(clip)) as tmp, open(tmp, "wb") as f:
            np.save(f, features)
        return str(clip.audio), ""


@dataclass
class CacheReport:
    usable: list[int]  # indices of the clips that have features
    computed: int
    unreadable: list[tuple[str, str]]  # (path, reason)
    listing: Path

    def summary(self) -> str:
        line = f"features: {len(self.usable)} clips ready ({self.computed} computed now)"
        if self.unreadable:
            line += f", {len(self.unreadable)} unreadable and skipped (listed in {self.listing})"
        return line


class FeatureCache:
    def __init__(self, root: str | os.PathLike, kind: str, cfg: dict):
        self.cfg = cfg
        self.dir = Path(root) / f"{kind}-{frontend_hash(kind, cfg)}"

    def path_for(self, clip: Clip) -> Path:
        stat = clip.audio.stat()
        key = f"{clip.audio}|{stat.st_size}|{stat.st_mtime_ns}"
        return self.dir / f"{hashlib.sha1(key.encode()).hexdigest()[:24]}.npy"

    def load(self, clip: Clip) -> np.ndarray:
        path = self.path_for(clip)
        try:
            return np.load(path)
        except (OSError, ValueError) as error:
            raise DatasetError(f"corrupt feature cache file for {clip.audio} ({str(error)[:120]})", path=path,
                               fix="delete it (it is recomputed on the next run)") from error

    def check(self, path: Path) -> bool:
        """Whether a cached file is whole: a readable .npy header of [n_mels, frames] float16 and all its bytes."""
        try:
            array = np.load(path, mmap_mode="r")
            return array.dtype == np.float16 and array.ndim == 2 and array.shape[0] == self.cfg["n_mels"]
        except (OSError, ValueError):
            return False

    def build(self, clips: Sequence[Clip], workers: int = 0, progress: bool = True) -> CacheReport:
        """Compute the missing features; a corrupt existing file is an error naming it (not silently reused)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        missing = []
        for clip in clips:
            path = self.path_for(clip)
            if not path.is_file():
                missing.append(clip)
            elif not self.check(path):
                raise DatasetError(f"corrupt feature cache file (for {clip.audio})", path=path,
                                   fix="delete it (it is recomputed on the next run)")
        node = distributed.current()
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if node.active else 1
        mine = missing[node.local_rank::local_world] if node.active else missing
        failures: list[tuple[str, str]] = []
        loader = torch.utils.data.DataLoader(_Builder(self, mine), batch_size=None, num_workers=workers)
        for path, reason in tqdm(loader, total=len(mine), desc="caching features", unit="clip",
                                 disable=not (progress and node.main) or not mine):
            if reason:
                failures.append((path, reason))
        part = self.dir / f"unreadable.{node.rank}.part.txt"
        part.write_text("".join(f"{p}\t{r}\n" for p, r in failures))
        distributed.barrier()
        listing = self.dir / "unreadable.txt"
        unreadable = sorted({tuple(line.split("\t", 1)) for f in self.dir.glob("unreadable.*.part.txt")
                             for line in f.read_text().splitlines() if line})
        distributed.barrier()
        if node.main:
            with atomic_path(listing) as tmp:
                tmp.write_text("".join(f"{p}\t{r}\n" for p, r in unreadable))
        part.unlink(missing_ok=True)
        bad = {p for p, _ in unreadable}
        usable = [i for i, c in enumerate(clips) if str(c.audio) not in bad and self.path_for(c).is_file()]
        return CacheReport(usable, len(missing) - len(unreadable), unreadable, listing)


class CachedFeatures:
    """i -> the cached log-mel of clips[i] (picklable, for DataLoader workers)."""

    def __init__(self, cache: FeatureCache, clips: Sequence[Clip]):
        self.cache, self.clips = cache, list(clips)

    def __len__(self) -> int:
        return len(self.clips)

    def __call__(self, i: int) -> np.ndarray:
        return self.cache.load(self.clips[i])

    def __getitem__(self, i: int) -> np.ndarray:
        return self(i)
