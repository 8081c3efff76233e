"""Mean and standard deviation of every StyleSpace channel over mapped samples (StyleCLIP's `GetCodeMS`).

Per layer, numpy's mean and std (ddof 0) over 100,000 samples of `sampling.sample_styles`
([SC] global_torch/manipulate.py:329-340), ToRGB included; accumulated in float64 over batches so
no [100000, channels] array is ever held. Cached on the generator per (samples, seed, truncation). At
1024 px the 100,000 samples take most of a minute on a CPU, so they report progress and check Cancel per
batch (a cancelled run caches nothing), and the sums stay on the device until the end (no host sync per
batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import Cancelled, SoundClipError
from .sampling import SEED, TRUNCATION, sample_batches

SAMPLES = 100_000


@dataclass(frozen=True)
class StyleStats:
    """mean and std: one float32 CPU tensor [channels] per style layer of the generator."""

    mean: list[torch.Tensor]
    std: list[torch.Tensor]
    samples: int
    seed: int
    truncation_psi: float


def channel_statistics(generator, samples: int = SAMPLES, seed: int = SEED, truncation_psi: float = TRUNCATION,
                       batch_size: int = 4096, progress: Callable[[int, int], None] | None = None,
                       should_cancel: Callable[[], bool] | None = None) -> StyleStats:
    """`StyleStats` of `generator`'s StyleSpace from `samples` mapped samples; computed once per generator
    and settings (cached on the generator object). `progress(samples done, samples)` after each batch."""
    if samples < 2:
        raise SoundClipError("channel statistics need at least 2 samples", fix="use the default 100000")
    key = (int(samples), int(seed), float(truncation_psi))
    cache = generator.__dict__.setdefault("_soundclip_style_stats", {})
    if key in cache:
        return cache[key]
    total = total_sq = None
    done = 0
    for styles in sample_batches(generator, samples, batch_size, seed, truncation_psi):
        if should_cancel is not None and should_cancel():
            raise Cancelled("the channel statistics were cancelled")
        sums = [s.double().sum(0) for s in styles]
        squares = [s.double().square().sum(0) for s in styles]
        total = sums if total is None else [a + b for a, b in zip(total, sums, strict=True)]
        total_sq = squares if total_sq is None else [a + b for a, b in zip(total_sq, squares, strict=True)]
        done += styles[0].shape[0]
        if progress is not None:
            progress(done, samples)
    total, total_sq = [t.cpu() for t in total], [t.cpu() for t in total_sq]
    mean = [t / samples for t in total]
    std = [(q / samples - m.square()).clamp_min(0).sqrt() for q, m in zip(total_sq, mean, strict=True)]
    stats = StyleStats([m.float() for m in mean], [s.float() for s in std], *key)
    cache[key] = stats
    return stats
