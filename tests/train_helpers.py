"""Helpers for the training tests: a reduced SoundCLIP network, a reduced front end, and the worker
that one process of a 2-process DDP run executes (importable by spawned processes)."""

from __future__ import annotations

import os

import torch
from sound_datasets import TEXT_SEED
from timm.models.resnet import BasicBlock, ResNet

from soundclip_core.clip import tiny_clip
from soundclip_core.encoders.soundclip import SoundCLIPNet

# 8 kHz, 32 mel bands, windows of 128 frames resized to 64 x 32: inputs [1, 32, 64] instead of [1, 128, 512]
FRONTEND = {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "n_mels": 32, "frames": 128, "resize": [64, 32]}


def small_net(embed_dim: int = 64, seed: int = 0) -> SoundCLIPNet:
    """The paper's module layout (`conv`, `feature_extractor` = timm ResNet) with one block per stage and
    narrow channels, so a training run takes seconds on a CPU."""
    torch.manual_seed(seed)
    net = SoundCLIPNet(embed_dim)
    net.feature_extractor = ResNet(BasicBlock, (1, 1, 1, 1), channels=(8, 16, 32, 64), num_classes=embed_dim)
    return net


def text_clip():
    return tiny_clip(seed=TEXT_SEED, device="cpu")


def ddp_worker(rank: int, world: int, port: int, config_kwargs: dict, results, device: str = "cpu") -> None:
    """One process of a DDP run (gloo on CPU, NCCL on GPUs): the same training call as a single process makes."""
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world)})
    torch.set_num_threads(1)
    from soundclip_core.train import TrainConfig, train

    try:
        clip = text_clip() if device == "cpu" else tiny_clip(seed=TEXT_SEED, device=f"{device}:{rank}")
        result = train(TrainConfig(**config_kwargs), clip=clip, net=small_net())
        if rank == 0:
            results.put([row["loss"] for row in result.log])
    finally:
        torch.distributed.destroy_process_group()
