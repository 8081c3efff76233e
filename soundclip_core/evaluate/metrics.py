"""Classification and retrieval metrics on score matrices, written out so each is checkable by hand.

Ties in a ranking are broken by position (a stable sort on descending scores), so every metric is
defined for any scores; the formulas then match sklearn's on tie-free scores.
"""

from __future__ import annotations

import math

import torch


def topk_accuracy(scores: torch.Tensor, targets: torch.Tensor, k: int = 1) -> float:
    """Fraction of rows [N, K] whose target class is among the row's k best scores (k capped at K)."""
    k = min(k, scores.shape[1])
    best = scores.topk(k, dim=1).indices
    return float((best == targets[:, None]).any(dim=1).float().mean())


def _ranked_relevance(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Rows [Q, G] -> relevance (0/1 floats) of each row's items in descending-score order."""
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    return relevant.float().gather(1, order)


def average_precisions(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Per-row AP [Q] of rankings [Q, G]: the mean, over each row's relevant items, of the precision at their
    rank (= sum_n (R_n - R_{n-1}) P_n). Rows without any relevant item get NaN (AP is undefined there)."""
    hits = _ranked_relevance(scores, relevant)
    ranks = torch.arange(1, hits.shape[1] + 1, dtype=torch.float32)
    precision = hits.cumsum(1) / ranks
    count = hits.sum(1)
    return torch.where(count > 0, (precision * hits).sum(1) / count.clamp_min(1), torch.nan)


def class_average_precisions(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-class AP [K]: scores [N, K] of N clips for K classes, targets [N, K] bool (multi-label); for each class
    the clips ranked by its score, relevant when they belong to it. NaN for a class without positives."""
    return average_precisions(scores.t(), targets.t())


def macro_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """The AudioSet metric: per-class AP averaged over the classes that have positives (PANNs'
    average_precision_score(target, scores, average=None) then the mean; sklearn gives a class without positives
    an AP of 0 and `average='macro'` counts it, so those classes are left out explicitly). NaN if none has any."""
    per_class = class_average_precisions(scores, targets)
    kept = per_class[~per_class.isnan()]
    return float(kept.mean()) if len(kept) else math.nan


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Classification mAP of single-label clips: targets [N] class indices, scored as one-hot multi-label targets
    (sklearn's average_precision_score(one_hot, scores, average='macro') on tie-free scores, classes without
    clips left out)."""
    return macro_average_precision(scores, targets[:, None] == torch.arange(scores.shape[1])[None])


def ndcg(scores: torch.Tensor, relevant: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Per-row nDCG [Q] with binary relevance: DCG = sum_{i<=k} rel_i / log2(i + 1) over the ranking, divided
    by the DCG of the ideal ranking (all relevant items first). k=None: the whole ranking. NaN without any
    relevant item."""
    hits = _ranked_relevance(scores, relevant)
    k = hits.shape[1] if k is None else min(k, hits.shape[1])
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float32))
    dcg = (hits[:, :k] * discount).sum(1)
    ideal_count = hits.sum(1).clamp_max(k).long()
    ideal = torch.cat([torch.zeros(1), discount.cumsum(0)])[ideal_count]
    return torch.where(ideal > 0, dcg / ideal.clamp_min(1e-12), torch.nan)


def retrieval_metrics(scores: torch.Tensor, relevant: torch.Tensor, ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """Queries [Q] against a gallery [G]: scores and relevance [Q, G]. R@k is the fraction of queries with at
    least one relevant item in their k best (the usual cross-modal recall), mAP the mean AP over queries, nDCG
    over the whole ranking; queries without a relevant item are left out."""
    keep = relevant.any(1)
    scores, relevant = scores[keep], relevant[keep]
    hits = _ranked_relevance(scores, relevant)
    result = {f"R@{k}": float(hits[:, :k].amax(1).mean()) for k in ks}
    result["mAP"] = float(average_precisions(scores, relevant).mean())
    result["nDCG"] = float(ndcg(scores, relevant).mean())
    result["queries"] = int(keep.sum())
    return result


def mean_of(results: list[dict]) -> dict:
    """Key-wise mean of per-fold metric dicts (numbers only; counts are summed)."""
    out = {}
    for key, value in results[0].items():
        values = [r[key] for r in results]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[key] = sum(values) if key in ("queries", "clips") else sum(values) / len(values)
        if isinstance(out[key], float) and math.isnan(out[key]):
            out[key] = None
    return out
