"""`Embedding`: unit vectors tagged with the CLIP space they live in.

Sound and text only guide an image when their vectors share the image encoder's
space, so every embedding carries its space name (e.g. ``openai/ViT-B-32``) and
every combination checks it. Embeddings live on the CPU whatever device made them
(a few KB each): sounds and texts encoded on different devices combine safely, and
each consumer moves the vectors to its own device once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import EmbeddingSpaceError


@dataclass(frozen=True)
class Embedding:
    """A batch of L2-normalised embeddings.

    vectors: float32 [B, D] on the CPU, each row of unit length.
    space:   the CLIP space, e.g. ``openai/ViT-B-32`` or ``openai/RN50``.
    source:  where it came from (``"soundclip: rain.wav"``), for previews and errors.
    """

    vectors: torch.Tensor
    space: str
    source: str = ""

    def __post_init__(self) -> None:
        v = self.vectors.detach().float().cpu()
        if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
            raise EmbeddingSpaceError(
                f"embedding from {self.source or 'unknown source'} must be [B, D], got {tuple(v.shape)}",
                fix="make embeddings with soundclip's audio or text encoders (one row per sound or text)")
        if not bool(torch.isfinite(v).all()):
            raise EmbeddingSpaceError(
                f"embedding from {self.source or 'unknown source'} contains NaN or inf",
                fix="check the input audio/text and the encoder checkpoint")
        object.__setattr__(self, "vectors", F.normalize(v, dim=-1))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def batch_size(self) -> int:
        return int(self.vectors.shape[0])

    def describe(self) -> str:
        """One line for node previews and logs."""
        return f"{self.batch_size} x {self.dim}-d in {self.space} from {self.source or '?'}"


def check_same_space(embeddings: Sequence[Embedding], expected: str | None = None) -> str:
    """Return the common space name, or raise naming the spaces that differ."""
    if not embeddings:
        raise EmbeddingSpaceError("no embeddings given", fix="encode at least one sound or text first")
    space = expected or embeddings[0].space
    for e in embeddings:
        if e.space != space:
            raise EmbeddingSpaceError(
                f"cannot combine embeddings from different CLIP spaces: '{e.space}' ({e.source}) "
                f"and '{space}'",
                fix="encode every sound and text with encoders of the same CLIP space "
                    "(e.g. soundclip/wav2clip with ViT-B-32 CLIP, audioclip with RN50 CLIP)")
        if e.dim != embeddings[0].dim:
            raise EmbeddingSpaceError(
                f"embedding sizes differ: {e.dim} ({e.source}) vs {embeddings[0].dim} in space {space}",
                fix="encode every sound and text with encoders paired with the same CLIP checkpoint")
    return space


def combine(parts: Sequence[tuple[Embedding, float]]) -> Embedding:
    """Weighted sum of embeddings, renormalised to unit length.

    Batches broadcast: a batch of 1 combines with a batch of B. Weights may be
    negative (move away from a concept) but must not all cancel out.
    """
    embeddings = [e for e, _ in parts]
    space = check_same_space(embeddings)
    sizes = {e.batch_size for e in embeddings} - {1}
    if len(sizes) > 1:
        raise EmbeddingSpaceError(f"cannot combine embedding batches of sizes {sorted(sizes)}",
                                  fix="combine batches of one size, or single embeddings (one goes with any batch)")
    total = sum(float(w) * e.vectors for e, w in parts)
    if not bool((total.norm(dim=-1) > 1e-6).all()):
        raise EmbeddingSpaceError("the weighted embeddings cancel out to zero", fix="change the weights")
    source = " + ".join(f"{w:g}*({e.source})" for e, w in parts)
    return Embedding(total, space, source)


def stack(embeddings: Sequence[Embedding]) -> Embedding:
    """Concatenate embeddings of one space into a single batch (one edit per row)."""
    space = check_same_space(embeddings)
    return Embedding(torch.cat([e.vectors for e in embeddings]), space, ", ".join(e.source for e in embeddings))
