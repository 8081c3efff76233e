"""`train`: the whole run, one process or many under torchrun.

Order of work: settings and dataset checks, CLIP, resume compatibility (all cheap, all before any audio
is decoded), the feature cache, frame embeddings, then epochs. Each epoch logs the losses and a
zero-shot accuracy on the held-out clips, and saves the training state atomically; the end exports
the encoder in the official checkpoint layout with its space in a sidecar.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from .. import runtime
from ..atomic import atomic_path
from ..clip import ClipModel, load_clip
from ..datasets import AudioDataset, Clip, open_dataset, require_classes
from ..encoders import encoder_config
from ..errors import CheckpointError, DatasetError, SoundClipError
from ..evaluate.metrics import topk_accuracy
from ..evaluate.zeroshot import class_embeddings
from . import distributed
from .augment import encoder_input, resize, spec_augment
from .checkpoint import (
    ENCODER_FILE,
    STATE_FILE,
    config_differences,
    export_encoder,
    load_state,
    rng_state,
    save_state,
    set_rng_state,
)
from .config import TrainConfig
from .data import TrainSet
from .distributed import all_gather_plain, all_gather_with_grad, globalize_batch_norms
from .features import FeatureCache
from .frames import frame_embeddings
from .loss import contrastive_loss
from .network import build_network
from .recipes import Trainee, make_optimizer, make_scheduler
from .validate import embed_features

LOG_FIELDS = ("epoch", "loss", "audio_text", "audio_audio", "audio_image", "lr", "logit_scale", "val_zero_shot",
              "seconds", "clips_per_s")


# batch norm buffers are already equal on every process (global statistics): no per-forward broadcast
NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                  if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                  else {"broadcast_buffers": False})


@dataclass
class TrainResult:
    encoder: Path | None  # the exported encoder (None when stopped before the last epoch)
    state: Path
    log: list[dict]


class CachedFeatures:
    """i -> the cached log-mel of clips[i] (picklable, for DataLoader workers)."""

    def __init__(self, cache: FeatureCache, clips: Sequence[Clip]):
        self.cache, self.clips = cache, list(clips)

    def __len__(self) -> int:
        return len(self.clips)

    def __call__(self, i: int) -> np.ndarray:
        return self.cache.load(self.clips[i])

    def __getitem__(self, i: int) -> np.ndarray:
        return self(i)


class TextEmbeddings:
    """Frozen CLIP text embeddings of captions, remembered (augmented captions repeat a lot). New captions are
    encoded in chunks of exactly CHUNK rows (padded): a row's result then does not depend on which other
    captions share its batch (matrix kernels round differently for different batch sizes), so what the
    cache holds, and thus a resumed run, cannot change a single bit of the embeddings."""

    CHUNK = 64

    def __init__(self, clip: ClipModel, limit: int = 200_000):
        self.clip, self.limit, self.known = clip, limit, {}

    def __call__(self, captions: Sequence[str]) -> torch.Tensor:
        new = sorted({c for c in captions if c not in self.known})
        if len(self.known) + len(new) > self.limit:
            self.known.clear()
        for first in range(0, len(new), self.CHUNK):
            chunk = new[first:first + self.CHUNK]
            vectors = self.clip.encode_text(chunk + [chunk[-1]] * (self.CHUNK - len(chunk))).vectors
            self.known.update(zip(chunk, vectors, strict=False))
        return torch.stack([self.known[c] for c in captions])


def split_dataset(dataset: AudioDataset, folds: Sequence[int] | None) -> tuple[AudioDataset, AudioDataset | None]:
    """(training clips, held-out clips or None): the given folds vs the rest, else all folds but the last vs
    the last, else VGGSound's train vs test split, else everything and no held-out set."""
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
    return dataset, None


