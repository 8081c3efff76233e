"""Every clip of a dataset through one encoder, once: decoding ahead in threads, the network in batches.

Decoding and the frontend (resampling, spectrogram) of the next clips run in worker threads, each with
one torch thread, while the network encodes the current batch (soundfile, soxr and torch release the GIL).
A clip that cannot be read or encoded is skipped and listed with the reason; it never stops the run. With a
`cache` folder the embeddings made so far are saved as the run goes (`resume.EmbeddingStore`), and a run
interrupted takes up where the saved part stops.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..datasets import load_clip_audio
from ..errors import SoundClipError
from .resume import SAVE_SECONDS, EmbeddingStore

if TYPE_CHECKING:
    from ..encoders import AudioEncoder

BATCH_SIZE = 16  # clips per network pass (ESC-50: one 864-frame window each)
WORKERS = 2
CLIP_ERRORS = (SoundClipError, RuntimeError, ValueError)  # what one bad clip can raise; anything else is a bug


@dataclass
class ClipEmbeddings:
    """vectors: [N, D] unit rows (zero for skipped clips); ok: [N] bool; skipped: (path, reason) pairs;
    seconds: 'decode' and 'frontend' (summed over worker threads), 'network' and 'wall'; resumed: how many of
    the first clips came from the cache (not counted in the rate)."""

    vectors: torch.Tensor
    ok: torch.Tensor
    skipped: list[tuple[str, str]]
    seconds: dict[str, float] = field(default_factory=dict)
    resumed: int = 0

    @property
    def clips_per_second(self) -> float:
        return int(self.ok[self.resumed:].sum()) / max(self.seconds.get("wall", 0.0), 1e-9)


def _prepare(encoder: AudioEncoder, path: Path) -> tuple[torch.Tensor | str, float, float]:
    """(network inputs or the reason the clip is skipped, decode seconds, frontend seconds)."""
    start = time.perf_counter()
    try:
        audio = load_clip_audio(path)
        decoded = time.perf_counter()
        inputs = encoder.prepare(audio)
    except CLIP_ERRORS as error:
        return str(error), time.perf_counter() - start, 0.0
    return inputs, decoded - start, time.perf_counter() - decoded


def embed_clips(encoder: AudioEncoder, paths: Sequence[Path], *, batch_size: int = BATCH_SIZE, workers: int = WORKERS,
                progress: Callable[[int, int], None] | None = None, cache: str | os.PathLike | None = None,
                save_seconds: float = SAVE_SECONDS) -> ClipEmbeddings:
    """Embed every file of `paths` with `encoder`; `workers=0` decodes inline. `cache`: a folder where the
    embeddings are saved every `save_seconds` and at the end, and from which an interrupted run resumes."""
    started = time.perf_counter()
    vectors = torch.zeros(len(paths), encoder.dim)
    ok = torch.zeros(len(paths), dtype=torch.bool)
    skipped: list[tuple[str, str]] = []
    store = None if cache is None else EmbeddingStore(cache, encoder, paths)
    saved = None if store is None else store.load()
    first = 0
    if saved is not None:
        first = saved.done
        vectors[:first], ok[:first], skipped = saved.vectors, saved.ok, list(saved.skipped)
    last_save = time.perf_counter()
    seconds = {"decode": 0.0, "frontend": 0.0, "network": 0.0}
    # one torch thread per worker: small ops on a shared pool wait on each other (10-30x slower on a busy CPU)
    pool = ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) if workers > 0 else None
    pending: deque = deque()
    batch: list[tuple[int, torch.Tensor]] = []

    def submit(index: int) -> None:
        pending.append(pool.submit(_prepare, encoder, paths[index]) if pool else None)

    def flush() -> None:
        tick = time.perf_counter()
        try:
            rows = encoder.embed_inputs([x for _, x in batch], batch_size)
            for (index, _), row in zip(batch, rows, strict=True):
                vectors[index], ok[index] = row, True
        except CLIP_ERRORS:  # one clip the network cannot take: find it by encoding the batch one by one
            for index, inputs in batch:
                try:
                    vectors[index], ok[index] = encoder.embed_inputs([inputs])[0], True
                except CLIP_ERRORS as error:
                    skipped.append((str(paths[index]), f"the encoder cannot take this clip ({str(error)[:200]})"))
        seconds["network"] += time.perf_counter() - tick
        batch.clear()

    if progress is not None:
        progress(first, len(paths))  # the work starts now: a progress bar's clock and rate start here
    try:
        ahead = 2 * batch_size
        for index in range(first, min(first + ahead, len(paths))):
            submit(index)
        for index in range(first, len(paths)):
            future = pending.popleft()
            inputs, decode, frontend = future.result() if future else _prepare(encoder, paths[index])
            if index + ahead < len(paths):
                submit(index + ahead)
            seconds["decode"] += decode
            seconds["frontend"] += frontend
            if isinstance(inputs, str):
                skipped.append((str(paths[index]), inputs))
            else:
                batch.append((index, inputs))
            if len(batch) == batch_size or (index == len(paths) - 1 and batch):
                flush()
            if not batch:  # every clip so far is embedded or skipped
                if store is not None and (index + 1 == len(paths) or
                                          time.perf_counter() - last_save >= save_seconds):
                    store.save(index + 1, vectors, ok, skipped)
                    last_save = time.perf_counter()
                if progress is not None:
                    progress(index + 1, len(paths))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    seconds["wall"] = time.perf_counter() - started
    return ClipEmbeddings(vectors, ok, skipped, seconds, first)
