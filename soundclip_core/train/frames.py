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
from ..picture import ImageInputError, fit_square

BATCH = 32


def square(frame: torch.Tensor) -> torch.Tensor:
    """[3, H, W] -> the centred [3, S, S] crop, S = min(H, W) (the inversion's centre crop, no resize)."""
    return fit_square(frame[None], min(frame.shape[-2:]), "crop", name="the frame")[0]


def frame_embeddings(clips: Sequence[Clip], clip_model: ClipModel, cache_dir: Path | None,
                     progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
    """-> (embeddings [N, D] float32 unit rows (zeros where none), has_image [N] bool, unreadable pictures as
    (path, reason)): a clip whose picture cannot be read trains without the image term."""
    has = torch.tensor([c.image is not None for c in clips])
    unreadable: list[tuple[str, str]] = []
    embeddings = torch.zeros(len(clips), clip_model.dim)
    if not bool(has.any()):
        return embeddings, has, unreadable
    rows = [i for i, c in enumerate(clips) if c.image is not None]
    key = hashlib.sha1("|".join([clip_model.space, clip_model.source, *(str(clips[i].image) for i in rows)])
                       .encode()).hexdigest()[:16]
    path = None if cache_dir is None else Path(cache_dir) / f"frames-{key}.safetensors"
    if path is not None and path.is_file():
        try:
            stored = load_file(str(path))
            embeddings[rows], has[rows] = stored["embeddings"], stored["has"].bool()
            return embeddings, has, unreadable
        except Exception as error:
            raise DatasetError(f"corrupt frame-embedding cache ({str(error)[:120]})", path=path,
                               fix="delete it (it is recomputed on the next run)") from error
    for start in tqdm(range(0, len(rows), BATCH), desc="embedding frames", unit="batch", disable=not progress):
        batch, pictures = [], []
        for i in rows[start:start + BATCH]:
            try:
                pictures.append(clip_model.prepare_images(square(load_frame(clips[i].image))[None].to(
                    clip_model.device))[0])
                batch.append(i)
            except (DatasetError, ImageInputError) as error:  # also a frame too small to use
                unreadable.append((str(clips[i].image), error.problem))
                has[i] = False
        if pictures:
            with torch.no_grad():
                features = clip_model.image_features(torch.stack(pictures))
            embeddings[batch] = torch.nn.functional.normalize(features, dim=-1).cpu()
    if path is not None:
        with atomic_path(path) as tmp:
            save_file({"embeddings": embeddings[rows].contiguous(), "has": has[rows].to(torch.uint8)}, str(tmp))
    return embeddings, has, unreadable
