"""`compute_table`: a generator's StyleSpace channel table, batched, resumable, cancellable, saved atomically.

With `path`, the work so far is kept beside it in `<name>.partial.safetensors` after every chunk; a later call
with the same generator, CLIP and settings continues from there (a resumed table equals an uninterrupted one),
and the final table replaces the partial one when complete.

A 1024 px generator's renders do not fit a GPU 32 at a time: the batches (finite: renders; gradient: replicas
of the image batch, see gradient.py) shrink to what 80% of the free memory holds (`fit_batch`, planned with
`memory.py`; on the CPU, of the host memory available), which changes the time, not the table.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import SoundClipError
from ..memory import decode_bytes, edit_step_bytes
from .files import load_partial, save_table, style_layout_json
from .fingerprint import generator_fingerprint
from .finite import finite_rows
from .gradient import gradient_rows
from .layout import MAX_RESOLUTION, table_layout
from .sampling import SEED, TRUNCATION, sample_styles
from .statistics import SAMPLES, channel_statistics
from .table import IMAGES, STRENGTH, ChannelTable, Partial, Progress, check_method


def partial_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix or '.safetensors'}")


REPLICAS = 16  # CLIP dimensions per backward pass of the gradient table (at most: fit_batch may lower it)
HOST_BUDGET = 8 << 30  # at most this much host memory for batches (a CPU gains little from wider ones)


def free_memory(device: torch.device) -> int:
    """Bytes free for batches on `device`: CUDA's own count; for the CPU, the host's available physical memory
    (HOST_BUDGET where the OS does not say), at most HOST_BUDGET."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        return min(HOST_BUDGET, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return HOST_BUDGET


def fit_batch(wanted: int, per_item: Callable[[], int], device: torch.device) -> int:
    """`wanted`, or no more items than 80% of the device's free memory holds at `per_item()` bytes each (at
    least 1)."""
    return max(1, min(wanted, int(free_memory(device) * 0.8) // max(1, per_item())))


def compute_table(generator, clip, method: str = "finite", *, images: int = IMAGES, strength: float = STRENGTH,
                  stats_samples: int = SAMPLES, seed: int = SEED, truncation_psi: float = TRUNCATION,
                  max_resolution: int | None = MAX_RESOLUTION, include_torgb: bool = False, batch_size: int = 32,
                  channels_per_chunk: int = 64, image_batch: int = 4, replicas: int = REPLICAS,
                  path: str | os.PathLike | None = None,
                  progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None,
                  clip_input: str = "area") -> ChannelTable:
    """The [channels, clip_dim] table of `generator` in `clip`'s space (see finite.py / gradient.py).

    `images`: sample images the directions are averaged over (the first of the statistics' draw);
    `batch_size`: renders per forward (finite); `image_batch`: images per forward and `replicas`: CLIP dimensions
    per backward (gradient); `path`: save there (and resume from its partial file). `progress(done, total)` and
    `should_cancel` serve the channel statistics first (when not cached: samples), then the table's work."""
    check_method(method)
    if images < 1:
        raise SoundClipError("a table needs at least 1 image", fix=f"use StyleCLIP's {IMAGES}")
    layout = table_layout(generator, max_resolution, include_torgb)
    stats = channel_statistics(generator, stats_samples, seed, truncation_psi, progress=progress,
                               should_cancel=should_cancel)
    identity = dict(layout=layout, space=clip.space, method=method, generator=generator_fingerprint(generator),
                    stats=stats, images=images, strength=float(strength), clip_input=clip_input)
    styles_json = style_layout_json(generator)
    partial_file = None if path is None else partial_path(path)
    partial = None
    if partial_file is not None:
        partial = load_partial(partial_file, generator, clip.space, layout, method, images, float(strength), stats,
                               clip_input)

    def keep(state: Partial) -> None:
        if partial_file is not None:
            save_table(ChannelTable(state.rows, **identity), partial_file, styles_json, done=state.done)

    styles = sample_styles(generator, images, seed, truncation_psi)
    device = generator.w_avg.device
    if method == "finite":
        batch_size = fit_batch(batch_size, lambda: decode_bytes(generator, 1), device)
        rows = finite_rows(generator, clip, layout, stats, styles, strength, batch_size, channels_per_chunk,
                           partial, keep, progress, should_cancel, clip_input)
    else:
        jacobian = 4 * clip.dim * layout.total  # float32 J of one image
        image_batch = fit_batch(image_batch, lambda: edit_step_bytes(generator, 1) + jacobian, device)
        replicas = fit_batch(replicas, lambda: edit_step_bytes(generator, image_batch), device)
        rows = gradient_rows(generator, clip, layout, styles, image_batch, replicas, partial, keep, progress,
                             should_cancel, clip_input)
    table = ChannelTable(rows, **identity)
    if path is not None:
        save_table(table, path, styles_json)
        partial_file.unlink(missing_ok=True)
    return table
