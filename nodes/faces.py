"""Face nodes: a photo's faces aligned as FFHQ's were (for FFHQ generators and e4e), and the edited faces put back."""

from __future__ import annotations

import torch

from soundclip_core.errors import SoundClipError
from soundclip_core.faces import ALIGNED_SIZE, DEFAULT_FEATHER, WHICH, FaceInPhoto, align_photo, paste_faces
from soundclip_core.image import from_comfy_image, to_comfy_image

from .form import Node, choice, link, number, whole
from .types import EDIT, FACE


class AlignFace(Node):
    """Find the faces of each photo (MTCNN) and cut each out as FFHQ was made: eyes and mouth where FFHQ
    generators and e4e expect them (without it, e4e's faces come out with "droopy eyes")."""

    REQUIRED = {
        "image": link("IMAGE", "The photo(s)."),
        "faces": choice(list(WHICH), "largest: one face per photo; all: every face found (a batch of faces)."),
        "size": whole(ALIGNED_SIZE, 64, 4096, "Side of the aligned face (FFHQ's: 1024). Invert Image resizes it to "
                                             "the generator's own."),
    }
    OUTPUTS = (("aligned", "IMAGE"), ("face", FACE))
    FUNCTION = "align"
    CATEGORY = EDIT
    DESCRIPTION = ("Aligns the faces of a photo the way FFHQ was made, for Invert Image; Paste Back puts the edited "
                   "face into the photo. Needs the face detector: pip install \"soundclip[faces]\".")

    def align(self, image, faces: str, size: int):
        aligned, placed = [], []
        for i, photo in enumerate(_pictures(image, "image")):
            squares, where = align_photo(photo[None], faces, name=f"image {i + 1} of the batch", size=size)
            aligned.append(squares)
            placed += where
        return to_comfy_image(torch.cat(aligned)), placed


class PasteBack(Node):
    """Put edited faces back into the photos they were aligned from, blended through a feathered edge;
    everything outside the face's square stays the photo's own pixels."""

    REQUIRED = {
        "edited": link("IMAGE", "The edited face(s), any size (Decode's output)."),
        "face": link(FACE, "From Align Face: where each face came from."),
        "feather": number(DEFAULT_FEATHER, 0.01, 0.5, 0.01, "Width of the blend at the square's edge, as a fraction "
                                                            "of its side."),
    }
    OPTIONAL = {"photo": link("IMAGE", "Paste into these pictures instead of the ones the faces came from (same "
                                       "sizes, one per aligned photo, e.g. colour-graded copies).")}
    OUTPUTS = (("image", "IMAGE"),)
    FUNCTION = "paste"
    CATEGORY = EDIT
    DESCRIPTION = ("Pastes edited faces back into their photos. One face: every edited image gives one photo "
                   "(several edits of it); several faces: one edited image per face, all pasted into their photos.")

    def paste(self, edited, face: list[FaceInPhoto], feather: float, photo=None):
        if photo is not None:
            face = _into(face, (_pictures(photo, "photo") + 1) / 2)
        return (to_comfy_image(paste_faces(_pictures(edited, "edited"), face, feather)),)


def _into(faces: list[FaceInPhoto], targets: torch.Tensor) -> list[FaceInPhoto]:
    """The faces placed in `targets` [P, 3, H, W] instead of their own photos: the i-th distinct photo (in the
    faces' order) becomes targets[i]."""
    photos = list(dict.fromkeys(id(face.photo) for face in faces))
    if len(targets) != len(photos):
        raise SoundClipError(f"the faces came from {len(photos)} photo(s) and {len(targets)} were given to paste into",
                             fix="give one picture per photo Align Face read (or leave photo unconnected)")
    return [FaceInPhoto(targets[photos.index(id(face.photo))], face.transform) for face in faces]


def _pictures(image, name: str) -> torch.Tensor:
    try:
        return from_comfy_image(image)
    except ValueError as error:
        raise SoundClipError(f"{name} input: {error}", fix="connect an IMAGE output") from error
