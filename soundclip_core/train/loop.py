"""`train`: the whole run, one process or many under torchrun, in four parts.

Preparing the run (`run.py`: settings, data, the resume check, the feature cache and frame embeddings,
all before the first step), building the trainer (`trainer.py`: network, optimiser, schedule, and the
saved state applied in one place), the epochs (`epoch.py`: the steps and the zero-shot check on the
held-out clips), and the record (`record.py`: log and training state after every epoch, the exported
encoder at the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..clip import ClipModel
from .config import TrainConfig
from .epoch import run_epoch
from .record import export, record_epoch
from .run import prepare_run
from .trainer import build_trainer


@dataclass
class TrainResult:
    encoder: Path | None  # the exported encoder (None when stopped before the last epoch)
    state: Path
    log: list[dict]


def train(config: TrainConfig, clip: ClipModel | None = None, net: nn.Module | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Train an audio encoder into `clip`'s space (loaded from config.clip when not given). `net` replaces
    the kind's network (tests: a reduced one with the same module names); `stop_after` ends the run after
    that many epochs as an interruption would (the state is saved, nothing is exported)."""
    run = prepare_run(config, clip, net)
    trainer = build_trainer(run)
    last_epoch = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(trainer.epoch, last_epoch):
        record_epoch(run, trainer, run_epoch(run, trainer, epoch))
    encoder = export(run, trainer) if last_epoch == config.epochs else None
    return TrainResult(encoder, run.state_path, trainer.log)
