"""Retrieval quality when the gallery's labels are known: R@k, mAP and nDCG as the evaluation computes them
(`evaluate.metrics`, binary relevance: same label), plus Objects that Sound's graded nDCG@p (Arandjelović and
Zisserman 2018): relevance C - d from a distance d between labels (theirs: the AudioSet ontology tree, C = 20)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import SoundClipError
from ..evaluate.metrics import retrieval_metrics


def graded_ndcg(scores: torch.Tensor, relevance: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Per query [Q]: DCG_k / IDCG_k with DCG_k = sum_{i<=k} rel_i / log2(i + 1) over the ranking by `scores`
    [Q, G], rel the graded `relevance` [Q, G] (>= 0), IDCG_k the same over relevance sorted best first."""
    if bool((relevance < 0).any()):
        raise SoundClipError("graded relevance must not be negative", fix="clip C - d at 0")
    k = scores.shape[1] if k is None else min(k, scores.shape[1])
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float32))
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    dcg = (relevance.float().gather(1, order)[:, :k] * discount).sum(1)
    ideal = (torch.sort(relevance.float(), dim=1, descending=True).values[:, :k] * discount).sum(1)
    return torch.where(ideal > 0, dcg / ideal.clamp_min(1e-12), torch.nan)


def label_metrics(scores: torch.Tensor, query_labels: Sequence[str], gallery_labels: Sequence[str],
                  ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """R@k, mAP and nDCG of queries [Q] against a gallery [G] (`scores` [Q, G]), an item relevant to a query when
    their labels are equal."""
    if scores.shape != (len(query_labels), len(gallery_labels)):
        raise SoundClipError(f"scores {tuple(scores.shape)} for {len(query_labels)} queries and "
                             f"{len(gallery_labels)} gallery items", fix="give one label per query and per item")
    relevant = torch.tensor([[q == g for g in gallery_labels] for q in query_labels], dtype=torch.bool)
    return retrieval_metrics(scores, relevant, ks)