def _write_log(out: Path, log: list[dict]) -> None:
    with atomic_path(out / "log.json") as tmp:
        tmp.write_text(json.dumps(log, indent=1))
    with atomic_path(out / "log.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(log)


def _device(config: TrainConfig, node: distributed.Dist) -> torch.device:
    device = runtime.pick_device(config.device)
    if device.type == "cuda" and node.active and device.index is None:
        device = torch.device("cuda", node.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def train(config: TrainConfig, clip: ClipModel | None = None, net: nn.Module | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Train an audio encoder into `clip`'s space (loaded from config.clip when not given). `net` replaces
    the kind's network (tests: a reduced one with the same module names); `stop_after` ends the run after
    that many epochs as an interruption would (the state is saved, nothing is exported)."""
    device_type = runtime.pick_device(config.device).type
    node = distributed.from_environment(device_type)
    config.check(node.world)
    device = _device(config, node)
    runtime.precision_dtype(config.precision, device)  # refuses fp16 on CPU etc. now, not after caching
    out = Path(config.out)
    state_path = out / STATE_FILE
    dataset = open_dataset(config.dataset_kind, config.data)
    train_set, held_out = split_dataset(dataset, config.folds)
    if held_out is not None and all(c.label is not None for c in held_out.clips):
        require_classes(held_out)
    else:
        held_out = None
    if clip is None:
        clip = load_clip(None, config.clip, device)
    described = {**config.compared(), "clip_space": clip.space, "clip_dim": clip.dim,
                 "network": "default" if net is None else f"{type(net).__name__}:"
                 f"{sum(p.numel() for p in net.parameters())}"}
    saved = None
    if config.resume:
        if not state_path.is_file():
            raise CheckpointError("no training state to resume from", path=state_path, fix="run without --resume")
        saved = load_state(state_path)
        differences = config_differences(saved["config"], described)
        if differences:
            raise SoundClipError("--resume with a different configuration: " + "; ".join(differences),
                                 path=state_path, fix="resume with the original settings, or use another --out")
    elif state_path.is_file():
        raise SoundClipError("this output folder already holds a training run", path=out,
                             fix="continue it with --resume, or choose another --out")
    torch.manual_seed(config.seed)
    if net is None:
        net, origin = build_network(config.kind, clip.dim, config.init, clip.space)
    else:
        origin = "given network"
    cfg = {**encoder_config(config.kind), **config.frontend}
    if (cfg["resize"][0] * cfg["resize"][1]) % cfg["n_mels"]:
        raise SoundClipError(f"front end: a resized window of {cfg['resize']} cannot be reshaped to {cfg['n_mels']} "
                             "mel rows", fix="choose resize = [H, n_mels] as the official (512, 128)")
    cache = FeatureCache(config.cache or out / "cache", config.kind, cfg)
    report = cache.build(train_set.clips + (held_out.clips if held_out else ()), config.workers, config.progress)
    if node.main:
        print(report.summary())
    usable = set(report.usable)
    offset = len(train_set.clips)
    train_clips = [c for i, c in enumerate(train_set.clips) if i in usable]
    val_clips = [] if held_out is None else [c for i, c in enumerate(held_out.clips) if i + offset in usable]
    if len(train_clips) < config.batch_size:
        raise DatasetError(f"{len(train_clips)} readable training clips: fewer than one batch of "
                           f"{config.batch_size}", path=dataset.root, fix="lower --batch-size")
    images, has_image = _frames(train_clips, clip, cache.dir.parent, config, node)
    images, has_image = images.to(device), has_image.to(device)

    if node.active:
        globalize_batch_norms(net)
    trainee = Trainee(net.train().requires_grad_(True), config.recipe).to(device)
    model = trainee
    if node.active:
        model = DistributedDataParallel(trainee, device_ids=[device.index] if device.type == "cuda" else None,
                                        **NO_BUFFER_SYNC)
    per_rank = config.batch_size // node.world
    dataset_items = TrainSet(CachedFeatures(cache, train_clips), [c.caption for c in train_clips], cfg,
                             config.seed, config.text_augment)
    sampler = DistributedSampler(dataset_items, num_replicas=node.world, rank=node.rank, shuffle=True,
                                 seed=config.seed, drop_last=True)
    loader = DataLoader(dataset_items, batch_size=per_rank, sampler=sampler, num_workers=config.workers,
                        drop_last=True, pin_memory=device.type == "cuda")
    steps = len(loader)
    optimizer = make_optimizer(trainee, config.recipe, config.learning_rate)
    scheduler, per_step = make_scheduler(optimizer, config.recipe, config.learning_rate,
                                         config.epochs * -(-steps // config.accumulate))
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    log: list[dict] = []
    start_epoch = 0
    if saved is not None:
        trainee.load_state_dict(saved["trainee"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        set_rng_state(saved["rng"])
        start_epoch, log = int(saved["epoch"]), list(saved["log"])
    texts = TextEmbeddings(clip)
    class_texts = class_embeddings(clip, held_out.classes, [config.prompt]).vectors if val_clips else None
    height_width, n_mels = tuple(cfg["resize"]), cfg["n_mels"]
    last_epoch = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(start_epoch, last_epoch):
        began = time.perf_counter()
        dataset_items.epoch = epoch
        sampler.set_epoch(epoch)
        trainee.train()
        sums: dict[str, torch.Tensor | float] = {}
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                   disable=not (config.progress and node.main))
        for step, batch in enumerate(bar):
            sync = (step + 1) % config.accumulate == 0 or step + 1 == steps
            context = model.no_sync() if node.active and not sync else contextlib.nullcontext()
            with context:
                terms = _step_loss(model, trainee, batch, texts, images, has_image, device, config, height_width,
                                   n_mels)
                scaler.scale(terms["total"] / config.accumulate).backward()
            if sync:
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                if per_step:
                    scheduler.step()
            for name, value in terms.items():  # kept on the device: no GPU sync per step
                sums[name] = sums.get(name, 0.0) + value.detach()
            if bar.disable is False and (step % 10 == 0 or step + 1 == steps):  # the epoch's running mean
                bar.set_postfix(loss=f"{float(sums['total']) / (step + 1):.4f}", refresh=False)
        lr = optimizer.param_groups[0]["lr"]
        if not per_step:
            scheduler.step()
        accuracy = _validate(trainee.net, val_clips, held_out, cache, class_texts, cfg, device) if val_clips else None
        seconds = time.perf_counter() - began
        means = {name: float(value) / steps for name, value in sums.items()}
        row = {"epoch": epoch + 1, "loss": means["total"], "audio_text": means["audio_text"],
               "audio_audio": means.get("audio_audio", 0.0), "audio_image": means.get("audio_image", 0.0),
               "lr": lr, "logit_scale": float(trainee.scale().detach()), "val_zero_shot": accuracy,
               "seconds": seconds, "clips_per_s": steps * config.batch_size / seconds}
        log.append(row)
        if node.main:
            save_state(state_path, {"trainee": trainee.state_dict(), "optimizer": optimizer.state_dict(),
                                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                                    "epoch": epoch + 1, "rng": rng_state(), "config": described, "log": log,
                                    "origin": origin})
            _write_log(out, log)
            shown = "-" if accuracy is None else f"{accuracy:.3f}"
            tqdm.write(f"epoch {epoch + 1}: loss {row['loss']:.4f}, zero-shot on held-out {shown}")
        distributed.barrier()
    encoder_path = None
    if last_epoch == config.epochs:
        encoder_path = out / ENCODER_FILE
        if node.main:
            export_encoder(trainee.net, encoder_path, config.kind, clip.space, cfg,
                           {"trained_on": str(dataset.root), "epochs": config.epochs, "recipe": config.recipe,
                            "origin": origin})
        distributed.barrier()
    return TrainResult(encoder_path, state_path, log)


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


def _step_loss(model, trainee: Trainee, batch: dict, texts: TextEmbeddings, images: torch.Tensor,
               has_image: torch.Tensor, device: torch.device, config: TrainConfig, size: tuple[int, int],
               n_mels: int) -> dict[str, torch.Tensor]:
    """One batch: views -> embeddings (this process) -> global batch -> loss terms."""
    windows = batch["window"].to(device, non_blocking=True).float()
    resized = resize(windows, size)
    plain = encoder_input(resized, n_mels)
    augmented = encoder_input(spec_augment(resized, batch["bands"].to(device)), n_mels) if config.self_term else None
    text = texts(batch["caption"]).to(device)
    with runtime.autocast(device, config.precision):
        audio, audio_aug = model(plain, augmented)
    audio = all_gather_with_grad(audio.float())
    audio_aug = None if audio_aug is None else all_gather_with_grad(audio_aug.float())
    index = all_gather_plain(batch["index"].to(device))
    return contrastive_loss(audio, all_gather_plain(text), trainee.scale(), audio_aug, images[index],
                            has_image[index])


def _validate(net: nn.Module, clips: list[Clip], held_out: AudioDataset, cache: FeatureCache,
              class_texts: torch.Tensor, cfg: dict, device: torch.device) -> float:
    """Zero-shot top-1 accuracy on the held-out clips, each process scoring its share."""
    node = distributed.current()
    mine = clips[node.rank::node.world]
    net.eval()
    correct = torch.zeros(2, device=device)
    if mine:
        audio = embed_features(net, CachedFeatures(cache, mine), cfg, device)
        targets = torch.tensor([held_out.class_index(c.label) for c in mine], device=device)
        accuracy = topk_accuracy(audio @ class_texts.to(device).t(), targets)
        correct += torch.tensor([accuracy * len(mine), len(mine)], device=device)
    if node.active:
        torch.distributed.all_reduce(correct)
    net.train()
    return float(correct[0] / correct[1])
