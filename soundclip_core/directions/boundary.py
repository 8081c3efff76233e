"""From a target to a channel relevance: StyleCLIP's `GetDt` and `GetBoundary` ([SC] global_torch/StyleCLIP.py).

Delta t = normalise(target - neutral), both embeddings of the table's CLIP space; r = table . Delta t;
channels with |r| < beta are zeroed and r is divided by max |r| (GetBoundary, :165-179). StyleCLIP divides
0 by 0 when beta leaves no channel; here that is an error that says which beta would move one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..embedding import Embedding, check_same_space
from ..errors import EmbeddingSpaceError, SoundClipError
from .table import ChannelTable


def text_direction(target: Embedding, neutral: Embedding) -> Embedding:
    """Delta t = normalise(target - neutral) [B, D] (a neutral of one row, or one per target row; a neutral of
    several rows, e.g. a few ambient sounds, is their mean)."""
    check_same_space([target, neutral])
    neutral_vector = neutral.vectors
    if neutral.batch_size not in (1, target.batch_size):
        neutral_vector = F.normalize(neutral_vector.mean(0, keepdim=True), dim=-1)
    delta = target.vectors - neutral_vector
    if not bool((delta.norm(dim=-1) > 1e-6).all()):
        raise EmbeddingSpaceError("the target and the neutral are the same embedding: there is no direction",
                                  fix="choose a neutral that differs from the target (e.g. 'a photo')")
    return Embedding(delta, target.space, f"({target.source}) - ({neutral.source})")


def scores(table: ChannelTable, direction: Embedding) -> torch.Tensor:
    """r [B, channels] = table rows . Delta t, before GetBoundary's threshold (each a cosine: the rows are unit)."""
    check_same_space([direction], expected=table.space)
    if direction.dim != table.clip_dim:
        raise EmbeddingSpaceError(f"the direction is {direction.dim}-d, the table {table.clip_dim}-d",
                                  fix="use the table made with this CLIP model")
    return direction.vectors @ table.rows.t()


def boundary(r: torch.Tensor, beta: float) -> torch.Tensor:
    """GetBoundary on scores r [B, channels]: |r| < beta zeroed, divided by max |r| per row; an error that names
    the largest |r| when beta leaves no channel (StyleCLIP divides 0 by 0 there)."""
    kept = torch.where(r.abs() < beta, torch.zeros_like(r), r)
    top = kept.abs().amax(dim=1)
    if not bool((top > 0).all()):
        highest = float(r.abs().amax(dim=1).min())
        raise SoundClipError(f"beta {beta:g} is above every channel's relevance (the highest is {highest:.4f}): "
                             "no channel would move", fix=f"lower beta below {highest:.4f} (StyleCLIP uses 0.08-0.3)")
    return kept / top[:, None]


def relevance(table: ChannelTable, direction: Embedding, beta: float) -> torch.Tensor:
    """r [B, channels]: table rows . Delta t, |r| < beta zeroed, divided by max |r| per row (GetBoundary)."""
    return boundary(scores(table, direction), beta)
