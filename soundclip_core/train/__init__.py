"""Training an audio encoder into a frozen CLIP's space (the paper's section 3.1), one process or torchrun DDP.

    from soundclip_core.train import TrainConfig, train
    train(TrainConfig(data="ESC-50-master", clip="ViT-B-32.pt", folds=(1, 2, 3, 4), epochs=50))
"""

from __future__ import annotations

from .config import TrainConfig
from .loop import TrainResult, train
from .run import split_dataset

__all__ = ["TrainConfig", "TrainResult", "split_dataset", "train"]
