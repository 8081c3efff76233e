"""Settings left to the recipe (None in `TrainConfig`), filled in from the data once it is listed.

official / modern: 50 epochs of batches of 320, the last epoch exported, nothing held out beyond the data's folds.
auto, sized for a few dozen clips per label up to VGGSound: fine-tunes the paper's encoder when its file is
already on this machine (`soundclip weights download soundclip-resnet18`) and the CLIP is its ViT-B/32, else
trains from scratch and says so (a network passed in, as the node's encoder, counts as pretrained); the head
learns at `lr` (default 1e-3 when fine-tuning, 5e-3 from scratch), a pretrained trunk at a tenth of it; the
batch is the largest power of two up to a quarter of the training clips (8 to 256: a contrastive batch needs
negatives, and a few dozen clips per label still need several steps per epoch); epochs give about TARGET_STEPS
optimiser steps (10 to 60 epochs), stopped after PATIENCE epochs (or a quarter of the epochs, if more) without
a better held-out accuracy, and the best epoch is exported; a fifth of every label is held out (stratified,
seeded) when the data has no folds.
"""

from __future__ import annotations

from dataclasses import replace

from ..weights import find_entry, local_copy
from .collection import HOLDOUT
from .config import TrainConfig

PAPER_ENCODER = "soundclip-resnet18"
PAPER_DIM = 512
MIN_BATCH, MAX_BATCH = 8, 256
LR = {"fine-tune": 1e-3, "scratch": 5e-3}
TARGET_STEPS = 400
EPOCH_RANGE = (10, 60)
PATIENCE = 8
TRUNK_FACTOR = 0.1
CLASSIC = {"epochs": 50, "batch_size": 320}


def holdout_fraction(config: TrainConfig) -> float:
    """The share of every label held out when the data has no folds (before the data size is known)."""
    if config.holdout is not None:
        return config.holdout
    return HOLDOUT if config.recipe == "auto" else 0.0


def paper_encoder(kind: str, clip_space: str, clip_dim: int) -> str | None:
    """The paper's encoder file where it is already on this machine and fits the CLIP (never downloaded here)."""
    entry = find_entry(PAPER_ENCODER)
    if kind != "soundclip" or clip_space != entry.space or clip_dim != PAPER_DIM:
        return None
    path = local_copy(entry)
    return None if path is None else str(path)


def resolve(config: TrainConfig, train_clips: int, world: int, clip_space: str, clip_dim: int,
            given_network: bool) -> tuple[TrainConfig, list[str]]:
    """-> (the config with every recipe setting filled in, notes for the user: where the weights start from)."""
    if config.recipe != "auto":
        return replace(config, epochs=config.epochs or CLASSIC["epochs"],
                       batch_size=config.batch_size or CLASSIC["batch_size"], export=config.export or "last"), []
    notes = []
    init = config.init
    if init is None and not given_network:
        init = paper_encoder(config.kind, clip_space, clip_dim)
        notes.append(f"fine-tuning the paper's encoder {init}" if init else
                     "training from scratch: the paper's encoder (fine-tuned by default) is not on this machine or "
                     "does not fit this CLIP (`soundclip weights download soundclip-resnet18`, CLIP ViT-B-32)")
    pretrained = init is not None or given_network
    batch = config.batch_size
    if batch is None:
        batch = MIN_BATCH
        while batch * 2 <= min(MAX_BATCH, train_clips // 4):
            batch *= 2
        batch = max(world * 2, min(batch, train_clips) // world * world)
    epochs = config.epochs
    if epochs is None:
        steps = max(1, train_clips // batch // config.accumulate)
        epochs = min(max(-(-TARGET_STEPS // steps), EPOCH_RANGE[0]), EPOCH_RANGE[1])
    lr = config.lr if config.lr is not None else LR["fine-tune" if pretrained else "scratch"]
    trunk = config.trunk_lr if config.trunk_lr is not None else lr * (TRUNK_FACTOR if pretrained else 1.0)
    return replace(config, init=init, batch_size=batch, epochs=epochs, lr=lr, trunk_lr=trunk,
                   holdout=holdout_fraction(config), patience=config.patience or max(PATIENCE, epochs // 4),
                   export=config.export or "best"), notes
