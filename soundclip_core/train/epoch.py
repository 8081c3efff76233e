"""The epoch: one pass over this process's share of the training clips, the optimiser stepped once per
`accumulate` batches, then the zero-shot check on the held-out clips; it returns the epoch's log row."""

from __future__ import annotations

import contextlib
import time

import torch
from tqdm import tqdm

from .. import runtime
from .augment import encoder_input, resize, spec_augment
from .distributed import all_gather_plain, all_gather_with_grad
from .loss import contrastive_loss
from .report import class_report
from .run import Run
from .trainer import Trainer
from .validate import held_out_predictions
from .weak import SameTextFrames


def held_out_scores(run: Run, trainer: Trainer) -> dict:
    """The zero-shot check of the network as it is now: {"val_zero_shot": top-1 accuracy or None without
    held-out clips, "val_per_class", "val_confusion"} (see report.class_report)."""
    if not run.val_clips:
        return {"val_zero_shot": None}
    predicted, targets = held_out_predictions(trainer.trainee.net, run.val_clips, run.held_out, run.cache,
                                              run.class_texts, run.cfg, run.device)
    return class_report(predicted, targets, run.held_out.classes)


def run_epoch(run: Run, trainer: Trainer, epoch: int) -> dict:
    """Epoch `epoch` (0-based) -> its row: mean loss terms, learning rate, logit scale, the zero-shot check on
    the held-out clips (accuracy None without them; per label; confusions), seconds and clips per second."""
    config, node = run.config, run.node
    began = time.perf_counter()
    trainer.items.epoch = epoch
    trainer.sampler.set_epoch(epoch)
    trainer.trainee.train()
    steps = len(trainer.loader)
    sums: dict[str, torch.Tensor | float] = {}
    running = runtime.LateValues()
    extras = (SameTextFrames([c.label or c.caption for c in run.train_clips], run.has_image, config.seed)
              if config.loss == "weakly_paired" else None)
    bar = tqdm(trainer.loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
               disable=not (config.progress and node.main))
    for step, batch in enumerate(bar):
        sync = (step + 1) % config.accumulate == 0 or step + 1 == steps
        context = trainer.model.no_sync() if node.active and not sync else contextlib.nullcontext()
        with context:
            terms = _step_loss(run, trainer, batch, None if extras is None else (extras, epoch, step))
            trainer.scaler.scale(terms["total"] / config.accumulate).backward()
        if sync:
            trainer.scaler.step(trainer.optimizer)
            trainer.scaler.update()
            trainer.optimizer.zero_grad(set_to_none=True)
            if trainer.per_step:
                trainer.scheduler.step()
        for name, value in terms.items():  # kept on the device: no GPU sync per step
            sums[name] = sums.get(name, 0.0) + value.detach()
        if bar.disable is False and (step % 10 == 0 or step + 1 == steps):  # the epoch's running mean
            running.push({"loss": sums["total"] / (step + 1)})  # shown as it arrives: no wait for the GPU
            shown = running.wait() if step + 1 == steps else running.latest()
            if shown:
                bar.set_postfix(loss=f"{shown['loss']:.4f}", refresh=False)
    lr = trainer.optimizer.param_groups[0]["lr"]
    if not trainer.per_step:
        trainer.scheduler.step()
    scores = held_out_scores(run, trainer)
    seconds = time.perf_counter() - began
    means = {name: float(value) / steps for name, value in sums.items()}
    return {"epoch": epoch + 1, "loss": means["total"], "audio_text": means["audio_text"],
            "audio_audio": means.get("audio_audio", 0.0), "audio_image": means.get("audio_image", 0.0),
            "weak_kl": means.get("weak_kl", 0.0),
            "lr": lr, "logit_scale": float(trainer.trainee.scale().detach()), **scores,
            "seconds": seconds, "clips_per_s": steps * config.batch_size / seconds}


def _step_loss(run: Run, trainer: Trainer, batch: dict, extras: tuple[SameTextFrames, int, int] | None = None,
               ) -> dict[str, torch.Tensor]:
    """One batch: views -> embeddings (this process) -> global batch -> loss terms. `extras` (the weakly-paired
    loss: the sampler, epoch, step): the visual rows are the batch's frames and one more frame per clip that
    shares its text."""
    config, device = run.config, run.device
    windows = batch["window"].to(device, non_blocking=True).float()
    resized = resize(windows, tuple(run.cfg["resize"]))
    plain = encoder_input(resized, run.cfg["n_mels"])
    augmented = (encoder_input(spec_augment(resized, batch["bands"].to(device)), run.cfg["n_mels"])
                 if config.self_term else None)
    text = trainer.texts(batch["caption"]).to(device)
    with runtime.autocast(device, config.precision):
        audio, audio_aug = trainer.model(plain, augmented)
    audio = all_gather_with_grad(audio.float())
    audio_aug = None if audio_aug is None else all_gather_with_grad(audio_aug.float())
    index = all_gather_plain(batch["index"].to(device))
    groups = all_gather_plain(batch["group"].to(device)) if "group" in batch else None
    visual = None
    if extras is not None:
        sampler, epoch, step = extras
        rows = torch.cat([index[run.has_image[index]], sampler.draw(index, epoch, step)])
        visual = run.images[rows]
    return contrastive_loss(audio, all_gather_plain(text), trainer.trainee.scale(), audio_aug, run.images[index],
                            run.has_image[index], visual, groups)
