"""Rankings: a query embedding against a gallery of unit vectors, by cosine, best first."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..atomic import atomic_path
from ..embedding import Embedding, check_same_space
from ..errors import SoundClipError


@dataclass
class Ranking:
    """Gallery items (paths, or batch positions as "#i") and their cosines with the query, best first."""

    items: list[str]
    scores: torch.Tensor
    order: torch.Tensor  # positions in the gallery, best first (for picking images out of a batch)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def top(self, k: int | None = None) -> list[dict]:
        """[{"path", "score"}] of the k best (all when None), best first."""
        count = len(self.items) if k is None else min(k, len(self.items))
        return [{"path": self.items[i], "score": float(self.scores[i])} for i in range(count)]

    def text(self, k: int | None = None) -> str:
        """One line per item: rank, cosine, path; then the skipped files."""
        lines = [f"{n + 1:>3}. {entry['score']:+.4f}  {entry['path']}" for n, entry in enumerate(self.top(k))]
        lines += [f"skipped {path}: {why}" for path, why in self.skipped]
        return "\n".join(lines)

    def write_json(self, path: str | os.PathLike, k: int | None = None) -> Path:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.top(k), indent=1), encoding="utf-8")
        return Path(path)


def rank(query: Embedding, vectors: torch.Tensor, items: list[str], space: str) -> Ranking:
    """Rank `items` (their unit vectors [N, D] in `space`) by cosine with the query's first row."""
    check_same_space([query], expected=space)
    if query.batch_size != 1:
        raise SoundClipError(f"a search takes one query, got {query.batch_size}",
                             fix="mix the sounds into one embedding first, or search once per sound")
    if vectors.shape[0] != len(items):
        raise SoundClipError(f"{vectors.shape[0]} vectors for {len(items)} items", fix="rebuild the index")
    if not items:
        return Ranking([], torch.zeros(0), torch.zeros(0, dtype=torch.long))
    if vectors.shape[1] != query.dim:
        raise SoundClipError(f"the gallery holds {vectors.shape[1]}-d embeddings, the query is {query.dim}-d",
                             fix="search with a query made by the models of the gallery's CLIP space")
    cosines = torch.nn.functional.normalize(vectors.float(), dim=-1) @ query.vectors[0]
    scores, order = torch.sort(cosines, descending=True, stable=True)
    return Ranking([items[i] for i in order.tolist()], scores, order)
