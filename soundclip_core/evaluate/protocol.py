"""Which clips are evaluated, in which folds, checked before any audio is decoded.

ESC-50 is evaluated on its 5 official folds, UrbanSound8K on its 10 (each fold held out in turn, results
averaged over folds); VGGSound on its test split as one set; AudioSet on its eval segments as one set (with the
linear probe: trained on the training segment files, each a fold below eval's); a folder or manifest as one set.
`folds` are fold ids, as in training: the held-out folds to evaluate (default: the protocol's). A copy of a
dataset holding only some of its folds is evaluated on the folds it has, and the plan says so. A folder or manifest
without folds is split into as many stratified folds as the highest id asked for (the linear probe needs folds to
train on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..datasets import AudioDataset, require_classes
from ..errors import DatasetError

PROTOCOL_FOLDS = {"esc50": 5, "us8k": 10}


@dataclass(frozen=True)
class Plan:
    """A dataset ready to evaluate: `folds` are the held-out folds (None: the whole set is one test set);
    `note`: how the plan differs from the dataset's protocol ("" when it does not)."""

    dataset: AudioDataset
    folds: tuple[int, ...] | None
    note: str = ""

    @property
    def description(self) -> str:
        if self.folds is None:
            return f"whole set ({len(self.dataset)} clips)"
        return (f"{len(self.folds)} folds {list(self.folds)}, each held out in turn, mean over folds"
                + (f" ({self.note})" if self.note else ""))


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


def plan(dataset: AudioDataset, folds: Sequence[int] | None = None, linear_probe: bool = False) -> Plan:
    """The protocol for `dataset`, held-out `folds` by id (default: the protocol's, or every fold this copy has);
    refuses unlabelled or single-class data, fold ids the dataset does not have, and a linear probe without folds
    to train on."""
    require_classes(dataset, minimum=2)
    if dataset.name == "audioset":
        if folds is not None:
            raise DatasetError("AudioSet is evaluated on its eval segments (the probe trained on its training "
                               "segments): it has no folds to choose", path=dataset.root,
                               fix="leave out --folds for AudioSet (evaluate it in a run of its own if other "
                                   "datasets need --folds)")
        return _audioset_plan(dataset, linear_probe)
    if dataset.name == "vggsound" and any(c.split == "test" for c in dataset.clips):
        dataset = require_classes(dataset.select(split="test"), minimum=2)
    folds = None if folds is None else tuple(sorted(set(folds)))
    have = dataset.folds()
    if have and len(have) != len({c.fold for c in dataset.clips}):
        raise DatasetError("some clips have a fold and others none", path=dataset.root,
                           fix="give every clip a fold, or none")
    if have:
        if linear_probe and len(have) < 2:
            raise DatasetError(f"the linear probe needs at least two folds, this dataset has {have}",
                               path=dataset.root, fix="add clips of another fold, or drop --linear-probe")
        if folds is not None:
            absent = [f for f in folds if f not in have]
            if absent:
                raise DatasetError(f"fold {', '.join(map(str, absent))} asked for, but this copy of the dataset has "
                                   f"folds {have}", path=dataset.root,
                                   fix=f"pass fold ids it has (e.g. --folds {','.join(map(str, have))}), or leave "
                                       "out --folds")
            return Plan(dataset, folds)
        protocol = PROTOCOL_FOLDS.get(dataset.name, len(have))
        note = ""
        if len(have) < protocol:
            note = (f"{dataset.name}'s protocol has {protocol} folds, this copy has {len(have)}: evaluated on the "
                    "folds it has")
        return Plan(dataset, tuple(have[:protocol]), note)
    if folds is not None:
        count = max(folds)
        return Plan(stratified_folds(dataset, count), folds, f"split into {count} stratified folds")
    if linear_probe:
        raise DatasetError("the linear probe trains on some folds and tests on another, and this dataset has none",
                           path=dataset.root, fix="pass e.g. --folds 1-5 to split it into 5 stratified folds")
    return Plan(dataset, None)


def _audioset_plan(dataset: AudioDataset, linear_probe: bool) -> Plan:
    """The eval segments as one test set (or, where the copy has none, every clip it has); the linear probe
    holds eval's fold out and trains on the training segment files' clips."""
    splits = {c.split: c.fold for c in dataset.clips}
    if not linear_probe:
        if "eval" in splits:
            return Plan(dataset.select(split="eval"), None)
        return Plan(dataset, None, "no eval_segments.csv: every clip found is a test clip")
    if "eval" not in splits or len(splits) < 2:
        raise DatasetError(f"the linear probe trains on AudioSet's training segments and tests on its eval segments; "
                           f"this copy has {sorted(splits)}", path=dataset.root,
                           fix="add balanced_train_segments.csv and eval_segments.csv with their clips, or drop "
                               "--linear-probe")
    training = ", ".join(sorted(s for s in splits if s != "eval"))
    return Plan(dataset, (splits["eval"],), f"eval held out, the probe trained on {training}")
