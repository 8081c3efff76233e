"""Align Face and Paste Back as ComfyUI runs them (under inference mode): every face or the largest, several edits
of one face, and one edit per face pasted into their photo."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pack_loading import pack_nodes
from photos import astronaut

from soundclip_core.errors import SoundClipError


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    with pack_nodes(tmp_path_factory.mktemp("home")) as (nodes, _):
        yield nodes


@pytest.fixture(scope="module")
def two_faces():
    """A ComfyUI IMAGE [1, H, W, 3]: her face, and a smaller copy of it to its right."""
    face = astronaut()[:, 30:230, 130:330]
    canvas = torch.full((3, 260, 360), 0.5)
    canvas[:, 20:220, 10:210] = face
    canvas[:, 60:180, 230:350] = F.interpolate(face[None], scale_factor=0.6, mode="area")[0]
    return canvas.permute(1, 2, 0)[None]


def test_every_face_aligned_and_each_edit_pasted_into_one_photo(nodes, two_faces):
    with torch.inference_mode():
        aligned, faces = nodes["AlignFace"].align(two_faces, "all", 128)
        assert aligned.shape == (2, 128, 128, 3) and len(faces) == 2
        (photo,) = nodes["PasteBack"].paste(torch.zeros(2, 64, 64, 3), faces, 0.1)
    assert photo.shape == (1, 260, 360, 3)  # one photo, both faces in it
    dark = photo[0].amax(-1) < 0.05
    assert dark[:, :220].any() and dark[:, 230:].any()  # each face's square blacked out
    assert torch.allclose(photo[0, 240:], two_faces[0, 240:], atol=1e-6)  # below both faces: the photo's own


def test_one_face_several_edits_give_several_photos(nodes, two_faces):
    with torch.inference_mode():
        aligned, faces = nodes["AlignFace"].align(two_faces, "largest", 64)
        assert aligned.shape == (1, 64, 64, 3) and len(faces) == 1
        edits = torch.stack([torch.zeros(32, 32, 3), torch.ones(32, 32, 3), torch.full((32, 32, 3), 0.5)])
        (photos,) = nodes["PasteBack"].paste(edits, faces, 0.1)
        assert photos.shape == (3, 260, 360, 3)
        assert float(photos[0].mean()) < float(photos[2].mean()) < float(photos[1].mean())
        graded = two_faces * 0.5  # pasted into another picture of the same size when one is given
        (into,) = nodes["PasteBack"].paste(edits[:1], faces, 0.1, photo=graded)
        assert torch.allclose(into[0, 240:], graded[0, 240:], atol=1e-6)


def test_mismatched_edits_and_faceless_photos_are_clear_errors(nodes, two_faces):
    with torch.inference_mode():
        _, faces = nodes["AlignFace"].align(two_faces, "all", 64)
        with pytest.raises(SoundClipError, match="3 edited images for 2 aligned faces"):
            nodes["PasteBack"].paste(torch.zeros(3, 64, 64, 3), faces, 0.1)
        with pytest.raises(SoundClipError, match="no face found in image 1 of the batch"):
            nodes["AlignFace"].align(torch.full((1, 64, 64, 3), 0.3), "largest", 64)


def test_a_batch_of_photos_round_trips_and_pastes_into_its_own_overrides(nodes, two_faces):
    photos = torch.cat([two_faces, two_faces.flip(2)])  # the second photo: mirrored, its faces elsewhere
    with torch.inference_mode():
        aligned, faces = nodes["AlignFace"].align(photos, "largest", 64)
        assert aligned.shape == (2, 64, 64, 3) and len(faces) == 2
        (back,) = nodes["PasteBack"].paste(aligned, faces, 0.1)  # unedited faces: each photo comes back
        assert back.shape == (2, 260, 360, 3) and (back - photos).abs().mean() < 0.01
        graded = photos * 0.5
        (into,) = nodes["PasteBack"].paste(torch.zeros(2, 32, 32, 3), faces, 0.1, photo=graded)
        assert into.shape == (2, 260, 360, 3)
        assert torch.allclose(into[0, 240:], graded[0, 240:], atol=1e-6)  # each face into its own graded photo
        assert torch.allclose(into[1, 240:], graded[1, 240:], atol=1e-6)
        assert not torch.allclose(into[0], into[1])
        with pytest.raises(SoundClipError, match="the faces came from 2 photo"):
            nodes["PasteBack"].paste(torch.zeros(2, 32, 32, 3), faces, 0.1, photo=graded[:1])
