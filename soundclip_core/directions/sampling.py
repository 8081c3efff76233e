"""The mapped samples StyleSpace statistics and tables are made from.

StyleCLIP draws z with numpy's `RandomState(5).randn(n, z_dim)` and maps with truncation 0.7
([SC] global_torch/manipulate.py:114-115); the same draw here, so the first N codes of the statistics
are the table's images, as in StyleCLIP (SingleChannel.py:75-81). Our mapping truncates every layer
(StyleCLIP's torch code stops at layer 8; its TF code, which made the shipped table, truncates all).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

SEED = 5
SEED_MAX = 2**32 - 1  # numpy's RandomState takes seeds 0 .. 2^32 - 1
TRUNCATION = 0.7


def mapped_styles(generator, z: np.ndarray, truncation_psi: float = TRUNCATION) -> list[torch.Tensor]:
    """z [n, z_dim] (numpy) -> StyleSpace styles (one [n, channels] tensor per style layer), no gradient."""
    with torch.no_grad():
        w = generator.mapping(torch.from_numpy(z).float().to(generator.w_avg.device), None,
                              truncation_psi=truncation_psi)
        return generator.styles(w[:, None, :].expand(-1, generator.num_ws, -1))


def sample_batches(generator, count: int, batch_size: int, seed: int = SEED, truncation_psi: float = TRUNCATION
                   ) -> Iterator[list[torch.Tensor]]:
    """Styles of samples 0 .. count of the draw, `batch_size` at a time (one numpy stream: the same
    samples as one big draw)."""
    rng = np.random.RandomState(seed)
    for start in range(0, count, batch_size):
        yield mapped_styles(generator, rng.randn(min(batch_size, count - start), generator.z_dim), truncation_psi)


def sample_styles(generator, count: int, seed: int = SEED, truncation_psi: float = TRUNCATION
                  ) -> list[torch.Tensor]:
    """Styles of the first `count` samples of the draw (the table's images)."""
    return mapped_styles(generator, np.random.RandomState(seed).randn(count, generator.z_dim), truncation_psi)
