"""`soundclip evaluate`: the paper's Table 1 for any audio encoders (zero-shot, linear probe, retrieval).

    soundclip evaluate --dataset esc50 ESC-50-master --dataset us8k UrbanSound8K \\
        --encoder soundclip-resnet18 --clip clip-vit-b-32 --encoder audioclip-partial --clip clip-rn50 \\
        --template "{}" --template "the sound of {}" --linear-probe --json table1.json

AudioSet (`--dataset audioset DIR`: class_labels_indices.csv, the segment CSVs, the clips) is scored in mAP
over its classes with positives (`--per-class` prints each class's AP); embeddings are saved as they are made
(`--cache`), so an interrupted run over its 20k eval clips resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_path
from ..clip import load_clip
from ..datasets import DATASET_KINDS, open_dataset
from ..encoders import load_audio_encoder
from ..evaluate import DEFAULT_TEMPLATES, check_templates, pair_models, plan, run_evaluation, tables
from ..evaluate.embed import BATCH_SIZE, WORKERS
from ..evaluate.table import per_class_table
from ..runtime import pick_device
from ..weights import cache_dir, ensure_all
from .models import clip_request
from .options import add_device_arg, add_folds_arg
from .outputs import check_output
from .progress import LabelledBars


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="zero-shot classification, linear probe and retrieval (Table 1)")
    p.add_argument("--dataset", nargs=2, action="append", required=True, metavar=("KIND", "DIR"),
                   help=f"a dataset: KIND is one of {', '.join(DATASET_KINDS)}; repeat for more columns")
    p.add_argument("--encoder", action="append", required=True,
                   help="audio encoder file or known id (repeat: one table row each)")
    p.add_argument("--clip", action="append", required=True,
                   help="CLIP file or id; one per --encoder in the same order, or any set: each encoder then "
                        "takes the CLIP of its space")
    add_folds_arg(p, "the dataset's protocol, ESC-50 1-5, US8K 1-10, or every fold a copy has; a folder or "
                     "manifest without folds is one set, or split into as many stratified folds as the highest id")
    p.add_argument("--template", action="append", help='prompt template with {} for the class name, e.g. "the '
                                                       'sound of {}"; repeat to ensemble (default: "{}")')
    p.add_argument("--linear-probe", action="store_true",
                   help="also fit logistic regression on the embeddings of the other folds")
    p.add_argument("--json", type=Path, help="write every number (per fold too) to this file")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="clips embedded at once")
    p.add_argument("--workers", type=int, default=WORKERS, help="decoding threads (0: decode inline)")
    add_device_arg(p)
    p.add_argument("--cache", type=Path, default=None,
                   help="folder for the embeddings made so far, per encoder and dataset: an interrupted run resumes "
                        "from them (default: the soundclip cache's evaluate/ folder)")
    p.add_argument("--no-cache", action="store_true", help="embed everything again and save nothing")
    p.add_argument("--per-class", action="store_true", help="also print each class's AP of multi-label datasets "
                                                             "(AudioSet)")
    p.set_defaults(func=run)


def _names(ids: list[str]) -> list[str]:
    """Row names: the id or file stem, made unique."""
    names = []
    for model in ids:
        name = Path(model).stem
        while name in names:
            name += "'"
        names.append(name)
    return names


def _finite(value):
    """NaN/inf (an undefined metric) as JSON null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    templates = check_templates(args.template or DEFAULT_TEMPLATES)
    if args.json:
        check_output(args.json, {".json"}, "table1.json")
    plans = [plan(open_dataset(kind, root), args.folds, args.linear_probe) for kind, root in args.dataset]
    files = list(ensure_all([(e, "audio_encoder") for e in args.encoder] + [clip_request(c) for c in args.clip]))
    device = pick_device(args.device)
    encoders = [load_audio_encoder(path, device=device) for path in files[:len(args.encoder)]]
    clips = [load_clip(None, path, device) for path in files[len(args.encoder):]]
    pairs = pair_models(list(zip(_names(args.encoder), encoders, strict=True)), clips)
    for p in plans:
        print(f"{p.dataset.name} ({p.dataset.root}): {len(p.dataset.classes)} classes, {p.description}")
        if p.dataset.missing:
            first = ", ".join(p.dataset.missing[:5])
            print(f"  {len(p.dataset.missing)} listed clips not found (not downloaded?), left out: {first}"
                  f"{' ...' if len(p.dataset.missing) > 5 else ''}")
    cache = None if args.no_cache else args.cache or cache_dir() / "evaluate"
    bars = LabelledBars("clip")
    try:
        report = run_evaluation(plans, pairs, templates, args.linear_probe, args.batch_size, args.workers,
                                bars, log=tqdm.write, cache=cache)
    finally:
        bars.close()
    print(tables(report))
    if args.per_class:
        for dataset in report["datasets"]:
            if any("per_class_AP" in next(iter(r[dataset["name"]]["zero_shot"]["folds"].values()))
                   for r in report["results"].values()):
                print(f"\nPer-class AP on {dataset['name']} (%, classes with positives)\n"
                      f"{per_class_table(report, dataset['name'])}")
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(_finite(report), indent=2, allow_nan=False))
        print(f"wrote {args.json}")
    return 0
