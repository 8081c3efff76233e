"""`train`: the whole run, one process or many under torchrun, in four parts.

Preparing the run (`run.py`: settings, data, the resume check, the feature cache and frame embeddings,
all before the first step), building the trainer (`trainer.py`: network, optimiser, schedule, and the
saved state applied in one place), the epochs (`epoch.py`: the steps and the zero-shot check on the
held-out clips), and the record (`record.py`: log and training state after every epoch, the exported
encoder).

With held-out clips the log starts with an epoch 0 row: the zero-shot check before training. With
export "best" (the auto recipe) the encoder is written whenever an epoch beats every earlier one on the
held-out accuracy (after every epoch without held-out clips), so an interrupted or cancelled run keeps its best
epoch; each row names the best epoch so far ("best_epoch"), and the run stops early after `patience` epochs
without a better one. A row keeps its confusion table only when it is epoch 0 or a new best (log.json stays
small with hundreds of labels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..clip import ClipModel
from .config import TrainConfig
from .epoch import held_out_scores, run_epoch
from .record import export, record_epoch
from .report import best_epoch
from .run import prepare_run
from .trainer import build_trainer

EpochHook = Callable[[dict, nn.Module, int], None]  # (the epoch's row, the network, the run's epochs)


@dataclass
class TrainResult:
    encoder: Path | None  # the exported encoder (None when stopped before the last epoch)
    state: Path
    log: list[dict]
    config: TrainConfig | None = None  # the settings the run used, the recipe's filled in
    notes: list[str] = field(default_factory=list)  # where the weights started from
    warnings: list[str] = field(default_factory=list)  # labels with too few clips


def train(config: TrainConfig, clip: ClipModel | None = None, net: nn.Module | None = None,
          stop_after: int | None = None, on_epoch: EpochHook | None = None) -> TrainResult:
    """Train an audio encoder into `clip`'s space (loaded from config.clip when not given). `net` replaces
    the kind's network (tests: a reduced one with the same module names; the node: the encoder it is given);
    `stop_after` ends the run after that many epochs as an interruption would (the state is saved, nothing is
    exported unless export is "best"); `on_epoch(row, network, epochs)` is called after each epoch is recorded (and its
    best encoder exported): the node's progress, and its Cancel (raising `Cancelled` keeps the best epoch)."""
    run = prepare_run(config, clip, net)
    config = run.config
    trainer = build_trainer(run)
    if not trainer.log and run.val_clips:
        trainer.log.append({"epoch": 0, **held_out_scores(run, trainer)})
    last_epoch = config.epochs if stop_after is None else min(config.epochs, stop_after)
    finished = True
    for epoch in range(trainer.epoch, last_epoch):
        if _patience_spent(trainer.log, epoch, config.patience):
            break
        row = run_epoch(run, trainer, epoch)
        best = best_epoch([*trainer.log, row])
        row["best_epoch"] = best
        if best != row["epoch"]:
            row.pop("val_confusion", None)
        record_epoch(run, trainer, row)
        if config.export == "best" and best in (None, row["epoch"]):
            export(run, trainer, row["epoch"])
        if on_epoch is not None:
            on_epoch(row, trainer.trainee.net, config.epochs)
    else:
        finished = last_epoch == config.epochs
    encoder = None
    if finished and config.export == "last":
        encoder = export(run, trainer, trainer.epoch)
    elif finished or config.export == "best":
        encoder = run.out / "encoder.pth" if (run.out / "encoder.pth").is_file() else None
    return TrainResult(encoder, run.state_path, trainer.log, config, run.notes, run.warnings)


def _patience_spent(log: list[dict], epoch: int, patience: int | None) -> bool:
    """Whether `patience` epochs have passed since the best one (`epoch` epochs done)."""
    best = best_epoch(log)
    return patience is not None and best is not None and epoch - best >= patience
