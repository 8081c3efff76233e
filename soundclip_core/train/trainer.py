"""Building the trainer: the network wrapped for training (DDP under torchrun), the data it draws, the
optimiser, the schedule and the grad scaler, and, when resuming, the saved state applied to all of them.

`Trainer.state` is everything that changes while training and `Trainer.restore` its inverse: the one place
a resumed run takes up where the saved one stopped, so it continues bit for bit.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ..datasets import clean_label
from .checkpoint import rng_state, set_rng_state
from .data import TrainSet
from .distributed import globalize_batch_norms
from .features import CachedFeatures
from .recipes import Trainee, make_optimizer, make_scheduler
from .run import Run
from .texts import TextEmbeddings

# batch norm buffers are already equal on every process (global statistics): no per-forward broadcast
NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                  if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                  else {"broadcast_buffers": False})


@dataclass
class Trainer:
    """trainee: the network and its logit scale; model: the trainee, or its DDP wrapper under torchrun (what
    the step calls); items/sampler/loader: this process's share of each epoch's batches; per_step: the
    schedule steps per optimiser step (else per epoch); texts: the captions' CLIP embeddings; epoch: epochs
    done, log: their rows."""

    trainee: Trainee
    model: nn.Module
    items: TrainSet
    sampler: DistributedSampler
    loader: DataLoader
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    per_step: bool
    scaler: torch.amp.GradScaler
    texts: TextEmbeddings
    epoch: int = 0
    log: list[dict] = field(default_factory=list)

    def state(self) -> dict:
        """What a resume needs to continue exactly: weights, optimiser, schedule, scaler, RNGs, the log."""
        return {"trainee": self.trainee.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "epoch": self.epoch,
                "rng": rng_state(), "log": self.log}

    def restore(self, saved: dict) -> None:
        """Take up a saved `state()`."""
        self.trainee.load_state_dict(saved["trainee"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        set_rng_state(saved["rng"])
        self.epoch, self.log = int(saved["epoch"]), list(saved["log"])


def build_trainer(run: Run) -> Trainer:
    """The trainer of a prepared run, at its first epoch or where its saved state stopped."""
    config, node, device = run.config, run.node, run.device
    if node.active:
        globalize_batch_norms(run.net)
    trainee = Trainee(run.net.train().requires_grad_(True), config.recipe).to(device)
    model = trainee
    if node.active:
        model = DistributedDataParallel(trainee, device_ids=[device.index] if device.type == "cuda" else None,
                                        **NO_BUFFER_SYNC)
    names = [clean_label(c.label or "") for c in run.train_clips] if config.recipe == "auto" else None
    items = TrainSet(CachedFeatures(run.cache, run.train_clips), [c.caption for c in run.train_clips], run.cfg,
                     config.seed, config.text_augment, names)
    sampler = DistributedSampler(items, num_replicas=node.world, rank=node.rank, shuffle=True, seed=config.seed,
                                 drop_last=True)
    loader = DataLoader(items, batch_size=config.batch_size // node.world, sampler=sampler,
                        num_workers=config.workers, drop_last=True, pin_memory=device.type == "cuda")
    optimizer = make_optimizer(trainee, config.recipe, config.learning_rate, config.trunk_lr)
    scheduler, per_step = make_scheduler(optimizer, config.recipe, config.learning_rate,
                                         config.epochs * -(-len(loader) // config.accumulate))
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    trainer = Trainer(trainee, model, items, sampler, loader, optimizer, scheduler, per_step, scaler,
                      TextEmbeddings(run.clip))
    if run.saved is not None:
        trainer.restore(run.saved)
    return trainer
