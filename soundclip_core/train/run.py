"""Preparing a run: everything checked and computed before the first step.

Order of work: settings, processes and device, dataset (its labels checked) and its held-out split, CLIP, the
recipe's settings sized to the data, the output folder and any state to resume from (all cheap, all before any
audio is decoded), the network to train (a bad --init fails here too), then the feature cache (a label left
without usable clips fails here) and the frame embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import runtime
from ..atomic import atomic_path
from ..clip import ClipModel, load_clip
from ..datasets import AudioDataset, Clip, open_dataset, require_classes
from ..encoders import encoder_config
from ..errors import DatasetError, SoundClipError
from ..evaluate.zeroshot import class_embeddings
from . import distributed
from .auto import holdout_fraction, resolve
from .checkpoint import STATE_FILE, resumable_state
from .collection import check_labels, require_usable_labels, stratified_split, training_warnings
from .config import TrainConfig
from .features import FeatureCache
from .frames import frame_embeddings
from .network import build_network


@dataclass
class Run:
    """A checked run: its settings, processes and device, the CLIP, the network to train, the clips whose
    features are cached (training and held-out), the frame embeddings, the held-out classes' prompt
    embeddings, and the saved state to resume from."""

    config: TrainConfig
    node: distributed.Dist
    device: torch.device
    dataset: AudioDataset
    held_out: AudioDataset | None  # with its classes: the zero-shot check's labels
    clip: ClipModel
    described: dict  # the settings a resume must match, as saved with the state
    saved: dict | None  # the training state to resume from
    net: nn.Module
    origin: str  # where the network's initial weights came from
    cfg: dict  # the front end
    cache: FeatureCache
    train_clips: list[Clip]
    val_clips: list[Clip]
    images: torch.Tensor  # [N, D] frame embeddings of train_clips, on the device
    has_image: torch.Tensor  # [N] bool
    class_texts: torch.Tensor | None  # [K, D] the held-out classes' prompts (None: no zero-shot check)
    notes: list[str]  # for the user: where the weights start from
    warnings: list[str]  # for the user: labels with too few clips

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def state_path(self) -> Path:
        return self.out / STATE_FILE


def split_dataset(dataset: AudioDataset, folds: Sequence[int] | None, holdout: float = 0.0,
                  seed: int = 0) -> tuple[AudioDataset, AudioDataset | None]:
    """(training clips, held-out clips or None): the given folds vs the rest, else all folds but the last vs
    the last, else VGGSound's train vs test split, else a stratified `holdout` share of every label (seeded),
    else everything and no held-out set."""
    available = dataset.folds()
    if folds is not None:
        if not available:
            raise DatasetError(f"--folds was given but a {dataset.name} dataset has no folds", path=dataset.root,
                               fix="leave out --folds")
        train = dataset.select(folds)
        rest = [f for f in available if f not in set(folds)]
        return train, dataset.select(rest) if rest else None
    if len(available) > 1:
        return dataset.select(available[:-1]), dataset.select(available[-1:])
    splits = {c.split for c in dataset.clips}
    if {"train", "test"} <= splits:
        return dataset.select(split="train"), dataset.select(split="test")
    if holdout > 0 and all(c.label is not None for c in dataset.clips):
        return stratified_split(dataset, holdout, seed)
    return dataset, None


def prepare_run(config: TrainConfig, clip: ClipModel | None = None, net: nn.Module | None = None) -> Run:
    """Check and prepare `config`'s run (`clip` loaded from config.clip when not given; `net` replaces the
    kind's network). Every process calls it; the main one computes the frame embeddings first."""
    node, device = distributed.join(config.device)
    config.check(node.world)
    runtime.precision_dtype(config.precision, device)  # refuses fp16 on CPU etc. now, not after caching
    dataset = open_dataset(config.dataset_kind, config.data)
    if config.recipe == "auto":  # the other recipes take any taxonomy (a CSV manifest of AudioSet's, say)
        check_labels(dataset)
    train_set, held_out = split_dataset(dataset, config.folds, holdout_fraction(config), config.seed)
    _require_frames(config, any(c.image is not None for c in train_set.clips), dataset)  # before any caching
    if held_out is not None and all(c.label is not None for c in held_out.clips):
        require_classes(held_out)
    else:
        held_out = None
    if clip is None:
        clip = load_clip(None, config.clip, device)
    described = {**config.compared(), "clip_space": clip.space, "clip_dim": clip.dim,
                 "network": "default" if net is None else f"{type(net).__name__}:"
                 f"{sum(p.numel() for p in net.parameters())}"}
    config, notes = resolve(config, len(train_set), node.world, clip.space, clip.dim, net is not None)
    out = Path(config.out)
    saved = resumable_state(out / STATE_FILE, config.resume, described)
    torch.manual_seed(config.seed)
    if net is None:
        net, origin = build_network(config.kind, clip.dim, config.init, clip.space)
    else:
        origin = "given network"
    cfg = {**encoder_config(config.kind), **config.frontend}
    if (cfg["resize"][0] * cfg["resize"][1]) % cfg["n_mels"]:
        raise SoundClipError(f"front end: a resized window of {cfg['resize']} cannot be reshaped to {cfg['n_mels']} "
                             "mel rows", fix="choose resize = [H, n_mels] as the official (512, 128)")
    size = getattr(net, "img_size", None)  # an image network (Swin) takes the front end's resized window as is
    if size is not None and list(cfg["resize"]) != [size, size]:
        raise SoundClipError(f"front end: windows are resized to {cfg['resize']}, the {config.kind} network takes "
                             f"{size} x {size} images", fix=f"set resize to [{size}, {size}]")
    cache = FeatureCache(config.cache or out / "cache", config.kind, cfg)
    train_clips, val_clips = _cached_clips(cache, train_set, held_out, config, node)
    warnings = training_warnings(train_clips, dataset.classes) if dataset.classes else []
    if len(train_clips) < config.batch_size:
        raise DatasetError(f"{len(train_clips)} readable training clips: fewer than one batch of "
                           f"{config.batch_size}", path=dataset.root, fix="lower --batch-size")
    images, has_image = _frames(train_clips, clip, cache.dir.parent, config, node)
    _require_frames(config, bool(has_image.any()), dataset)
    class_texts = class_embeddings(clip, held_out.classes, [config.prompt]).vectors if val_clips else None
    return Run(config, node, device, dataset, held_out, clip, described, saved, net, origin, cfg, cache,
               train_clips, val_clips, images.to(device), has_image.to(device), class_texts, notes, warnings)


