"""`Clip` and `AudioDataset`: what every layout reader returns."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..errors import DatasetError


def clean_label(name: str) -> str:
    """A dataset's class name as words for prompts and captions: "car_horn" -> "car horn", "Dog" -> "dog"."""
    return re.sub(r"\s+", " ", name.replace("_", " ")).strip().lower()


@dataclass(frozen=True)
class Clip:
    """One sound. `audio` is absolute; `label` is the class as the dataset writes it (None when unlabelled);
    `caption` the training text; `fold` the dataset's fold (ESC-50 1-5, US8K 1-10); `image` an image or
    video file to take a frame from; `split` VGGSound's "train"/"test", AudioSet's segment file
    ("balanced_train", "unbalanced_train", "eval"); `labels` every class of a multi-label clip (AudioSet: its
    display names, `label` the first of them)."""

    audio: Path
    label: str | None
    caption: str
    fold: int | None = None
    image: Path | None = None
    split: str | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class AudioDataset:
    """A named set of clips; `classes` are the sorted unique labels, or the layout's own class list (AudioSet's
    527 in index order, every VGGSound label of its CSV), kept when selecting folds, so class indices mean the
    same in every subset. `missing` lists metadata rows whose file is absent (VGGSound and AudioSet downloads
    are always partial)."""

    name: str
    root: Path
    clips: tuple[Clip, ...]
    classes: tuple[str, ...]
    missing: tuple[str, ...] = field(default=(), compare=False)

    def __len__(self) -> int:
        return len(self.clips)

    def folds(self) -> list[int]:
        return sorted({c.fold for c in self.clips if c.fold is not None})

    def class_index(self, label: str) -> int:
        return self.classes.index(label)

    @property
    def multi_label(self) -> bool:
        return any(c.labels for c in self.clips)

    def target_matrix(self) -> torch.Tensor:
        """[N, K] bool: clip n belongs to class k (every label of a multi-label clip, else its one label)."""
        lookup = {name: i for i, name in enumerate(self.classes)}
        matrix = torch.zeros(len(self.clips), len(self.classes), dtype=torch.bool)
        for n, clip in enumerate(self.clips):
            for label in clip.labels or ((clip.label,) if clip.label is not None else ()):
                matrix[n, lookup[label]] = True
        return matrix

    def targets(self) -> list[int]:
        """The class index of every clip (all clips must be labelled)."""
        if any(c.label is None for c in self.clips):
            raise DatasetError("this dataset has unlabelled clips", path=self.root,
                               fix="give every clip a label (a `label` column in the CSV manifest)")
        lookup = {name: i for i, name in enumerate(self.classes)}
        return [lookup[c.label] for c in self.clips]

    def select(self, folds: Iterable[int] | None = None, split: str | None = None) -> AudioDataset:
        """The clips of the given folds (None: all) and/or split; asking for a fold the layout lacks is an error."""
        clips = self.clips
        if folds is not None:
            wanted = {int(f) for f in folds}
            absent = sorted(wanted - set(self.folds()))
            if absent:
                raise DatasetError(f"folds {absent} are not in this dataset (it has {self.folds() or 'no folds'})",
                                   path=self.root, fix="choose folds the dataset has")
            clips = tuple(c for c in clips if c.fold in wanted)
        if split is not None:
            clips = tuple(c for c in clips if c.split == split)
            if not clips:
                present = sorted({c.split for c in self.clips if c.split is not None})
                raise DatasetError(f"no clips in split '{split}'", path=self.root,
                                   fix=f"choose a split it has ({', '.join(present)})" if present else
                                       "leave the split out (only VGGSound's metadata has splits)")
        return replace(self, clips=clips)


def require_classes(dataset: AudioDataset, minimum: int = 2) -> AudioDataset:
    """Refuse a dataset that cannot be classified: unlabelled clips, or fewer than `minimum` classes."""
    if not dataset.clips:
        raise DatasetError("the dataset has no clips", path=dataset.root,
                           fix="choose folds or a split that hold clips, or add clips to the dataset")
    dataset.targets()
    if len(dataset.classes) < minimum:
        raise DatasetError(f"the dataset has {len(dataset.classes)} class(es) {list(dataset.classes)}; "
                           f"classification needs at least {minimum}", path=dataset.root,
                           fix="add clips of other classes")
    return dataset
