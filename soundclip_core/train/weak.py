"""The extra visual samples of the weakly-paired loss: frames of other training clips that share a batch
clip's text (its label, or its caption where the data has no labels), drawn per step.

"Robust Sound-Guided Image Manipulation" samples "additional visual data with text queries": for every clip
of the batch we draw one other training clip with the same text and a readable frame (the clip itself when
it is the only one). The draw is seeded by (seed, epoch, step), so every process of a DDP run, and a resumed
run, draws the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class SameTextFrames:
    """texts[i]: training clip i's label or caption; has_image [N] bool: whether its frame embedding exists."""

    def __init__(self, texts: Sequence[str], has_image: torch.Tensor, seed: int):
        self.seed = seed
        readable = has_image.cpu().bool().tolist()
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            if readable[i]:
                groups.setdefault(text, []).append(i)
        self.partners = [np.asarray(groups.get(text, []), dtype=np.int64) for text in texts]

    def draw(self, index: torch.Tensor, epoch: int, step: int) -> torch.Tensor:
        """Clip indices [N] of a (global) batch -> the indices [<= N] of the extra frames: for each clip, one
        other clip of its text with a frame (itself if it is alone); clips whose text has no frame draw none."""
        rng = np.random.default_rng([self.seed, epoch, step])
        extra = []
        for i in index.tolist():
            candidates = self.partners[i]
            others = candidates[candidates != i]
            pool = others if len(others) else candidates
            if len(pool):
                extra.append(int(pool[rng.integers(len(pool))]))
        return torch.tensor(extra, dtype=torch.long, device=index.device)
