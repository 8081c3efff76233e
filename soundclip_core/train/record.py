"""The record of a run: each epoch's row in log.json and log.csv and the training state beside them (both
written atomically, by the main process, every process waiting for it), and at the end the exported encoder
in the official checkpoint layout with its space in a sidecar."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_path
from . import distributed
from .checkpoint import ENCODER_FILE, export_encoder, save_state
from .run import Run
from .trainer import Trainer

LOG_FIELDS = ("epoch", "loss", "audio_text", "audio_audio", "audio_image", "lr", "logit_scale", "val_zero_shot",
              "best_epoch", "seconds", "clips_per_s", "weak_kl")


def record_epoch(run: Run, trainer: Trainer, row: dict) -> None:
    """Count the epoch `row` describes as done: in the trainer's log, and on disk with the state to resume."""
    trainer.log.append(row)
    trainer.epoch = row["epoch"]
    if run.node.main:
        save_state(run.state_path, {**trainer.state(), "config": run.described, "origin": run.origin})
        _write_log(run.out, trainer.log)
        shown = "-" if row["val_zero_shot"] is None else f"{row['val_zero_shot']:.3f}"
        tqdm.write(f"epoch {row['epoch']}: loss {row['loss']:.4f}, zero-shot on held-out {shown}")
    distributed.barrier()


def export(run: Run, trainer: Trainer, epoch: int) -> Path:
    """The trained encoder as `resnet18_57.pth` is, with a sidecar naming its kind, space, front end and the
    epoch it is from."""
    path = run.out / ENCODER_FILE
    if run.node.main:
        config = run.config
        export_encoder(trainer.trainee.net, path, config.kind, run.clip.space, run.cfg,
                       {"trained_on": str(run.dataset.root), "epochs": config.epochs, "epoch": epoch,
                        "recipe": config.recipe, "origin": run.origin})
    distributed.barrier()
    return path


def _write_log(out: Path, log: list[dict]) -> None:
    with atomic_path(out / "log.json") as tmp:
        tmp.write_text(json.dumps(log, indent=1))
    with atomic_path(out / "log.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS, extrasaction="ignore")  # per-label scores: log.json
        writer.writeheader()
        writer.writerows(log)
