"""`Architecture`: what the loader needs to know about one generator family, as data.

Each architecture package (`stylegan2/`, `stylegan3/`) describes itself with one `ARCHITECTURE`;
the loader holds the list of them and is the only module that knows them all. A new family (a
StyleGAN2 fork, StyleGAN-XL) is one new folder and one entry in `loader.ARCHITECTURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .base import GeneratorBase
from .mapping import MappingConfig
from .nvidia_pickle import PersistentStub

NvidiaConverter = Callable[[PersistentStub, Path], tuple[MappingConfig, dict[str, torch.Tensor], torch.Tensor]]


@dataclass(frozen=True)
class Architecture:
    """kinds: the `generator.kind` values it builds (stored in our export, so never renamed); config and
    generator: its config class (`from_json`) and generator class (`generator(config, source=...)`);
    recognises / convert: how it finds its `G_ema` in an NVIDIA pickle and renames it (None: it has none)."""

    kinds: tuple[str, ...]
    config: type[MappingConfig]
    generator: type[GeneratorBase]
    recognises: Callable[[PersistentStub], bool] | None = None
    convert: NvidiaConverter | None = None
