"""The table cache: one safetensors file per generator, CLIP space, method and settings, in a model folder.

A table costs minutes to hours, so it is made once and kept under the models (`soundclip_tables`, in ComfyUI's
models folder or soundclip's cache folder). The file name carries the generator's weight fingerprint
(`fingerprint.py`: the same weights from any file format are the same generator), the CLIP space, the method,
the image count and a short hash of the other settings, so another generator, space or recipe never finds it.
Computing writes only `<name>.partial.safetensors` (after every chunk, atomically) until the table is whole;
a cancelled or crashed run resumes from there, and the final name holds nothing but complete tables. A cached
file that no longer loads (damaged on disk) is computed again rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import CheckpointError
from ..weights import cache_dir
from .compute import compute_table
from .files import load_table
from .fingerprint import generator_fingerprint
from .layout import MAX_RESOLUTION, table_layout
from .sampling import SEED, TRUNCATION
from .statistics import SAMPLES
from .table import IMAGES, STRENGTH, ChannelTable, Progress, check_method

TABLE_FOLDER = "soundclip_tables"
logger = logging.getLogger(__name__)


def default_table_folder() -> Path:
    """soundclip's cache folder's `soundclip_tables` (the nodes use ComfyUI's models folder instead)."""
    return cache_dir() / TABLE_FOLDER


def _slug(space: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", space).strip("-.")


def table_file(folder: str | os.PathLike, generator, space: str, method: str, images: int = IMAGES,
               **settings) -> Path:
    """The cache file of this table: `<fingerprint>.<space>.<method>.<images>img.<settings hash>.safetensors`."""
    check_method(method)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    return Path(folder) / f"{generator_fingerprint(generator)}.{_slug(space)}.{method}.{images}img.{digest}.safetensors"


def find_cached_table(generator, space: str, folder: str | os.PathLike | None = None) -> ChannelTable | None:
    """The complete table of `generator` in `space` with the most images (the best averaged; by name among
    equals) in `folder`, made with any method or settings, or None. `folder` defaults to soundclip's cache
    folder (`default_table_folder()`, where `soundclip table` writes); the nodes pass ComfyUI's
    models/soundclip_tables, which the CLI does not search (give `--table` for a table made there)."""
    folder = Path(folder or default_table_folder())
    found = []
    for path in sorted(folder.glob(f"{generator_fingerprint(generator)}.{_slug(space)}.*.safetensors")):
        if ".partial." in path.name:
            continue
        try:
            found.append(load_table(path, generator, space))
        except CheckpointError:
            continue
    return max(found, key=lambda table: table.images, default=None)  # max keeps the first of equals


def cache_entry(generator, space: str, method: str = "gradient", folder: str | os.PathLike | None = None, *,
                images: int = IMAGES, seed: int = SEED, strength: float = STRENGTH, stats_samples: int = SAMPLES,
                truncation_psi: float = TRUNCATION, max_resolution: int | None = MAX_RESOLUTION,
                include_torgb: bool = False, clip_input: str = "area") -> tuple[Path, dict]:
    """(the cache file of this table in `folder`, default `default_table_folder()`; `compute_table`'s settings
    for it)."""
    settings = dict(seed=seed, strength=float(strength), stats_samples=stats_samples,
                    truncation_psi=float(truncation_psi), max_resolution=max_resolution,
                    include_torgb=include_torgb, clip_input=clip_input)
    path = table_file(folder or default_table_folder(), generator, space, method, images, **settings)
    return path, dict(images=images, **settings)


def cached_table(generator, clip, method: str = "gradient", folder: str | os.PathLike | None = None, *,
                 progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None,
                 replicas: int | None = None, image_batch: int | None = None, batch_size: int | None = None,
                 **settings) -> ChannelTable:
    """The table from the cache in `folder` (default `default_table_folder()`), computed (or resumed) and kept
    there when missing. `settings`: `cache_entry`'s (which name the file); the batch sizes do not change the
    result, so they are not part of the name."""
    path, settings = cache_entry(generator, clip.space, method, folder, **settings)
    if path.is_file():
        try:
            return load_table(path, generator, clip.space,
                              table_layout(generator, settings["max_resolution"], settings["include_torgb"]))
        except CheckpointError as error:
            logger.warning("soundclip: the cached table %s does not load (%s); computing it again", path, error)
    path.parent.mkdir(parents=True, exist_ok=True)
    batching = {k: v for k, v in dict(replicas=replicas, image_batch=image_batch, batch_size=batch_size).items()
                if v is not None}
    return compute_table(generator, clip, method, path=path, progress=progress, should_cancel=should_cancel,
                         **settings, **batching)
