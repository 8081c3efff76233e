"""`soundclip train`: train an audio encoder into a CLIP space.

`soundclip train --data FOLDER` alone teaches it your own sounds (`label/clip.wav`): the auto recipe, the paper's
CLIP, a stratified held-out split, the best epoch exported, and a per-label report at the end.

On several GPUs (or CPU processes with gloo), the same command through torchrun, one process per device:
`torchrun --nproc-per-node G [--nnodes N ...] -m soundclip_core train --data ... --clip ...`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..datasets import DATASET_KINDS
from ..runtime import PRECISIONS
from ..train import TrainConfig, distributed, train
from ..train.loss import LOSSES
from ..train.network import TRAINABLE_KINDS
from ..train.recipes import RECIPES
from ..train.report import summary_lines
from ..train.validate import PROMPT
from .models import clip_request, model_files
from .options import CLIP_ARCHS, add_device_arg, add_folds_arg


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train an audio encoder into a CLIP space (the paper's objective)")
    p.add_argument("--data", required=True, help="dataset folder (ESC-50, UrbanSound8K, VGGSound, label folders) "
                                                 "or CSV manifest (audio,caption[,label,fold,image])")
    p.add_argument("--dataset-kind", choices=DATASET_KINDS, default="auto", help="the layout of --data")
    p.add_argument("--clip", default="clip-vit-b-32", help="CLIP weights file or known id (default: the paper's "
                                                          "ViT-B/32, clip-vit-b-32); frozen")
    p.add_argument("--clip-arch", choices=CLIP_ARCHS, help="the architecture the weights must be (default: read "
                                                           "off the weights)")
    p.add_argument("--kind", choices=TRAINABLE_KINDS, default="soundclip", help="the audio encoder to train")
    p.add_argument("--init", help="start from this encoder checkpoint (fine-tune) or ImageNet weights (timm resnet18 "
                                  "for --kind soundclip, swin_tiny_patch4_window7_224 for --kind swin)")
    add_folds_arg(p, "every fold but the last, which is held out for the per-epoch check")
    p.add_argument("--epochs", type=int, help="passes over the training clips (default: official/modern 50, auto "
                                              "sized to the data)")
    p.add_argument("--batch-size", type=int, help="global batch the contrastive loss sees (default: official/modern "
                                                  "320, auto sized to the data)")
    p.add_argument("--accumulate", type=int, default=1, help="batches per optimiser step")
    p.add_argument("--recipe", choices=RECIPES, default="auto",
                   help="auto (default): sized to the data, fine-tunes the paper's encoder when present, keeps class "
                        "names in captions, exports the best held-out epoch; official: SGD + CyclicLR, logits * "
                        "exp(0.07); modern: AdamW + cosine, learnable scale")
    p.add_argument("--lr", type=float, help="base learning rate (default 1e-3; auto: the head's, 1e-3 fine-tuning, "
                                            "5e-3 from scratch)")
    p.add_argument("--trunk-lr", type=float, help="auto: the pretrained trunk's learning rate (default lr / 10)")
    p.add_argument("--holdout", type=float, help="share of every label held out when the data has no folds "
                                                 "(default: auto 0.2, else 0)")
    p.add_argument("--patience", type=int, help="stop after this many epochs without a better held-out accuracy "
                                                "(default: auto 8 or a quarter of the epochs, else never)")
    p.add_argument("--seed", type=int, default=42, help="seed of initialisation, shuffling and augmentation")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="arithmetic of the training steps")
    p.add_argument("--no-self", action="store_true", help="drop the audio <-> SpecAugmented audio term")
    p.add_argument("--no-image", action="store_true", help="drop the audio <-> frame term")
    p.add_argument("--no-text-augment", action="store_true", help="captions as written (no EDA)")
    p.add_argument("--prompt", default=PROMPT, help="zero-shot prompt for the per-epoch check")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (feature caching and training)")
    p.add_argument("--cache", type=Path, help="feature cache folder (default: OUT/cache)")
    p.add_argument("--out", type=Path, default=Path("runs/soundclip"),
                   help="the run's folder: encoder.pth, log.csv, checkpoints, feature cache")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    add_device_arg(p)
    p.add_argument("--loss", choices=LOSSES, default="infonce",
                   help="infonce: the paper's terms; weakly_paired: plus the KL between the frames' similarity "
                        "distributions over the batch's texts and sounds (frames of clips sharing a text added)")
    p.set_defaults(func=run)


def config_from(args: argparse.Namespace) -> TrainConfig:
    clip = model_files({"clip": clip_request(args.clip)})["clip"]
    return TrainConfig(
        data=args.data, clip=str(clip), dataset_kind=args.dataset_kind, kind=args.kind,
        init=args.init, folds=args.folds, epochs=args.epochs, batch_size=args.batch_size, accumulate=args.accumulate,
        recipe=args.recipe, lr=args.lr, trunk_lr=args.trunk_lr, holdout=args.holdout, patience=args.patience,
        seed=args.seed, precision=args.precision, self_term=not args.no_self,
        image_term=not args.no_image, text_augment=not args.no_text_augment, prompt=args.prompt,
        out=str(args.out), cache=None if args.cache is None else str(args.cache), workers=args.workers,
        resume=args.resume, device=args.device, loss=args.loss)


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    clip = None
    if args.clip_arch:
        from ..clip import load_clip

        _, device = distributed.join(args.device)  # this process's GPU is chosen before CLIP lands anywhere
        clip = load_clip(args.clip_arch, config.clip, device)
    try:
        result = train(config, clip=clip)
        main_process = distributed.current().main
    finally:
        distributed.leave()
    if result.encoder is not None and main_process:
        last = result.log[-1] if result.log else {}
        for line in [*result.notes, *summary_lines(result.log, result.warnings)]:
            print(line)
        print(f"wrote {result.encoder} (+ .json: its CLIP space); final loss {last.get('loss', float('nan')):.4f}, "
              f"held-out zero-shot {last.get('val_zero_shot')}; log in {Path(config.out) / 'log.json'}")
    return 0
