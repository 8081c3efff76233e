"""Training throughput (CPU): clips/s of a training step and of evaluation encoding, and an epoch with
the feature cache against the same epoch decoding every clip again (what an uncached loader does).

    python benchmarks/train.py [--batch 64] [--clips 64] [--threads N]

1. train step: the real SoundCLIP network (Conv2d + timm resnet18, 512-d) on the official input
   [B, 1, 128, 512], both views (plain + SpecAugmented), the contrastive loss, backward and an SGD step.
2. evaluation encoding: the same network, eval mode, no gradients, from cached log-mels.
3. epoch, cached vs decoded: `--clips` synthetic 5 s clips at 44.1 kHz (ESC-50's format), read through the
   training DataLoader either from the cache or by decoding + computing the log-mel per item; timed for the
   data alone and for whole epochs of a reduced network (where data loading is what a GPU would wait on).
4. `--teach`: a collection of your own sounds as issue 28 describes it, generated: `--classes` (10) labels of
   `--per-class` (40) clips built like real recordings (tests/fixtures/sound_datasets.write_hard_folder: shaped
   noise textures, events, overlaps, loudness, 4 "recordings" per label), the same stratified 20 % held out;
   the former default recipe (official) against the auto recipe, each given `--epochs` (30), from the same
   random network (reduced, or the real resnet18 with `--full`; from scratch either way: no paper checkpoint
   here) and a tiny random CLIP whose text tower sees the label names: held-out zero-shot accuracy before,
   best and last, the best epoch and the time to reach it (feature caching excluded: the cache is shared).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.datasets import Clip  # noqa: E402
from soundclip_core.encoders import encoder_config  # noqa: E402
from soundclip_core.encoders.soundclip import SoundCLIPNet  # noqa: E402
from soundclip_core.train.augment import encoder_input, resize, sample_bands, spec_augment  # noqa: E402
from soundclip_core.train.data import TrainSet  # noqa: E402
from soundclip_core.train.features import FeatureCache, compute_features  # noqa: E402
from soundclip_core.train.loss import contrastive_loss  # noqa: E402
from soundclip_core.train.recipes import Trainee, make_optimizer  # noqa: E402
from soundclip_core.train.validate import embed_features  # noqa: E402

CFG = encoder_config("soundclip")


def train_step_rate(net: torch.nn.Module, batch: int, steps: int) -> float:
    trainee = Trainee(net.train(), "official")
    optimizer = make_optimizer(trainee, "official", 1e-3)
    rng = np.random.default_rng(0)
    windows = torch.rand(batch, CFG["n_mels"], CFG["frames"])
    bands = torch.from_numpy(np.stack([sample_bands(rng, *CFG["resize"]) for _ in range(batch)]))
    text = torch.nn.functional.normalize(torch.randn(batch, net.embed_dim), dim=-1)

    def step() -> None:
        resized = resize(windows, tuple(CFG["resize"]))
        plain = encoder_input(resized, CFG["n_mels"])
        augmented = encoder_input(spec_augment(resized, bands), CFG["n_mels"])
        audio, audio_aug = trainee(plain, augmented)
        contrastive_loss(audio, text, trainee.scale(), audio_aug)["total"].backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def eval_rate(net: torch.nn.Module, batch: int) -> float:
    mels = [np.random.default_rng(i).random((CFG["n_mels"], 431)).astype(np.float16) for i in range(batch)]
    net.eval()
    embed_features(net, mels[:2], CFG, torch.device("cpu"))
    start = time.perf_counter()
    embed_features(net, mels, CFG, torch.device("cpu"), batch=batch)
    return batch / (time.perf_counter() - start)


def write_clips(folder: Path, count: int) -> list[Clip]:
    clips = []
    t = np.arange(5 * 44100) / 44100
    for i in range(count):
        path = folder / f"clip{i}.wav"
        tone = 0.3 * np.sin(2 * math.pi * (200 + 10 * i) * t) + np.random.default_rng(i).normal(0, 0.02, t.shape)
        soundfile.write(path, tone.astype(np.float32), 44100)
        clips.append(Clip(path.resolve(), "tone", "tone"))
    return clips


class Decoded:
    """The uncached loader: every item decodes its file and computes its log-mel again."""

    def __init__(self, clips):
        self.clips = clips

    def __call__(self, i: int) -> np.ndarray:
        return compute_features(self.clips[i].audio, CFG)


class Cached:
    def __init__(self, cache: FeatureCache, clips):
        self.cache, self.clips = cache, clips

    def __call__(self, i: int) -> np.ndarray:
        return self.cache.load(self.clips[i])


def epoch_seconds(source, clips, batch: int, net: torch.nn.Module | None) -> float:
    items = TrainSet(source, [c.caption for c in clips], CFG, seed=0, text_augment=True)
    loader = torch.utils.data.DataLoader(items, batch_size=batch, shuffle=True, num_workers=0)
    trainee = None if net is None else Trainee(net.train(), "official")
    start = time.perf_counter()
    for data in loader:
        if trainee is not None:
            resized = resize(data["window"].float(), tuple(CFG["resize"]))
            audio, _ = trainee(encoder_input(resized, CFG["n_mels"]))
            audio.sum().backward()
    return time.perf_counter() - start


def small_network(embed_dim: int = 512) -> torch.nn.Module:
    from timm.models.resnet import BasicBlock, ResNet

    net = SoundCLIPNet(embed_dim)
    net.feature_extractor = ResNet(BasicBlock, (1, 1, 1, 1), channels=(8, 16, 32, 64), num_classes=embed_dim)
    return net


TEACH_LABELS = ("rain", "dog", "engine", "bird", "crickets", "snore", "clock_tick", "sea_waves", "wind",
                "keyboard_typing")


def teach_comparison(args: argparse.Namespace) -> None:
    """Section 4: the official recipe and the auto recipe side by side on a generated collection."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))
    from sound_datasets import hard_classes, write_hard_folder  # noqa: PLC0415 (test helpers, only here)
    from train_helpers import FRONTEND  # noqa: PLC0415

    from soundclip_core.clip import tiny_clip  # noqa: PLC0415
    from soundclip_core.train import TrainConfig, train  # noqa: PLC0415
    from soundclip_core.train.auto import LR  # noqa: PLC0415

    # a network passed in counts as pretrained (the node's encoder); this one is random: the from-scratch rates
    SCRATCH = {"lr": LR["scratch"], "trunk_lr": LR["scratch"]}  # noqa: N806

    device = "cuda" if torch.cuda.is_available() else "cpu"
    labels = (TEACH_LABELS * (args.classes // len(TEACH_LABELS) + 1))[:args.classes]
    labels = [f"{name}{i // len(TEACH_LABELS) or ''}" for i, name in enumerate(labels)]
    with tempfile.TemporaryDirectory() as tmp:
        data = write_hard_folder(Path(tmp) / "collection", args.per_class, hard_classes(labels, seed=0))
        clip = tiny_clip(seed=3, device=device)
        network = "resnet18" if args.full else "reduced resnet"
        print(f"{device}, {args.threads} threads, {args.classes} labels x {args.per_class} clips of 2 s, 20 % held "
              f"out, {network}, {args.epochs} epochs each (chance {1 / args.classes:.2f})")
        for recipe in ("official", "auto"):
            torch.manual_seed(0)
            net = SoundCLIPNet(clip.dim) if args.full else small_network(clip.dim)
            config = TrainConfig(data=str(data), out=str(Path(tmp) / recipe), cache=str(Path(tmp) / "cache"),
                                 recipe=recipe, epochs=args.epochs, holdout=0.2, frontend=FRONTEND, workers=0,
                                 progress=False, prompt="{}", device=device, patience=args.epochs,
                                 **(SCRATCH if recipe == "auto" else {}))
            log = train(config, clip=clip, net=net).log
            rows = [row for row in log if row["epoch"]]
            best = max(rows, key=lambda row: (row["val_zero_shot"], -row["epoch"]))
            to_best = sum(row["seconds"] for row in rows if row["epoch"] <= best["epoch"])
            print(f"  {recipe:8}: held-out zero-shot before {log[0]['val_zero_shot']:.3f}, best "
                  f"{best['val_zero_shot']:.3f} at epoch {best['epoch']} ({to_best:.1f} s), last "
                  f"{rows[-1]['val_zero_shot']:.3f}; {sum(row['seconds'] for row in rows):.1f} s for "
                  f"{len(rows)} epochs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1, help="timed training steps after one warm-up")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--teach", action="store_true", help="only section 4: official vs auto recipe")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--full", action="store_true", help="section 4 with the real resnet18 (slow on a CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.teach:
        teach_comparison(args)
        return
    torch.manual_seed(0)
    net = SoundCLIPNet(512)
    print(f"CPU, {args.threads} threads, resnet18 encoder, input [B, 1, 128, 512]")
    print(f"train step (2 views, fwd + bwd + SGD), batch {args.batch}: "
          f"{train_step_rate(net, args.batch, args.steps):.1f} clips/s")
    print(f"evaluation encoding from cached log-mels, batch {args.batch}: {eval_rate(net, args.batch):.1f} clips/s")
    with tempfile.TemporaryDirectory() as tmp:
        clips = write_clips(Path(tmp), args.clips)
        cache = FeatureCache(Path(tmp) / "cache", "soundclip", CFG)
        start = time.perf_counter()
        cache.build(clips, progress=False)
        print(f"building the cache for {args.clips} clips of 5 s: {time.perf_counter() - start:.2f} s (once)")
        for name, network in (("data only", None), ("reduced network fwd+bwd", small_network())):
            decoded = epoch_seconds(Decoded(clips), clips, 16, network)
            cached = epoch_seconds(Cached(cache, clips), clips, 16, network)
            print(f"epoch of {args.clips} clips, {name}: decoding {decoded:.2f} s, cached {cached:.2f} s "
                  f"({decoded / cached:.1f}x faster)")


if __name__ == "__main__":
    main()
