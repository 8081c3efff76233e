"""`TrainConfig`: every setting of a training run (what `--resume` compares)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import SoundClipError
from .loss import LOSSES
from .network import TRAINABLE_KINDS
from .recipes import DEFAULT_LR, RECIPES
from .validate import PROMPT


@dataclass
class TrainConfig:
    """data: a dataset folder or CSV manifest (`dataset_kind` auto-detected); clip: the CLIP weights file
    (the Python API may pass a loaded CLIP instead); folds: training folds (default: all but the last,
    which is held out for the per-epoch zero-shot check); batch_size: the global batch the contrastive
    loss sees (split over the processes); accumulate: batches per optimiser step; frontend: overrides of
    the kind's front-end settings (sample rate, n_fft, hop, n_mels, frames, resize); loss: "infonce" (the
    paper's) or "weakly_paired" (plus the KL term of `loss.weakly_paired_kl` on frames that share a text).
    None means "the recipe's": epochs and batch_size (official/modern: 50 and 320; auto: sized to the data),
    and the auto recipe's own settings (`auto.py`): trunk_lr (the pretrained trunk's learning rate), holdout
    (the fraction of every label held out, stratified and seeded, when the data has no folds), patience
    (epochs without a better held-out accuracy before stopping) and export ("last" epoch or "best")."""

    data: str
    clip: str = ""
    dataset_kind: str = "auto"
    kind: str = "soundclip"
    init: str | None = None
    folds: tuple[int, ...] | None = None
    epochs: int | None = None
    batch_size: int | None = None
    accumulate: int = 1
    recipe: str = "auto"
    lr: float | None = None
    trunk_lr: float | None = None
    holdout: float | None = None
    patience: int | None = None
    export: str | None = None
    seed: int = 42
    precision: str = "fp32"
    self_term: bool = True
    image_term: bool = True
    text_augment: bool = True
    prompt: str = PROMPT
    frontend: dict = field(default_factory=dict)
    out: str = "runs/soundclip"
    cache: str | None = None
    workers: int = 2
    resume: bool = False
    device: str | None = None
    progress: bool = True
    loss: str = "infonce"

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.recipe]

    def check(self, world: int) -> None:
        """Settings that cannot work, refused before any data is read."""
        if self.recipe not in RECIPES:
            raise SoundClipError(f"unknown recipe '{self.recipe}'", fix=f"use one of {', '.join(RECIPES)}")
        if self.kind not in TRAINABLE_KINDS:
            raise SoundClipError(f"training a '{self.kind}' encoder is not supported",
                                 fix=f"use --kind {' or '.join(TRAINABLE_KINDS)}")
        if self.loss not in LOSSES:
            raise SoundClipError(f"unknown loss '{self.loss}'", fix=f"use one of {', '.join(LOSSES)}")
        if self.loss == "weakly_paired" and not self.image_term:
            raise SoundClipError("the weakly-paired loss compares frames with sounds and texts, and the frames are "
                                 "switched off", fix="drop --no-image, or use --loss infonce")
        if (self.epochs is not None and self.epochs < 1) or self.accumulate < 1 or self.workers < 0:
            raise SoundClipError("epochs and accumulate must be at least 1, workers at least 0",
                                 fix="use --epochs and --accumulate of 1 or more and --workers of 0 or more")
        if self.batch_size is not None and (self.batch_size < 2 or self.batch_size % world):
            raise SoundClipError(f"the batch size {self.batch_size} must be at least 2 and a multiple of the "
                                 f"{world} processes", fix=f"use a multiple of {world}")
        if self.holdout is not None and not 0 <= self.holdout < 1:
            raise SoundClipError(f"holdout {self.holdout} must be a fraction in [0, 1)", fix="use e.g. 0.2")
        if self.export not in (None, "last", "best"):
            raise SoundClipError(f"unknown export '{self.export}'", fix="use 'last' or 'best'")
        if (holes := self.prompt.count("{}")) != 1:  # as the evaluation's templates: exactly one class name
            raise SoundClipError(f"the zero-shot prompt '{self.prompt}' has {holes or 'no'} {{}} for the class name",
                                 fix='write it like "the sound of {}"')

    def compared(self) -> dict:
        """The settings as plain data (lists, not tuples), as stored in the training state."""
        described = asdict(self)
        described["data"] = str(Path(self.data).expanduser().resolve())  # the same run from another folder
        described["init"] = None if self.init is None else str(Path(self.init).expanduser().resolve())
        described["folds"] = None if self.folds is None else [int(f) for f in self.folds]
        described.pop("resume")
        return described
