"""A collection of labelled sounds as a user brings it (`label/clip.wav`, a few dozen clips per label): what is
checked before a run, the held-out split made when the data has no folds, and what the decoded clips show.

Documented behaviours, each chosen so a run either learns something or stops before the long work:
- more than MAX_LABELS labels: refused by the auto recipe before any audio is read (such folders are nearly
  always one level too high or too low, e.g. one folder per recording; a real taxonomy that large belongs in a
  CSV manifest trained with --recipe modern);
- a label with one clip: used for training only (nothing is left to hold out), with a warning; so is a label
  with two clips;
- a label with fewer than FEW_CLIPS training clips: trained on, with a warning naming it and its count;
- a label all of whose clips are silent or unreadable: refused after decoding, before the first step, naming
  its folder;
- mixed sample rates: every clip is resampled to the front end's rate when its features are cached;
- short clips (0.1 s): zero-padded to the training window (as the official loader pads); long ones (an
  hour): their features are read in evenly spaced segments (`features.py`), so memory stays bounded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from ..datasets import AudioDataset, Clip
from ..errors import DatasetError

MAX_LABELS = 1000
FEW_CLIPS = 5
HOLDOUT = 0.2  # the auto recipe's held-out share of every label
MIN_TO_HOLD = 3  # labels with fewer clips are used for training only


def check_labels(dataset: AudioDataset) -> None:
    """Refuse a collection with more labels than a zero-shot check and a small-data recipe can serve."""
    if len(dataset.classes) > MAX_LABELS:
        raise DatasetError(f"the dataset has {len(dataset.classes)} labels, over the {MAX_LABELS} a collection of "
                           "your own sounds can have", path=dataset.root,
                           fix="give the folder whose sub-folders are the labels (one per kind of sound, not one "
                               "per recording), merge labels, or list a large taxonomy in a CSV manifest "
                               "(audio,label) and train with --recipe modern")


def stratified_split(dataset: AudioDataset, fraction: float, seed: int) -> tuple[AudioDataset, AudioDataset | None]:
    """(training, held-out) with round(fraction * n) clips (at least one) of every label of n >= MIN_TO_HOLD clips
    held out, drawn with `seed`; labels with fewer clips train only. None when nothing is held out."""
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    by_label: dict[str, list[int]] = {}
    for i, clip in enumerate(dataset.clips):
        by_label.setdefault(clip.label, []).append(i)
    for label in sorted(by_label, key=str):
        members = by_label[label]
        if label is None or len(members) < MIN_TO_HOLD:
            continue
        count = max(1, round(fraction * len(members)))
        held.update(int(i) for i in rng.choice(members, size=count, replace=False))
    train = replace(dataset, clips=tuple(c for i, c in enumerate(dataset.clips) if i not in held))
    kept = tuple(c for i, c in enumerate(dataset.clips) if i in held)
    return train, (replace(dataset, clips=kept) if kept else None)


def training_warnings(clips: list[Clip], classes: tuple[str, ...]) -> list[str]:
    """One line per label with fewer than FEW_CLIPS training clips, naming it and its count."""
    counts = Counter(c.label for c in clips)
    return [f"label '{label}' has only {counts[label]} training clip{'s' * (counts[label] != 1)}: too few to learn "
            f"from reliably (aim for {4 * FEW_CLIPS} or more)" for label in classes if counts[label] < FEW_CLIPS]


def require_usable_labels(considered: list[Clip], usable: list[Clip], unreadable: list[tuple[str, str]]) -> None:
    """Refuse a label none of whose `considered` clips could be decoded (a folder of silent or broken files): its
    name would be trained toward nothing."""
    present = {c.label for c in usable}
    reasons = dict(unreadable)
    for label in sorted({c.label for c in considered} - present, key=str):
        members = [c for c in considered if c.label == label]
        why = reasons.get(str(members[0].audio), "unreadable")
        raise DatasetError(f"none of the {len(members)} clips of label '{label}' can be used ({why})",
                           path=members[0].audio.parent,
                           fix="replace the folder's clips with recordings that have sound, or remove the folder")
