"""Training on an AudioSet folder: the training segments train, the eval segments are held out, and a clip's
caption names all its classes."""

from __future__ import annotations

import pytest
import torch
from sound_datasets import write_audioset
from train_helpers import FRONTEND, small_net, text_clip

from soundclip_core.datasets import open_dataset
from soundclip_core.errors import DatasetError
from soundclip_core.train import TrainConfig, split_dataset, train


def test_audioset_trains_on_its_training_segments_and_holds_out_eval(tmp_path):
    torch.set_num_threads(1)
    root = write_audioset(tmp_path / "as")
    training, held_out = split_dataset(open_dataset("auto", root), None)
    assert {c.split for c in training.clips} == {"balanced_train"} and {c.split for c in held_out.clips} == {"eval"}
    assert "bird, clock tick" in {c.caption for c in training.clips}
    settings = {"epochs": 2, "batch_size": 4, "recipe": "modern", "frontend": FRONTEND, "workers": 0,
                "progress": False, "prompt": "{}", "text_augment": False}
    result = train(TrainConfig(data=str(root), out=str(tmp_path / "run"), **settings), clip=text_clip(),
                   net=small_net())
    assert [row["epoch"] for row in result.log] == [0, 1, 2]  # epoch 0: the held-out check before training
    assert all(0 <= row["val_zero_shot"] <= 1 for row in result.log)
    with pytest.raises(DatasetError, match="no training clip has a readable picture"):  # AudioSet has no frames
        train(TrainConfig(data=str(root), out=str(tmp_path / "weak"), loss="weakly_paired", **settings),
              clip=text_clip(), net=small_net())
    assert not (tmp_path / "weak" / "cache").exists()  # refused before any feature was computed
