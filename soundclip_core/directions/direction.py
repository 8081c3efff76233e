"""`Direction`: a target's per-channel relevance before the two sliders, and applying it to styles.

A direction keeps the raw scores r = table . Delta t (or their one-target estimate, `estimate.py`), not
GetBoundary's thresholded result, so beta and alpha act only when it is applied: in ComfyUI the table and the
direction stay cached while the Apply node reruns with new slider values. It carries the channel layout and
statistics it is applied with and the generator it was made for, so it is never applied to another one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..embedding import Embedding
from ..errors import SoundClipError
from .boundary import boundary, scores
from .edit import apply_relevance
from .fingerprint import generator_fingerprint
from .layout import ChannelLayout
from .statistics import StyleStats
from .table import ChannelTable

DEFAULT_BETA = 0.15  # StyleCLIP's notebook default (its slider spans 0.08-0.3)
DEFAULT_ALPHA = 4.0  # StyleCLIP's notebook uses 4.1 on a -10..10 slider


@dataclass(frozen=True)
class Direction:
    """scores [B, channels] in `layout`'s order (one row per target); `method`: how the scores were made
    ("table/<table method>" or "estimate"); `generator`: the fingerprint of the generator they belong to."""

    scores: torch.Tensor
    layout: ChannelLayout
    stats: StyleStats
    generator: str
    space: str
    method: str
    source: str = ""

    def relevance(self, beta: float = DEFAULT_BETA) -> torch.Tensor:
        """GetBoundary's relevance at `beta` (an error naming the largest |r| if no channel is left)."""
        return boundary(self.scores, beta)

    def moved(self, beta: float = DEFAULT_BETA) -> int:
        """How many channels an edit at `beta` moves (in any target row)."""
        return int((self.scores.abs() >= beta).any(dim=0).sum())

    @property
    def largest(self) -> float:
        """The largest |r|: any beta at or below it moves at least one channel."""
        return float(self.scores.abs().max())

    def describe(self, beta: float = DEFAULT_BETA) -> str:
        return (f"{self.moved(beta)} of {self.layout.total} channels move at beta {beta:g} (largest |r| "
                f"{self.largest:.3f}; {self.method}; {self.source})")


def table_direction(table: ChannelTable, delta: Embedding) -> Direction:
    """The direction of Delta t (`text_direction`) through a computed table."""
    return Direction(scores(table, delta), table.layout, table.stats, table.generator, table.space,
                     f"table/{table.method}", delta.source)


def apply_direction(generator, styles: list[torch.Tensor], direction: Direction, alpha: float = DEFAULT_ALPHA,
                    beta: float = DEFAULT_BETA, layers: str | None = None) -> list[torch.Tensor]:
    """Edited styles s + alpha * r * sigma with r = GetBoundary(scores, beta), only in `layers` (a W+ range such
    as "0-6") when given; refuses a direction made for another generator."""
    mine = generator_fingerprint(generator)
    if direction.generator != mine:
        raise SoundClipError(f"this direction was made for generator {direction.generator}, not {mine} "
                             f"({generator.source})", fix="make the direction with the generator it is applied to")
    return apply_relevance(generator, styles, direction, direction.relevance(beta), alpha, layers)
