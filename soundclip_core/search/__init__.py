"""Retrieval: a folder (or a batch) of pictures ranked by a sound, a folder of sounds by a picture, in one CLIP
space, from cached indexes; retrieval metrics when labels are known."""

from __future__ import annotations

import os

import torch

from ..embedding import Embedding
from .index import Index, build_index, index_file, scan
from .media import IMAGE_EXTENSIONS, SOUND_EXTENSIONS, embed_pictures, embed_sounds, image_vectors
from .metrics import label_metrics
from .rank import Ranking, rank


def _ranked(index: Index, query: Embedding) -> Ranking:
    ranking = rank(query, index.vectors, index.paths, index.space)
    ranking.skipped = index.skipped
    return ranking


def search_pictures(folder: str | os.PathLike, query: Embedding, clip, cache_dir: str | os.PathLike | None = None,
                    progress=None, should_cancel=None) -> Ranking:
    """The pictures of `folder` ranked by cosine with `query` (a sound, text or mix in `clip`'s space)."""
    index = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, embed_pictures(clip), cache_dir, progress,
                        should_cancel=should_cancel)
    return _ranked(index, query)


def search_sounds(folder: str | os.PathLike, query: Embedding, encoder, cache_dir: str | os.PathLike | None = None,
                  progress=None, should_cancel=None) -> Ranking:
    """The sounds of `folder` ranked by cosine with `query` (a picture's or text's embedding in `encoder`'s space)."""
    index = build_index(folder, "sounds", encoder.space, SOUND_EXTENSIONS, embed_sounds(encoder), cache_dir, progress,
                        should_cancel=should_cancel)
    return _ranked(index, query)


def picture_query(images: torch.Tensor, clip, source: str = "picture") -> Embedding:
    """A picture [1, 3, H, W] in [-1, 1] as a query: its CLIP embedding, made as the index makes a folder's."""
    return Embedding(image_vectors(clip, images).cpu(), clip.space, source)


def rank_pictures(images: torch.Tensor, query: Embedding, clip) -> Ranking:
    """A batch of pictures [B, 3, H, W] in [-1, 1] ranked by cosine with `query`; items are "#i" (batch positions)."""
    return rank(query, image_vectors(clip, images).cpu(), [f"#{i}" for i in range(images.shape[0])], clip.space)


__all__ = ["IMAGE_EXTENSIONS", "SOUND_EXTENSIONS", "Index", "Ranking", "build_index", "index_file",
           "label_metrics", "picture_query", "rank", "rank_pictures", "scan", "search_pictures", "search_sounds"]
