"""Frozen CLIP text embeddings of the training captions, remembered across steps and epochs."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..clip import ClipModel


class TextEmbeddings:
    """Frozen CLIP text embeddings of captions, remembered (augmented captions repeat a lot). New captions are
    encoded in chunks of exactly CHUNK rows (padded): a row's result then does not depend on which other
    captions share its batch (matrix kernels round differently for different batch sizes), so what the
    cache holds, and thus a resumed run, cannot change a single bit of the embeddings."""

    CHUNK = 64

    def __init__(self, clip: ClipModel, limit: int = 200_000):
        self.clip, self.limit, self.known = clip, limit, {}

    def __call__(self, captions: Sequence[str]) -> torch.Tensor:
        new = sorted({c for c in captions if c not in self.known})
        if len(self.known) + len(new) > self.limit:
            self.known.clear()
        for first in range(0, len(new), self.CHUNK):
            chunk = new[first:first + self.CHUNK]
            vectors = self.clip.encode_text(chunk + [chunk[-1]] * (self.CHUNK - len(chunk))).vectors
            # kept on CLIP's device (embeddings come back on the CPU): a batch then needs no copy per step
            self.known.update(zip(chunk, vectors.to(self.clip.device), strict=False))
        return torch.stack([self.known[c] for c in captions])
