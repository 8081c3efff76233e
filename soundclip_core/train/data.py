"""The training set: cached log-mels -> (window, augmented caption, SpecAugment bands, frame row).

Item i's randomness comes from a generator seeded by (seed, epoch, i) (`augment.sample_rng`), so the
same global batch gets the same views whether one process or several draw it, and a resumed run
redraws exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .augment import crop_or_pad, sample_bands, sample_rng
from .text_augment import eda, eda_keeping


class TrainSet(torch.utils.data.Dataset):
    """features(i) -> log-mel [n_mels, w]; captions[i] the clip's text; names[i] its class name, kept verbatim
    by the augmentation (None: the official EDA, which may change it), and the clips of one name are one "group"
    of the loss (`loss.grouped_info_nce`); items are dicts of tensors."""

    def __init__(self, features: Callable[[int], np.ndarray], captions: Sequence[str], cfg: dict, seed: int,
                 text_augment: bool = True, names: Sequence[str] | None = None):
        self.features, self.captions, self.cfg, self.seed = features, list(captions), cfg, seed
        self.text_augment, self.names = text_augment, None if names is None else list(names)
        known: dict[str, int] = {}
        self.groups = None if names is None else [known.setdefault(n, len(known)) if n else -1 - i
                                                  for i, n in enumerate(names)]  # unlabelled: a group of its own
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int) -> dict:
        rng = sample_rng(self.seed, self.epoch, i)
        window = crop_or_pad(self.features(i), self.cfg["frames"], rng)
        height, width = self.cfg["resize"]
        bands = sample_bands(rng, height, width)
        caption = self.captions[i]
        if self.text_augment:
            text_rng = random.Random(int(rng.integers(2**62)))
            caption = eda(caption, text_rng) if self.names is None else eda_keeping(caption, self.names[i], text_rng)
        item = {"window": torch.from_numpy(np.ascontiguousarray(window)), "bands": torch.from_numpy(bands),
                "caption": caption, "index": i}
        if self.groups is not None:
            item["group"] = self.groups[i]
        return item
