"""The image side of the objective: frozen CLIP image embeddings of each clip's frame, computed once.

A clip's frame is its image file or its video's middle frame, centre-cropped to a square and prepared
as CLIP expects (area resize, mean/std). The towers are frozen, so the embeddings never change during
training: they are computed before the first epoch and kept in `<cache>/frames-<hash>.safetensors`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..atomic import atomic_path
from ..clip import ClipModel
from ..datasets import Clip, load_frame
from ..errors import DatasetError

BATCH = 32


def square(frame: torch.Tensor) -> torch.Tensor:
    """[3, H, W] -> the centred [3, S, S] crop, S = min(H, W)."""
    h, w = frame.shape[-2:]
    s = min(h, w)
    return frame[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def frame_embeddings(clips: Sequence[Clip], clip_model: ClipModel, cache_dir: Path | None,
                     progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (embeddings [N, D] float32 unit rows (zeros where none), has_image [N] bool). Unreadable pictures
    are an error naming the file (they were listed in the metadata)."""
    has = torch.tensor([c.image is not None for c in clips])
    embeddings = torch.zeros(len(clips), clip_model.dim)
    if not bool(has.any()):
        return embeddings, has
    rows = [i for i, c in enumerate(clips) if c.image is not None]
    key = hashlib.sha1("|".join([clip_model.space, clip_model.source, *(str(clips[i].image) for i in rows)])
                       .encode()).hexdigest()[:16]
    path = None if cache_dir is None else Path(cache_dir) / f"frames-{key}.safetensors"
    if path is not None and path.is_file():
        try:
            embeddings[rows] = load_file(str(path))["embeddings"]
            return embeddings, has
        except Exception as error:
            raise DatasetError(f"corrupt frame-embedding cache ({str(error)[:120]})", path=path,
                               fix="delete it (it is recomputed on the next run)") from error
    done = []
    for start in tqdm(range(0, len(rows), BATCH), desc="embedding frames", unit="batch", disable=not progress):
        batch = rows[start:start + BATCH]
        pixels = torch.stack([clip_model.prepare_images(square(load_frame(clips[i].image))[None].to(
            clip_model.device))[0] for i in batch])
        with torch.no_grad():
            done.append(torch.nn.functional.normalize(clip_model.image_features(pixels), dim=-1).cpu())
    embeddings[rows] = torch.cat(done)
    if path is not None:
        with atomic_path(path) as tmp:
            save_file({"embeddings": embeddings[rows].contiguous()}, str(tmp))
    return embeddings, has