def _require_frames(config: TrainConfig, any_frame: bool, dataset: AudioDataset) -> None:
    """The weakly-paired loss needs frames: refused when no training clip has one (listed, or readable)."""
    if config.loss == "weakly_paired" and not any_frame:
        raise DatasetError("the weakly-paired loss compares each clip's frame with the batch's sounds and texts, and "
                           "no training clip has a readable picture or video frame", path=dataset.root,
                           fix="give the clips pictures (an image column, or videos), or use --loss infonce")


def _cached_clips(cache: FeatureCache, train_set: AudioDataset, held_out: AudioDataset | None, config: TrainConfig,
                  node: distributed.Dist) -> tuple[list[Clip], list[Clip]]:
    """(training clips, held-out clips) whose features are in the cache, the missing ones computed now; the
    unreadable ones are left out (and listed beside the cache), unless that leaves a label with none."""
    considered = list(train_set.clips + (held_out.clips if held_out else ()))
    report = cache.build(considered, config.workers, config.progress)
    if node.main:
        print(report.summary())
    usable = set(report.usable)
    require_usable_labels(considered, [c for i, c in enumerate(considered) if i in usable], report.unreadable)
    offset = len(train_set.clips)
    train_clips = [c for i, c in enumerate(train_set.clips) if i in usable]
    val_clips = [] if held_out is None else [c for i, c in enumerate(held_out.clips) if i + offset in usable]
    return train_clips, val_clips



def _frames(clips: list[Clip], clip: ClipModel, cache_dir: Path, config: TrainConfig,
            node: distributed.Dist) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame embeddings, computed by the main process first (the others then read its cache file)."""
    if not config.image_term:
        return torch.zeros(len(clips), clip.dim), torch.zeros(len(clips), dtype=torch.bool)
    if node.main:
        images, has_image, unreadable = frame_embeddings(clips, clip, cache_dir, config.progress)
        if unreadable:
            listing = cache_dir / "unreadable_frames.txt"
            with atomic_path(listing) as tmp:
                tmp.write_text("".join(f"{p}\t{r}\n" for p, r in unreadable))
            print(f"frames: {len(unreadable)} unreadable pictures, those clips train without the image term "
                  f"(listed in {listing})")
    distributed.barrier()
    if not node.main:
        images, has_image, _ = frame_embeddings(clips, clip, cache_dir, False)
    return images, has_image
