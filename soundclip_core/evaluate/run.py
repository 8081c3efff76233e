"""An evaluation run: each encoder paired with a CLIP of its space, each dataset's clips embedded once per
encoder, then zero-shot classification, retrieval and (optionally) the linear probe on the cached embeddings.

Retrieval relevance is by class (classification datasets have no per-clip captions): for audio->text the
query is a clip and the gallery the class prompts, the clip's own class relevant; for text->audio the query
is a class prompt and the gallery the fold's clips, every clip of that class relevant.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..embedding import Embedding
from ..errors import EmbeddingSpaceError, SoundClipError
from .embed import ClipEmbeddings, embed_clips
from .metrics import (
    class_average_precisions,
    macro_average_precision,
    mean_average_precision,
    mean_of,
    retrieval_metrics,
    topk_accuracy,
)
from .probe import linear_probe, multi_label_probe
from .protocol import Plan
from .zeroshot import LOGIT_SCALE, class_embeddings, class_scores

if TYPE_CHECKING:
    from ..clip import ClipModel
    from ..encoders import AudioEncoder

RELEVANCE = ("by class: audio->text ranks the class prompts for each clip (its own class relevant); "
             "text->audio ranks the fold's clips for each class prompt (that class's clips relevant)")
SCORES = "zero-shot mAP and accuracy from softmax(100 * cosine) over the classes; probe from its softmax"


@dataclass(frozen=True)
class ModelPair:
    """An audio encoder and the CLIP whose text tower lives in its space, under a display name."""

    name: str
    encoder: AudioEncoder
    clip: ClipModel


def _mismatch(name: str, encoder: AudioEncoder, clip: ClipModel) -> EmbeddingSpaceError:
    return EmbeddingSpaceError(
        f"encoder {name} ({encoder.source}) lives in CLIP space '{encoder.space}', but CLIP {clip.source} is "
        f"'{clip.space}'", fix="give a CLIP of the encoder's space (soundclip/wav2clip: ViT-B-32; AudioCLIP "
                               "Partial: RN50; AudioCLIP Full: its own file)")


def pair_models(encoders: Sequence[tuple[str, AudioEncoder]], clips: Sequence[ClipModel]) -> list[ModelPair]:
    """As many CLIPs as encoders: paired in the order given, each pair must share its space. Otherwise each
    encoder takes the (first) CLIP of its space."""
    if not encoders or not clips:
        raise SoundClipError("give at least one audio encoder and one CLIP",
                             fix="pass --encoder and --clip (each may be repeated)")
    if len(encoders) == len(clips):
        for (name, encoder), clip in zip(encoders, clips, strict=True):
            if encoder.space != clip.space or encoder.dim != clip.dim:
                raise _mismatch(name, encoder, clip)
        return [ModelPair(name, encoder, clip) for (name, encoder), clip in zip(encoders, clips, strict=True)]
    pairs = []
    for name, encoder in encoders:
        clip = next((c for c in clips if c.space == encoder.space and c.dim == encoder.dim), None)
        if clip is None:
            raise EmbeddingSpaceError(
                f"no CLIP of encoder {name}'s space '{encoder.space}' among the CLIPs given "
                f"({', '.join(f'{c.source}: {c.space}' for c in clips)})",
                fix="add a --clip of that space, or give one --clip per --encoder in the same order")
        pairs.append(ModelPair(name, encoder, clip))
    return pairs


def _sections(cosine: torch.Tensor, targets: torch.Tensor) -> dict:
    """Zero-shot and retrieval metrics of one test set: cosine [n, K] of its clips with the K classes."""
    probabilities = F.softmax(LOGIT_SCALE * cosine, dim=-1)
    relevant = targets[:, None] == torch.arange(cosine.shape[1])[None]
    return {
        "zero_shot": {"top1": topk_accuracy(probabilities, targets, 1),
                      "top5": topk_accuracy(probabilities, targets, 5),
                      "mAP": mean_average_precision(probabilities, targets), "clips": int(len(targets))},
        "audio_to_text": retrieval_metrics(cosine, relevant),
        "text_to_audio": retrieval_metrics(cosine.t(), relevant.t()),
    }


def _multi_label_sections(cosine: torch.Tensor, targets: torch.Tensor) -> dict:
    """The same for multi-label clips (AudioSet), targets [n, K] bool: zero-shot mAP of the cosines (each class
    scored on its own, no softmax over classes) over the classes with positives, and per-class AP (None: the
    class has no positive here)."""
    per_class = class_average_precisions(cosine, targets)
    return {
        "zero_shot": {"mAP": macro_average_precision(cosine, targets), "clips": int(len(targets)),
                      "classes_scored": int((~per_class.isnan()).sum()), "per_class_AP": per_class.tolist()},
        "audio_to_text": retrieval_metrics(cosine, targets),
        "text_to_audio": retrieval_metrics(cosine.t(), targets.t()),
    }


def evaluate_pair(plan: Plan, vectors: torch.Tensor, keep: torch.Tensor, texts: Embedding,
                  probe: bool = False) -> dict:
    """Every metric of one encoder on one planned dataset, per fold and averaged over folds.

    vectors: [N, D] unit audio embeddings of the plan's clips; keep: [N] bool, the clips every encoder read."""
    multi_label = plan.dataset.multi_label
    targets = plan.dataset.target_matrix() if multi_label else torch.tensor(plan.dataset.targets())
    folds = torch.tensor([c.fold or 0 for c in plan.dataset.clips])
    cosine = class_scores(Embedding(vectors[keep], texts.space, "audio"), texts)
    full = torch.full((len(keep), cosine.shape[1]), torch.nan)
    full[keep] = cosine
    tests = {"all": keep} if plan.folds is None else {str(f): keep & (folds == f) for f in plan.folds}
    per_fold: dict[str, dict] = {}
    for fold, test in tests.items():
        if not bool(test.any()):
            raise SoundClipError(f"no readable clip left in fold {fold} of {plan.dataset.root}",
                                 fix="check the skipped clips listed above")
        per_fold[fold] = (_multi_label_sections if multi_label else _sections)(full[test], targets[test])
        if probe:
            train = keep & ~test
            per_fold[fold]["linear_probe"] = (
                multi_label_probe(vectors[train], targets[train], vectors[test], targets[test]) if multi_label else
                linear_probe(vectors[train], targets[train], folds[train], vectors[test], targets[test],
                             len(plan.dataset.classes)))
    sections = per_fold[next(iter(per_fold))].keys()
    return {section: {"mean": mean_of([r[section] for r in per_fold.values()]),
                      "folds": {fold: r[section] for fold, r in per_fold.items()}} for section in sections}


