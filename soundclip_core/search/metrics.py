"""Retrieval quality when the gallery's labels are known: R@k, mAP and nDCG as the evaluation computes them
(`evaluate.metrics`, binary relevance: same label)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import SoundClipError
from ..evaluate.metrics import retrieval_metrics


def label_metrics(scores: torch.Tensor, query_labels: Sequence[str], gallery_labels: Sequence[str],
                  ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """R@k, mAP and nDCG of queries [Q] against a gallery [G] (`scores` [Q, G]), an item relevant to a query when
    their labels are equal."""
    if scores.shape != (len(query_labels), len(gallery_labels)):
        raise SoundClipError(f"scores {tuple(scores.shape)} for {len(query_labels)} queries and "
                             f"{len(gallery_labels)} gallery items", fix="give one label per query and per item")
    relevant = torch.tensor([[q == g for g in gallery_labels] for q in query_labels], dtype=torch.bool)
    return retrieval_metrics(scores, relevant, ks)
