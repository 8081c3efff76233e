"""Encoder kinds as data: each `configs/<kind>.json` declares preprocessing, layout and space."""

from __future__ import annotations

import json
import math
import os
from functools import cache, lru_cache
from pathlib import Path

from ..errors import CheckpointError
from ..weights.download import sha256_of

CONFIG_DIR = Path(__file__).with_name("configs")


@cache
def encoder_config(kind: str) -> dict:
    path = CONFIG_DIR / f"{kind}.json"
    if not path.is_file():
        raise KeyError(kind)
    return json.loads(path.read_text())


ENCODER_KINDS: tuple[str, ...] = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def metadata_path(path: str | os.PathLike) -> Path:
    """The sidecar of an encoder checkpoint we trained: `<file>.json` beside it (the file itself stays a plain
    state dict that the official code loads)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


SIDECAR_FIX = "restore the .json that `soundclip train` wrote beside the checkpoint, or delete it"
NOT_FRONTEND = ("kind", "description", "space", "embed_dim", "checkpoint_keys", "known_checkpoints", "state_prefix",
                "network")


def checkpoint_metadata(path: str | os.PathLike) -> dict:
    """The sidecar's content ({"kind", "space", "frontend", ...}), {} when there is none; a sidecar that is not
    a JSON object with a string kind/space and an object of front-end settings is refused, naming it."""
    sidecar = metadata_path(path)
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"unreadable encoder metadata ({error})", path=sidecar, fix=SIDECAR_FIX) from error
    problem = None
    if not isinstance(meta, dict):
        problem = "encoder metadata must be a JSON object"
    elif any(not isinstance(meta.get(key, "-"), str) or not meta.get(key, "-") for key in ("kind", "space")):
        problem = f"'kind' and 'space' must be non-empty strings (got {meta.get('kind')!r}, {meta.get('space')!r})"
    elif not isinstance(meta.get("frontend", {}), dict):
        problem = "'frontend' must be a JSON object of front-end settings"
    if problem:
        raise CheckpointError(problem, path=sidecar, fix=SIDECAR_FIX)
    return meta


def _setting_problem(value: object, default: object) -> str | None:
    """Why a front-end override cannot replace `default` (every setting is a size, a rate or a duration)."""
    def positive(v: object, integer: bool) -> bool:
        number = isinstance(v, int) or (not integer and isinstance(v, float))
        return number and not isinstance(v, bool) and math.isfinite(v) and v > 0

    if isinstance(default, list):
        if not (isinstance(value, list) and len(value) == len(default) and all(positive(v, True) for v in value)):
            return f"a list of {len(default)} positive whole numbers"
    elif isinstance(default, (int, float)) and not positive(value, isinstance(default, int)):
        return "a positive whole number" if isinstance(default, int) else "a positive number"
    return None


def frontend_config(kind: str, path: str | os.PathLike, meta: dict) -> dict:
    """The front end of the checkpoint `path` of `kind`: the kind's config with the overrides of its sidecar
    (`meta`, as `checkpoint_metadata` read it), each checked (a sample rate of 0 or a resize of [0, 0] would
    fail deep inside the first encode, not name the file)."""
    defaults = encoder_config(kind)
    frontend = meta.get("frontend", {})
    for key, value in frontend.items():
        if key not in defaults or key in NOT_FRONTEND:
            problem = f"'{key}' is not a front-end setting of the {kind} encoder"
        else:
            rule = _setting_problem(value, defaults[key])
            problem = rule and f"front-end setting {key}={value!r} must be {rule}"
        if problem:
            raise CheckpointError(problem, path=metadata_path(path), fix=SIDECAR_FIX)
    merged = {**defaults, **frontend}
    if "resize" in merged and (merged["resize"][0] * merged["resize"][1]) % merged["n_mels"]:
        raise CheckpointError(f"a resized {merged['resize']} image cannot be laid out in {merged['n_mels']} mel rows "
                              "(the paper's reshape)", path=metadata_path(path), fix=SIDECAR_FIX)
    return merged


def network_config(kind: str, path: str | os.PathLike, meta: dict, frontend: dict) -> dict:
    """The network settings of the checkpoint `path` of `kind`: the kind's `network` with its sidecar's (a Swin
    trained at another size), checked against the kind's keys and their types; an image network must take the
    front end's image (`img_size` = `resize`)."""
    defaults = encoder_config(kind).get("network", {})
    if not isinstance(meta.get("network", {}), dict):
        raise CheckpointError("'network' must be a JSON object of network settings", path=metadata_path(path),
                              fix=SIDECAR_FIX)
    settings = {**defaults, **meta.get("network", {})}
    problem = None
    for key, value in settings.items():
        default = defaults.get(key)
        if key not in defaults:
            problem = f"'{key}' is not a network setting of the {kind} encoder"
        elif isinstance(default, str) and not (isinstance(value, str) and value):
            problem = f"network setting {key}={value!r} must be a name"
        elif isinstance(default, list) and not (isinstance(value, list) and value and
                                                all(_setting_problem(v, 1) is None for v in value)):
            problem = f"network setting {key}={value!r} must be a list of positive whole numbers"
        elif isinstance(default, int) and _setting_problem(value, default):
            problem = f"network setting {key}={value!r} must be {_setting_problem(value, default)}"
        if problem:
            break
    if not problem and "img_size" in settings and list(frontend["resize"]) != [settings["img_size"]] * 2:
        problem = (f"the front end resizes to {frontend['resize']}, the network takes {settings['img_size']} x "
                   f"{settings['img_size']} images")
    if problem:
        raise CheckpointError(problem, path=metadata_path(path), fix=SIDECAR_FIX)
    return settings


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of(Path(path))


def checkpoint_space(kind: str, path: str | os.PathLike) -> str:
    """The embedding space of a checkpoint of `kind`.

    Files that share one layout but not one space (AudioCLIP Partial: vanilla OpenAI RN50; Full: its
    own fine-tuned towers) are told apart by content hash (`known_checkpoints`). Any other file of such
    a kind gets a space of its own, `<kind>/<12 hex digits of its sha256>`, which the CLIP towers in the
    same file share, so its sounds are never mixed with another model's texts by mistake. An encoder
    trained here names its space in its sidecar (`checkpoint_metadata`)."""
    space = checkpoint_metadata(path).get("space")
    if space:
        return str(space)
    config = encoder_config(kind)
    known = config.get("known_checkpoints")
    if not known:
        return config["space"]
    stat = Path(path).stat()
    digest = _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    return known.get(digest, f"{kind}/{digest[:12]}")
