"""Zero-shot accuracy on held-out clips, once per epoch: each clip goes to the class whose prompt's CLIP
text embedding is nearest (cosine) to the clip's audio embedding.

The audio side is embedded here straight from the feature cache (`embed_features`); the class prompts are the
evaluation package's (`class_embeddings`); `report.py` turns the predictions into accuracies and a confusion table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets import AudioDataset, Clip
from ..encoders.frontends import window_starts
from . import distributed
from .augment import crop_or_pad, encoder_input, resize
from .features import CachedFeatures, FeatureCache

PROMPT = "the sound of {}"


@torch.no_grad()
def embed_features(net: nn.Module, mels: Sequence[np.ndarray], cfg: dict, device: torch.device,
                   batch: int = 32) -> torch.Tensor:
    """Log-mels [n_mels, w] -> unit audio embeddings [N, D]: the mean of the normalised embeddings of evenly
    spaced windows (one left-aligned, zero-padded window for clips shorter than one), as `AudioEncoder`."""
    windows, owner = [], []
    for n, mel in enumerate(mels):
        for start in window_starts(mel.shape[1], cfg["frames"], "average", 0):
            windows.append(crop_or_pad(mel[:, start:], cfg["frames"], None))
            owner.append(n)
    outputs = []
    for first in range(0, len(windows), batch):
        chunk = torch.from_numpy(np.stack(windows[first:first + batch])).to(device)
        inputs = encoder_input(resize(chunk, tuple(cfg["resize"])), cfg["n_mels"])
        outputs.append(F.normalize(net(inputs).float(), dim=-1))
    sums = torch.zeros(len(mels), outputs[0].shape[1], device=device).index_add_(
        0, torch.tensor(owner, device=device), torch.cat(outputs))
    return F.normalize(sums, dim=-1)


def held_out_predictions(net: nn.Module, clips: list[Clip], held_out: AudioDataset, cache: FeatureCache,
                         class_texts: torch.Tensor, cfg: dict, device: torch.device) -> tuple[list[int], list[int]]:
    """(predicted class, true class) of every held-out clip, zero-shot (each process scores its share; the
    shares are gathered, so every process gets all of them)."""
    node = distributed.current()
    mine = clips[node.rank::node.world]
    net.eval()
    share = -(-len(clips) // node.world)  # every process sends as many rows (padded with -1)
    pairs = torch.full((share, 2), -1, dtype=torch.long, device=device)
    if mine:
        audio = embed_features(net, CachedFeatures(cache, mine), cfg, device)
        pairs[:len(mine), 0] = (audio @ class_texts.to(device).t()).argmax(dim=1)
        pairs[:len(mine), 1] = torch.tensor([held_out.class_index(c.label) for c in mine], device=device)
    net.train()
    gathered = distributed.all_gather_plain(pairs).cpu()
    gathered = gathered[gathered[:, 1] >= 0]
    return gathered[:, 0].tolist(), gathered[:, 1].tolist()
