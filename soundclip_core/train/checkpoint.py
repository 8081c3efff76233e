"""Training state (every epoch, for `--resume`) and the exported encoder.

The state file holds the network, the learnable temperature, optimizer, scheduler, grad scaler, the
epoch, the torch RNG states and the run's configuration; it is written atomically, so a run killed
while saving keeps the previous epoch's state. It is read weights-only (`checkpoints.read_checkpoint`: plain
tensors and containers only). The exported encoder is what `resnet18_57.pth` holds, a plain state dict, plus a
sidecar `<file>.json` naming its kind, its CLIP space and any front-end or network setting (a Swin's size)
that differs from the kind's defaults; `load_audio_encoder` reads both.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_path, atomic_paths
from ..checkpoints import check_finite, read_checkpoint
from ..encoders import encoder_config
from ..encoders.registry import metadata_path
from ..errors import CheckpointError, SoundClipError

STATE_FILE = "train_state.pt"
ENCODER_FILE = "encoder.pth"
IGNORED_CONFIG = ("workers", "cache", "out", "device", "progress")  # may change between a run and its resume
ADDED_SETTINGS = {"loss": "infonce"}  # settings newer than runs saved before them: absent means this value


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_state(path: Path) -> dict:
    fix = "start again without --resume, or restore the file"
    state = read_checkpoint(path, "a soundclip training state", fix)
    if not isinstance(state, dict) or "config" not in state or "epoch" not in state:
        raise CheckpointError("not a soundclip training state", path=path, fix=fix)
    check_finite({"trainee": state.get("trainee", {})}, path, "the training state's network", fix=fix)
    return state


def config_differences(saved: dict, current: dict) -> list[str]:
    """'key: saved -> now' for every setting that changed (the ones in IGNORED_CONFIG may)."""
    keys = sorted((set(saved) | set(current)) - set(IGNORED_CONFIG))
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys
            if saved.get(k, ADDED_SETTINGS.get(k)) != current.get(k)]


def resumable_state(path: Path, resume: bool, described: dict) -> dict | None:
    """The state at `path` to resume from, refused unless it was saved with the settings `described`; None
    for a new run, refused where `path` already holds one (so a run is never overwritten by accident)."""
    if not resume:
        if path.is_file():
            raise SoundClipError("this output folder already holds a training run", path=path.parent,
                                 fix="continue it with --resume, or choose another --out")
        return None
    if not path.is_file():
        raise CheckpointError("no training state to resume from", path=path, fix="run without --resume")
    saved = load_state(path)
    differences = config_differences(saved["config"], described)
    if differences:
        raise SoundClipError("--resume with a different configuration: " + "; ".join(differences), path=path,
                             fix="resume with the original settings, or use another --out")
    return saved


def export_encoder(net: nn.Module, path: Path, kind: str, space: str, cfg: dict, info: dict) -> Path:
    """Write the plain state dict (the official layout) and its sidecar, together: both are written before
    either replaces an older pair, the sidecar first and the .pth last."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    defaults = encoder_config(kind)
    frontend = {k: v for k, v in cfg.items() if k in defaults and k not in ("kind", "description",
                                                                            "checkpoint_keys") and defaults[k] != v}
    settings = getattr(net, "settings", None)  # a Swin's size, when not the kind's default
    network = {"network": settings} if settings and settings != defaults.get("network") else {}
    meta = {"kind": kind, "space": space, **({"frontend": frontend} if frontend else {}), **network, **info}
    with atomic_paths(metadata_path(path), path) as (sidecar, tmp):
        sidecar.write_text(json.dumps(meta, indent=1, default=str))
        torch.save(state, tmp)
    return path
