"""A photo's face, ready for a generator and back: the one call the CLI and nodes make.

Pictures here are the engine's ([B, 3, H, W] in [-1, 1], as `picture.load_image` gives them); the face is
aligned at FFHQ's 1024 px, and `picture.fit_square` brings it to any generator's resolution (antialiased).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from ..errors import SoundClipError
from .align import FaceTransform, align_face
from .detector import FaceDetector
from .paste import DEFAULT_FEATHER, paste_back
from .select import find_faces

ALIGNED_SIZE = 1024  # FFHQ's


@dataclass(frozen=True)
class FaceInPhoto:
    """The photo a face was aligned from ([3, H, W] in [0, 1]) and where the face sits in it."""

    photo: torch.Tensor
    transform: FaceTransform


@lru_cache(maxsize=2)
def detector_on(device: str = "cpu") -> FaceDetector:
    """One detector per device, loaded on first use (the weights are 2 MB)."""
    return FaceDetector(device=device)


def align_photo(photo: torch.Tensor, which: str = "largest", name: str = "the picture",
                size: int = ALIGNED_SIZE) -> tuple[torch.Tensor, list[FaceInPhoto]]:
    """[1, 3, H, W] in [-1, 1] -> (the faces aligned [F, 3, size, size] in [-1, 1], where each came from)."""
    picture = (photo[0].float().cpu() + 1) / 2
    faces = find_faces(detector_on(), picture, which, name)
    aligned, placed = [], []
    for face in faces:
        square, transform = align_face(picture, face.landmarks, size)
        aligned.append(square)
        placed.append(FaceInPhoto(picture, transform))
    return torch.stack(aligned) * 2 - 1, placed


def paste_edits(images: torch.Tensor, face: FaceInPhoto, feather: float = DEFAULT_FEATHER) -> torch.Tensor:
    """Edited faces [B, 3, S, S] in [-1, 1] -> the photo with each, [B, 3, H, W] in [-1, 1]."""
    photo = face.photo.to(images.device)
    pasted = [paste_back((image.float().clamp(-1, 1) + 1) / 2, face.transform, photo, feather) for image in images]
    return torch.stack(pasted) * 2 - 1


def paste_faces(images: torch.Tensor, faces: list[FaceInPhoto], feather: float = DEFAULT_FEATHER) -> torch.Tensor:
    """Edited faces [B, 3, S, S] in [-1, 1] back into their photos -> [P, 3, H, W] in [-1, 1].

    One face: each edited image gives one photo (several edits of the same face). Several faces: one edited image
    per face, every face of a photo pasted into it in turn, one picture per photo (in the order of their faces)."""
    if len(faces) == 1:
        return paste_edits(images, faces[0], feather)
    if len(images) != len(faces):
        raise SoundClipError(f"{len(images)} edited images for {len(faces)} aligned faces",
                             fix="give one edited image per aligned face (or align only the largest face)")
    photos: dict[int, torch.Tensor] = {}  # the photo's identity -> it with the faces pasted so far, in [0, 1]
    for image, face in zip(images, faces, strict=True):
        photo = photos.get(id(face.photo), face.photo).to(image.device)
        photos[id(face.photo)] = paste_back((image.float().clamp(-1, 1) + 1) / 2, face.transform, photo, feather)
    return torch.stack(list(photos.values())) * 2 - 1