def run_evaluation(plans: Sequence[Plan], pairs: Sequence[ModelPair], templates: Sequence[str],
                   probe: bool = False, batch_size: int = 16, workers: int = 2,
                   progress: Callable[[str, int, int], None] | None = None,
                   log: Callable[[str], None] = print, cache: str | os.PathLike | None = None) -> dict:
    """The whole report (JSON-ready): per dataset, per encoder, every metric per fold and as the fold mean.
    `cache`: a folder where each encoder's embeddings of each dataset are saved as they are made (an interrupted
    run resumes from them)."""
    report = {"templates": list(templates), "relevance": RELEVANCE, "scores": SCORES,
              "encoders": [{"name": p.name, "kind": p.encoder.kind, "space": p.encoder.space,
                            "encoder": p.encoder.source, "clip": p.clip.source} for p in pairs],
              "datasets": [], "results": {p.name: {} for p in pairs}}
    for plan in plans:
        key, copy = plan.dataset.name, 1
        while any(d["name"] == key for d in report["datasets"]):  # the same kind twice: folder, folder#2
            copy += 1
            key = f"{plan.dataset.name}#{copy}"
        paths = [c.audio for c in plan.dataset.clips]
        embedded: list[ClipEmbeddings] = []
        for pair in pairs:
            label = f"{key} / {pair.name}"
            embedded.append(embed_clips(pair.encoder, paths, batch_size=batch_size, workers=workers, cache=cache,
                                        progress=None if progress is None else
                                        (lambda done, total, label=label: progress(label, done, total))))
            e = embedded[-1]
            log(f"{label}: {int(e.ok.sum())} clips in {e.seconds['wall']:.1f} s ({e.clips_per_second:.2f} clips/s; "
                f"decode {e.seconds['decode']:.1f} s, frontend {e.seconds['frontend']:.1f} s in the worker "
                f"threads, network {e.seconds['network']:.1f} s)")
        keep = torch.stack([e.ok for e in embedded]).all(0)
        skipped = sorted({s for e in embedded for s in e.skipped})
        for path, reason in skipped:
            log(f"skipped {path}: {reason}")
        if not bool(keep.any()):
            raise SoundClipError("no clip of the dataset could be read", path=plan.dataset.root,
                                 fix="read why in the skipped clips listed above: re-download damaged files, or "
                                     "install what they need (PyAV for video)")
        report["datasets"].append({
            "name": key, "kind": plan.dataset.name, "root": str(plan.dataset.root), "protocol": plan.description,
            "classes": list(plan.dataset.classes), "clips": len(paths), "evaluated": int(keep.sum()),
            "skipped": [{"path": p, "reason": r} for p, r in skipped], "missing": list(plan.dataset.missing)})
        for pair, e in zip(pairs, embedded, strict=True):
            texts = class_embeddings(pair.clip, plan.dataset.classes, templates)
            result = evaluate_pair(plan, e.vectors, keep, texts, probe)
            result["timing"] = {**{k: round(v, 3) for k, v in e.seconds.items()},
                                "clips_per_second": round(e.clips_per_second, 3)}
            report["results"][pair.name][key] = result
    return report
