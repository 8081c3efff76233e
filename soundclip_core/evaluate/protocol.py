"""Which clips are evaluated, in which folds, checked before any audio is decoded.

ESC-50 is evaluated on its 5 official folds, UrbanSound8K on its 10 (each fold held out in turn, results
averaged over folds); VGGSound on its test split as one set; a folder or manifest as one set, or split into
N stratified folds with `folds=N` (the linear probe needs folds to train on).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..datasets import AudioDataset, require_classes
from ..errors import DatasetError

PROTOCOL_FOLDS = {"esc50": 5, "us8k": 10}


@dataclass(frozen=True)
class Plan:
    """A dataset ready to evaluate: `folds` are the held-out folds (None: the whole set is one test set)."""

    dataset: AudioDataset
    folds: tuple[int, ...] | None

    @property
    def description(self) -> str:
        if self.folds is None:
            return f"whole set ({len(self.dataset)} clips)"
        return f"{len(self.folds)} folds {list(self.folds)}, each held out in turn, mean over folds"


def stratified_folds(dataset: AudioDataset, count: int) -> AudioDataset:
    """Assign folds 1..count: within each class, clips in path order go round-robin to the folds."""
    if count < 2 or count > len(dataset):
        raise DatasetError(f"cannot split {len(dataset)} clips into {count} folds", path=dataset.root,
                           fix="choose between 2 and the number of clips")
    seen: dict[str, int] = {}
    clips = []
    for clip in sorted(dataset.clips, key=lambda c: (c.label or "", str(c.audio))):
        rank = seen.get(clip.label or "", 0)
        seen[clip.label or ""] = rank + 1
        clips.append(replace(clip, fold=rank % count + 1))
    return replace(dataset, clips=tuple(clips))


def plan(dataset: AudioDataset, folds: int | None = None, linear_probe: bool = False) -> Plan:
    """The protocol for `dataset`: refuses unlabelled or single-class data, fewer folds than asked (or than the
    dataset's protocol has), and a linear probe without folds."""
    require_classes(dataset, minimum=2)
    if dataset.name == "vggsound" and any(c.split == "test" for c in dataset.clips):
        dataset = require_classes(dataset.select(split="test"), minimum=2)
    have = dataset.folds()
    if have and len(have) != len({c.fold for c in dataset.clips}):
        raise DatasetError("some clips have a fold and others none", path=dataset.root,
                           fix="give every clip a fold, or none")
    if have:
        wanted = folds or PROTOCOL_FOLDS.get(dataset.name, len(have))
        if len(have) < wanted:
            asked = f"{wanted} folds asked for" if folds else f"{dataset.name}'s protocol has {wanted} folds"
            raise DatasetError(f"{asked}, but this copy of the dataset has {len(have)} ({have})", path=dataset.root,
                               fix=f"use the complete dataset, or pass --folds {len(have)}")
        if linear_probe and len(have) < 2:
            raise DatasetError(f"the linear probe needs at least two folds, this dataset has {have}",
                               path=dataset.root, fix="add clips of another fold, or drop --linear-probe")
        return Plan(dataset, tuple(have[:wanted]))
    if folds:
        return Plan(stratified_folds(dataset, folds), tuple(range(1, folds + 1)))
    if linear_probe:
        raise DatasetError("the linear probe trains on some folds and tests on another, and this dataset has none",
                           path=dataset.root, fix="pass --folds N to split it into N stratified folds")
    return Plan(dataset, None)
