"""Teaching a loaded encoder your own sounds: the auto recipe fine-tuning an `AudioEncoder` on a folder of
labelled sounds (`label/clip.wav`), what the Teach Sounds node runs.

The encoder's front end (sample rate, mel settings, window) is kept, so the taught encoder reads sounds as the
one it started from; its network is copied (the given encoder is left as it was). Callers such as ComfyUI run
nodes under `torch.inference_mode()`: the copy and the whole run are made outside it. `should_cancel` is asked
after every epoch is recorded: the best epoch so far is already exported then, so a Cancel keeps it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..checkpoints import read_state_dict
from ..clip import ClipModel
from ..encoders import AudioEncoder, encoder_config
from ..errors import Cancelled, EmbeddingSpaceError, SoundClipError
from .config import TrainConfig
from .loop import TrainResult, train
from .network import TRAINABLE_KINDS

Progress = Callable[[int, int, object, str], None]  # (epochs done, epochs, preview (None), info)
FRONTEND_SKIP = ("kind", "description", "checkpoint_keys", "embed_dim", "space")  # not front-end settings


def trainable_copy(net: nn.Module) -> nn.Module:
    """A copy of `net` whose parameters and buffers are ordinary tensors (not inference-mode ones), in train mode."""
    with torch.inference_mode(False):
        twin = copy.deepcopy(net)
        for module in twin.modules():
            for name, param in list(module._parameters.items()):
                if param is not None:
                    module._parameters[name] = nn.Parameter(param.detach().clone(), requires_grad=True)
            for name, buffer in list(module._buffers.items()):
                if buffer is not None:
                    module._buffers[name] = buffer.clone()
    return twin.train()


@dataclass
class Taught:
    encoder: AudioEncoder  # the best epoch, ready to encode
    result: TrainResult  # the log, the settings used, notes and warnings


def teach(encoder: AudioEncoder, clip: ClipModel, data: str | os.PathLike, out: str | os.PathLike, *,
          epochs: int | None = None, seed: int = 0, cache: str | os.PathLike | None = None, device: str | None = None,
          progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None) -> Taught:
    """Fine-tune `encoder` (an AudioEncoder of a trainable kind) on the labelled sounds in `data` toward `clip`'s
    space with the auto recipe; the best epoch is written to `out`/encoder.pth (+ .json) and returned as an
    AudioEncoder of the same architecture and front end (any network the given encoder has, not only the
    released layouts)."""
    if encoder.kind not in TRAINABLE_KINDS:
        raise SoundClipError(f"a {encoder.kind} encoder cannot be taught new sounds yet",
                             fix=f"load a {' or '.join(TRAINABLE_KINDS)} encoder (e.g. resnet18_57.pth)")
    if encoder.space != clip.space or encoder.dim != clip.dim:
        raise EmbeddingSpaceError(f"the encoder ({encoder.source}) lives in CLIP space '{encoder.space}', the CLIP "
                                  f"({clip.source}) in '{clip.space}'",
                                  fix="connect the CLIP the encoder was trained with (ViT-B-32 for resnet18_57.pth)")
    defaults = encoder_config(encoder.kind)
    frontend = {k: encoder.config[k] for k in defaults if k not in FRONTEND_SKIP and k in encoder.config}
    config = TrainConfig(data=str(data), kind=encoder.kind, epochs=epochs, seed=seed, frontend=frontend,
                         out=str(out), cache=None if cache is None else str(cache), workers=0, device=device,
                         progress=False)

    def after_epoch(row: dict, net: nn.Module, total: int) -> None:
        if progress is not None:
            accuracy = row.get("val_zero_shot")
            progress(row["epoch"], total, None, f"epoch {row['epoch']}/{total}: held-out zero-shot "
                     f"{'-' if accuracy is None else f'{accuracy:.2f}'}, best epoch {row.get('best_epoch')}")
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"teaching cancelled after epoch {row['epoch']}: the best epoch so far "
                            f"({row.get('best_epoch')}) is kept")

    net = trainable_copy(encoder.net)
    with torch.inference_mode(False), torch.enable_grad():
        result = train(config, clip=clip, net=net, on_epoch=after_epoch)
    if result.encoder is None:
        raise SoundClipError("the run ended before any epoch was exported", path=out,
                             fix="train for at least one epoch")
    net.load_state_dict(read_state_dict(result.encoder, "the taught encoder", "teach it again"))
    return Taught(AudioEncoder(encoder.kind, net.eval().requires_grad_(False), encoder.space, str(result.encoder),
                               encoder.config), result)
