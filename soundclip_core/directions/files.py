"""Table files: safetensors with the identity of what the table was made for, written atomically.

Tensors: "rows" [channels, clip_dim] and the channel statistics "mean.{i}" / "std.{i}" of every style
layer i. Metadata: the generator's weight fingerprint, the CLIP space, the method, the table's channel
layout and the generator's full style layout, the image count, the strength, the statistics' settings (their
seed and truncation also draw the table's images), the CLIP input mode, and "done" (the finished amount of a
partial table, which only `compute_table` reads, to resume: only with every one of these settings equal, so a
resumed table never mixes rows of two recipes). Loading
refuses, by name and with a fix, a table made for another generator, space or layout, a partial, truncated
or NaN table.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_path
from ..errors import CheckpointError
from .fingerprint import generator_fingerprint
from .layout import ChannelLayout
from .statistics import StyleStats
from .table import ChannelTable, Partial

FORMAT = "soundclip-stylespace-table"
VERSION = "1"
logger = logging.getLogger(__name__)
REMAKE = "compute the table again for this generator and CLIP (`compute_table`)"


def style_layout_json(generator) -> str:
    return json.dumps([[la.name, la.channels] for la in generator.style_layers])


def _metadata(table: ChannelTable, styles_json: str, done: int | None) -> dict[str, str]:
    s = table.stats
    return {"format": FORMAT, "version": VERSION, "generator": table.generator, "space": table.space,
            "method": table.method, "layout": table.layout.to_json(), "style_layers": styles_json,
            "images": str(table.images), "strength": repr(table.strength), "stats_samples": str(s.samples),
            "stats_seed": str(s.seed), "stats_truncation": repr(s.truncation_psi), "clip_input": table.clip_input,
            "complete": "1" if done is None else "0", "done": "" if done is None else str(done)}


def save_table(table: ChannelTable, path: str | os.PathLike, styles_json: str, done: int | None = None) -> Path:
    """Write `table` (or, with `done`, a partial one) atomically; `styles_json` = `style_layout_json(generator)`."""
    tensors = {"rows": table.rows.float().contiguous()}
    for i, (m, sd) in enumerate(zip(table.stats.mean, table.stats.std, strict=True)):
        tensors[f"mean.{i}"], tensors[f"std.{i}"] = m.float().contiguous(), sd.float().contiguous()
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=_metadata(table, styles_json, done))
    return path


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    if not path.is_file():
        raise CheckpointError("no StyleSpace table here", path=path, fix=REMAKE)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as error:  # safetensors reports a short or garbled file in its own words
        raise CheckpointError(f"the StyleSpace table is truncated or not a safetensors file ({str(error)[:120]})",
                              path=path, fix=REMAKE) from error
    if metadata.get("format") != FORMAT:
        raise CheckpointError("this safetensors file is not a soundclip StyleSpace table", path=path,
                              fix="give a table written by compute_table")
    return metadata, tensors


def _build(path: Path, metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> tuple[ChannelTable, int | None]:
    try:
        layout = ChannelLayout.from_json(metadata["layout"])
        layers = json.loads(metadata["style_layers"])
        stats = StyleStats([tensors[f"mean.{i}"] for i in range(len(layers))],
                           [tensors[f"std.{i}"] for i in range(len(layers))], int(metadata["stats_samples"]),
                           int(metadata["stats_seed"]), float(metadata["stats_truncation"]))
        table = ChannelTable(tensors["rows"], layout, metadata["space"], metadata["method"], metadata["generator"],
                             stats, int(metadata["images"]), float(metadata["strength"]),
                             metadata.get("clip_input", "area"))  # tables from before it was stored: the default
        done = None if metadata["complete"] == "1" else int(metadata["done"])
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"the StyleSpace table's metadata or tensors are incomplete ({error})", path=path,
                              fix=REMAKE) from error
    if table.rows.ndim != 2 or table.rows.shape[0] != layout.total or any(
            m.shape != (c,) or s.shape != (c,) for m, s, (_, c) in zip(stats.mean, stats.std, layers, strict=True)):
        raise CheckpointError(f"the StyleSpace table's rows {tuple(table.rows.shape)} do not fit its layout of "
                              f"{layout.total} channels", path=path, fix=REMAKE)
    if not all(bool(torch.isfinite(t).all()) for t in (table.rows, *stats.mean, *stats.std)):
        raise CheckpointError("the StyleSpace table contains NaN or inf", path=path, fix=REMAKE)
    return table, done


def _check_identity(path: Path, metadata: dict[str, str], generator, space: str | None,
                    layout: ChannelLayout | None) -> None:
    if generator is not None:
        mine = generator_fingerprint(generator)
        if metadata.get("generator") != mine:
            raise CheckpointError(f"this StyleSpace table was made for generator {metadata.get('generator')}, "
                                  f"not {mine} ({generator.source})", path=path,
                                  fix="use the table made for this generator, or compute one for it")
        if metadata.get("style_layers") != style_layout_json(generator):
            raise CheckpointError("this StyleSpace table's style layout is not this generator's", path=path, fix=REMAKE)
    if space is not None and metadata.get("space") != space:
        raise CheckpointError(f"this StyleSpace table is in CLIP space '{metadata.get('space')}', not '{space}'",
                              path=path, fix="use the table made with this CLIP model, or compute one with it")
    if layout is not None and metadata.get("layout") != layout.to_json():
        raise CheckpointError(f"this StyleSpace table covers the layers {metadata.get('layout')}, not "
                              f"{layout.to_json()}", path=path, fix="compute the table with the same layer choice")


def load_table(path: str | os.PathLike, generator=None, space: str | None = None,
               layout: ChannelLayout | None = None) -> ChannelTable:
    """A complete table from `path`, checked against `generator` (its weights and style layout), CLIP `space`
    and channel `layout` where given."""
    path = Path(path)
    metadata, tensors = _read(path)
    _check_identity(path, metadata, generator, space, layout)
    table, done = _build(path, metadata, tensors)
    if done is not None:
        raise CheckpointError(f"this StyleSpace table is unfinished ({done} done)", path=path,
                              fix="resume it with compute_table(..., path=the final table's path)")
    return table


def load_partial(path: Path, generator, space: str, layout: ChannelLayout, method: str, images: int,
                 strength: float, stats: StyleStats, clip_input: str) -> Partial | None:
    """The resumable state in a partial file for exactly this computation, or None: nothing there, or made with
    other settings (generator, space, layout, method, images, strength, the statistics' samples, seed and
    truncation, the CLIP input mode), which a fresh start overwrites, with a warning in the log."""
    if not path.is_file():
        return None
    try:
        metadata, tensors = _read(path)
        _check_identity(path, metadata, generator, space, layout)
        table, done = _build(path, metadata, tensors)
    except CheckpointError as error:
        logger.warning("soundclip: starting the table over: the partial table %s is not this one's (%s)",
                       path, error.args[0] if error.args else error)
        return None
    if done is None:
        return None
    mine = dict(method=method, images=images, strength=float(strength), stats_samples=stats.samples,
                seed=stats.seed, truncation_psi=float(stats.truncation_psi), clip_input=clip_input)
    theirs = dict(method=table.method, images=table.images, strength=table.strength,
                  stats_samples=table.stats.samples, seed=table.stats.seed,
                  truncation_psi=table.stats.truncation_psi, clip_input=metadata.get("clip_input"))
    differ = sorted(k for k in mine if mine[k] != theirs[k])
    if differ:
        logger.warning("soundclip: starting the table over: the partial table %s was made with other settings (%s)",
                       path, ", ".join(f"{k} {theirs[k]!r}, now {mine[k]!r}" for k in differ))
        return None
    return Partial(table.rows, done)
