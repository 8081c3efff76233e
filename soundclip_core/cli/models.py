"""Every model one invocation needs, found (or downloaded) together before any is loaded.

A command lists its model requests by role and asks for them in one `weights.ensure_all` call, so a run
with three missing models names all three (each with its URL and folder) in one message, instead of one
per run after the previous one was fixed, and nothing heavy is loaded before that check has passed.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import WeightsError
from ..weights import CLIP_IN_ENCODER_FORMATS, ensure_all, find_entry

Request = tuple[str, str] | None  # (file path or known id, kind), or None: not needed this time


def clip_request(model: str) -> tuple[str, str]:
    """The request for a CLIP file or id; AudioCLIP and ImageBind ids are accepted too (their checkpoints hold
    CLIP towers, RN50 and ViT-H-14, so they are fetched as the audio encoder they are)."""
    try:
        if find_entry(model).format in CLIP_IN_ENCODER_FORMATS:
            return model, "audio_encoder"
    except WeightsError:
        pass  # a path, or an unknown id: ensure_all says which
    return model, "clip"


def model_files(requests: dict[str, Request]) -> dict[str, Path | None]:
    """{role: request} -> {role: local file (None where the request was None)}; one WeightsError names every
    model that is missing or unusable."""
    return dict(zip(requests, ensure_all(list(requests.values())), strict=True))
