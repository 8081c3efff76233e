"""Faces of a photo, as the user asked for them: the largest one, or every one; none is a clear error."""

from __future__ import annotations

import torch

from ..errors import SoundClipError
from .detector import Face, FaceDetector

WHICH = ("largest", "all")


class FaceNotFound(SoundClipError):
    """No face was found where one was needed."""


def largest(faces: list[Face]) -> Face:
    return max(faces, key=lambda face: face.area)


def find_faces(detector: FaceDetector, picture: torch.Tensor, which: str = "largest", name: str = "the picture"
               ) -> list[Face]:
    """[3, H, W] RGB in [0, 1] -> the faces asked for (`which`: largest, all), largest first."""
    if which not in WHICH:
        raise SoundClipError(f"unknown face choice '{which}'", fix=f"use one of {', '.join(WHICH)}")
    faces = detector.detect(picture * 255)
    if not faces:
        raise FaceNotFound(f"no face found in {name}",
                           fix="use a photo with a visible face of at least 20 px, or the plain crop "
                               "(`--align crop`; in ComfyUI, feed the picture to Invert Image without Align Face)")
    return [largest(faces)] if which == "largest" else sorted(faces, key=lambda face: face.area, reverse=True)
