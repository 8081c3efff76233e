"""Faces: a real detector (MTCNN with the weights facenet-pytorch ships) on a real photo, FFHQ's alignment,
and the edit pasted back.

FFHQ's places for the astronaut's eyes come from round3.md D4: NVIDIA's recipe run with dlib's 68 points put
them at (383.7, 488.6) and (639.7, 491.6) in the 1024 px crop; MTCNN's five points must land within a few px.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from photos import astronaut

from soundclip_core.errors import CheckpointError, MissingDependency, SoundClipError
from soundclip_core.faces import (
    FaceDetector,
    FaceNotFound,
    FaceTransform,
    align_face,
    align_mask,
    align_photo,
    face_coordinates,
    ffhq_quad,
    find_faces,
    paste_back,
    paste_edits,
)
from soundclip_core.faces import detector as detector_module
from soundclip_core.faces.align import gaussian_blur
from soundclip_core.faces.detector import nms

DLIB_EYES_1024 = torch.tensor([[383.7, 488.6], [639.7, 491.6]], dtype=torch.float64)


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


@pytest.fixture(scope="module")
def photo():
    return astronaut()


@pytest.fixture(scope="module")
def face(detector, photo):
    return find_faces(detector, photo)[0]


def in_aligned(points: torch.Tensor, transform: FaceTransform, size: int) -> torch.Tensor:
    """Photo points -> pixel positions in the aligned square (pixel centres at integers)."""
    quad = torch.tensor(transform.quad, dtype=torch.float64)
    across, down = quad[3] - quad[0], quad[1] - quad[0]
    offset = points.double() - quad[0]
    return torch.stack([offset @ across / across.dot(across), offset @ down / down.dot(down)], -1) * size - 0.5


def test_the_detector_finds_the_astronauts_face_as_the_reference_code_does(detector, photo, face):
    faces = detector.detect(photo * 255)
    assert len(faces) == 1 and faces[0].score > 0.99
    x1, y1, x2, y2 = face.box
    assert 150 < x1 < 200 and 40 < y1 < 80 and 250 < x2 < 290 and 150 < y2 < 190  # her face, 512 px photo
    eyes, mouth = face.landmarks[:2], face.landmarks[3:]
    assert (eyes[:, 1] < face.landmarks[2, 1]).all() and (mouth[:, 1] > face.landmarks[2, 1]).all()
    assert eyes[0, 0] < eyes[1, 0] and mouth[0, 0] < mouth[1, 0]  # left before right, as seen
    # facenet-pytorch's own MTCNN (the code these weights were shipped with) gives the same box and points
    from facenet_pytorch import MTCNN
    from PIL import Image

    pixels = Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    boxes, scores, points = MTCNN(keep_all=True).detect(pixels, landmarks=True)
    boxes, points = (np.asarray(a[0], dtype=np.float64) for a in (boxes, points))  # object arrays on numpy 1.24
    assert np.allclose(boxes, face.box, atol=1e-3) and abs(float(scores[0]) - face.score) < 1e-5
    assert np.allclose(points, face.landmarks.numpy(), atol=1e-3)


def test_alignment_puts_the_eyes_where_ffhq_puts_them(photo, face):
    aligned, transform = align_face(photo, face.landmarks, 1024)
    assert aligned.shape == (3, 1024, 1024) and 0 <= float(aligned.min()) and float(aligned.max()) <= 1
    eyes = in_aligned(face.landmarks[:2], transform, 1024)
    assert (eyes - DLIB_EYES_1024).abs().max() < 5  # MTCNN's eye centres vs dlib's six-point means
    # the recipe's geometry: the eyes' midpoint at (0.5, 0.5 - 0.05 |e2m| / |x|) of the side (exactly so for a
    # face whose eye line is square to its eye-mouth line; hers is tilted by a degree); here 2|e2e| rules, so the
    # eyes sit a quarter of the side apart, exactly
    quad, qsize = ffhq_quad(face.landmarks)
    e2m = (face.landmarks[3:].mean(0) - face.landmarks[:2].mean(0)).double()
    expected = torch.tensor([0.5, 0.5 - 0.05 * float(e2m.norm()) / (qsize / 2)], dtype=torch.float64) * 1024 - 0.5
    assert (eyes.mean(0) - expected).abs().max() < 0.5
    assert abs(float((eyes[1] - eyes[0]).norm()) - 256) < 1e-6
    # the pixels are the photo's, resampled: the aligned square against a direct bilinear sample of the photo
    # at the square's pixel centres (coarse, at 256 px, where the photo has as many pixels as the square)
    small, transform = align_face(photo, face.landmarks, 256)
    centres = (torch.arange(256, dtype=torch.float64) + 0.5) / 256
    quad = torch.tensor(transform.quad, dtype=torch.float64)
    b, a = torch.meshgrid(centres, centres, indexing="ij")
    points = quad[0] + a[..., None] * (quad[3] - quad[0]) + b[..., None] * (quad[1] - quad[0])
    grid = (points + 0.5) / torch.tensor([512, 512], dtype=torch.float64) * 2 - 1
    direct = F.grid_sample(photo[None], grid[None].float(), mode="bilinear", align_corners=False)[0]
    assert float((direct - small).abs().mean()) < 0.02


def inside_square(transform: FaceTransform) -> torch.Tensor:
    """[H, W] True on the photo pixels strictly inside the aligned square."""
    coords, top, left = face_coordinates(transform)
    width, height = transform.photo_size
    inside = torch.zeros(height, width, dtype=torch.bool)
    inside[top:top + coords.shape[0], left:left + coords.shape[1]] = ((coords > 0) & (coords < 1)).all(-1)
    return inside


def test_paste_back_works_on_the_faces_box_only():
    """A 64 px face in a 4000 x 3000 photo: the coordinates cover the square's bounding box, not 12 M pixels; a
    square over the photo's edge is clipped, one wholly off it leaves the photo as it was."""
    tilted = ((1000.0, 500.0), (980.0, 564.0), (1044.0, 584.0), (1064.0, 520.0))  # rotated, side ~67 px
    coords, top, left = face_coordinates(FaceTransform(tilted, (4000, 3000), 64))
    assert (top, left) == (500, 980) and coords.shape == (85, 85, 2)
    assert float(coords[0, 20, 0]) == pytest.approx(0, abs=1e-6) and float(coords[0, 20, 1]) == pytest.approx(0)
    photo = torch.full((3, 300, 400), 0.5)
    at_edge = FaceTransform(((-10.0, 250.0), (-10.0, 330.0), (70.0, 330.0), (70.0, 250.0)), (400, 300), 64)
    coords, top, left = face_coordinates(at_edge)
    assert (top, left, *coords.shape) == (250, 0, 50, 71, 2)
    back = paste_back(torch.ones(3, 64, 64), at_edge, photo)
    assert float(back[:, 290, 30].min()) == 1 and torch.equal(back[:, :250], photo[:, :250])
    assert torch.equal(back[:, :, 71:], photo[:, :, 71:])
    away = FaceTransform(((500.0, 10.0), (500.0, 74.0), (564.0, 74.0), (564.0, 10.0)), (400, 300), 64)
    assert face_coordinates(away).coords.numel() == 0 and torch.equal(paste_back(torch.ones(3, 64, 64), away,
                                                                                  photo), photo)


def test_paste_back_restores_the_photo_outside_the_face_and_inside_within_resampling(photo, face):
    for size in (256, 1024):
        aligned, transform = align_face(photo, face.landmarks, size)
        back = paste_back(aligned, transform, photo)
        inside = inside_square(transform)
        assert torch.equal(back[:, ~inside], photo[:, ~inside])  # untouched, bit for bit
        assert float((back - photo)[:, inside].abs().mean()) < 0.03
    # an edit changes the face, and only it
    edited = paste_back(torch.zeros(3, 64, 64), transform, photo)
    assert float(edited[:, inside].mean()) < float(photo[:, inside].mean()) - 0.2
    assert torch.equal(edited[:, ~inside], photo[:, ~inside])


def test_a_mask_drawn_on_the_photo_follows_the_face_into_the_aligned_square(photo, face):
    aligned, transform = align_face(photo, face.landmarks, 256)
    # the photo's own red channel as a mask lands where the aligned picture's red channel is
    red = align_mask(photo[None, :1], transform, 256)
    assert red.shape == (1, 1, 256, 256) and float((red[0, 0] - aligned[0]).abs().mean()) < 0.02
    box = torch.zeros(1, 1, *photo.shape[-2:])
    x1, y1, x2, y2 = (round(v) for v in face.box)
    box[..., y1:y2, x1:x2] = 1  # the detector's face box
    covered = align_mask(box, transform, 64)[0, 0]
    assert covered[24:40, 24:40].min() > 0.99 and covered[:4].max() < 0.5  # the square's centre, not its top rows
    with pytest.raises(SoundClipError, match="the mask is 256x512 and the photo 512x512"):
        align_mask(box[..., :256], transform, 64)


def test_engine_pictures_round_trip_through_align_photo(photo):
    aligned, faces = align_photo(photo[None] * 2 - 1, size=256)
    assert aligned.shape == (1, 3, 256, 256) and -1 <= float(aligned.min()) and len(faces) == 1
    back = paste_edits(aligned, faces[0])
    assert back.shape == (1, 3, 512, 512) and float((back[0] - (photo * 2 - 1)).abs().mean()) < 0.03
    assert FaceTransform.from_json(faces[0].transform.to_json()) == faces[0].transform


def test_a_face_at_the_edge_is_padded_as_ffhq_pads(detector, photo):
    cropped = photo[:, 70:, 120:]  # her forehead at the top edge: the square reaches outside the picture
    face = find_faces(detector, cropped)[0]
    aligned, transform = align_face(cropped, face.landmarks, 256)
    assert min(y for _, y in transform.quad) < 0  # the pad branch ran
    top = aligned[:, :20]  # the padded rows fade to a blur and the median colour: smooth, no mirrored detail
    assert float(top.diff(dim=-1).abs().mean()) < float(aligned[:, 100:120].diff(dim=-1).abs().mean())
    back = paste_back(aligned, transform, cropped)
    assert float((back - cropped).abs().mean()) < 0.02


def test_several_faces_each_or_the_largest(detector, photo):
    face_region = photo[:, 30:230, 130:330]
    small = F.interpolate(face_region[None], scale_factor=0.6, mode="area")[0]
    canvas = torch.full((3, 260, 360), 0.5)
    canvas[:, 20:220, 10:210] = face_region
    canvas[:, 60:180, 230:350] = small
    everyone = find_faces(detector, canvas, "all")
    assert len(everyone) == 2 and everyone[0].area > everyone[1].area
    assert everyone[1].box[0] > 210 and find_faces(detector, canvas)[0].box == everyone[0].box


def test_no_face_is_one_clear_error_naming_the_crop_option(detector):
    with pytest.raises(FaceNotFound, match="no face found in sky.png.*--align crop|no face found in sky.png"):
        find_faces(detector, torch.linspace(0, 1, 3 * 64 * 96).reshape(3, 64, 96), name="sky.png")
    with pytest.raises(SoundClipError, match="unknown face choice"):
        find_faces(detector, torch.zeros(3, 64, 64), "first")


def test_paste_back_refuses_another_photo_and_bad_feathers(photo, face):
    aligned, transform = align_face(photo, face.landmarks, 64)
    with pytest.raises(SoundClipError, match="aligned from a 512x512 picture"):
        paste_back(aligned, transform, photo[:, :300])
    with pytest.raises(SoundClipError, match="feather"):
        paste_back(aligned, transform, photo, feather=0)
    with pytest.raises(SoundClipError, match="not a face transform"):
        FaceTransform.from_json("{}")


def test_missing_or_wrong_detector_weights_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDCLIP_FACE_DETECTOR", str(tmp_path))
    with pytest.raises(CheckpointError, match="pnet.pt"):
        FaceDetector()
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "pnet.pt")
    with pytest.raises(CheckpointError, match="pnet.pt.*not MTCNN's pnet"):
        FaceDetector()
    monkeypatch.delenv("SOUNDCLIP_FACE_DETECTOR")
    monkeypatch.setattr(detector_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependency, match=r'soundclip\[faces\]'):
        FaceDetector()


def test_nms_and_blur_match_their_definitions():
    boxes = torch.tensor([[0, 0, 10, 10, 0.9], [1, 1, 11, 11, 0.8], [20, 20, 30, 30, 0.7], [0, 0, 4, 4, 0.95]])
    assert nms(boxes, 0.5).tolist() == [3, 0, 2]  # box 1 overlaps box 0 by 81/119 > 0.5
    assert nms(boxes, 0.5, overlap="min").tolist() == [3, 2]  # box 0 holds box 3 whole: over the smaller, 1.0
    scipy_ndimage = pytest.importorskip("scipy.ndimage")  # comes with librosa, in the test extra
    pixels = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32) * 255
    expected = scipy_ndimage.gaussian_filter(pixels, [2.5, 2.5, 0])
    assert np.abs(gaussian_blur(pixels, 2.5) - expected).max() < 1e-3


def test_cli_aligns_the_face_inverts_edits_and_pastes_back(tmp_path, photo, capsys):
    from PIL import Image
    from tiny_models import write_cli_files

    from soundclip_core.cli import main
    from soundclip_core.latents import read_latent

    files = write_cli_files(tmp_path)
    m = files / "models"
    picture = tmp_path / "portrait.png"
    Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(picture)
    common = ["--generator", str(m / "stylegan2" / "landscape.pt"), "--vgg", str(m / "perceptual" / "vgg16.pt"),
              "--device", "cpu"]
    out = tmp_path / "out" / "portrait.safetensors"
    assert main(["invert", str(picture), *common, "--steps", "2", "--align", "face", "--out", str(out)]) == 0
    pasted = np.asarray(Image.open(out.with_suffix(".png")), dtype=np.float32) / 255
    transform = FaceTransform.from_json(read_latent(out).meta["face_transform"])
    outside = (~inside_square(transform)).numpy()
    original = photo.permute(1, 2, 0).numpy()
    assert pasted.shape == (512, 512, 3)  # the photo, with the reconstructed face put back
    assert np.abs(pasted[outside] - original[outside]).max() <= 0.5 / 255 + 1e-6  # 8-bit rounding only
    assert np.abs(pasted[~outside] - original[~outside]).mean() > 0.05  # a tiny random generator's face

    edit = tmp_path / "out" / "edit.png"
    assert main(["manipulate", "--text", "laughing", "--image", str(picture), *common, "--clip",
                 str(m / "clip_soundclip" / "ViT-B-32.pt"), "--invert-steps", "1", "--steps", "1", "--align", "face",
                 "--no-paste-back", "--out", str(edit)]) == 0
    square = Image.open(edit)
    assert square.size == (32, 32)  # the generator's own square: --no-paste-back
    assert "face_transform" in read_latent(edit).meta
    # a mask drawn on the photo, black over the face: warped with the face, the aligned square's centre is kept
    keep_face = np.full((512, 512), 255, np.uint8)
    x1, y1, x2, y2 = (round(v) for v in find_faces(FaceDetector(), photo)[0].box)
    keep_face[y1:y2, x1:x2] = 0
    Image.fromarray(keep_face).save(tmp_path / "not_the_face.png")
    assert main(["manipulate", "--text", "laughing", "--image", str(picture), *common, "--clip",
                 str(m / "clip_soundclip" / "ViT-B-32.pt"), "--invert-steps", "1", "--steps", "2", "--align", "face",
                 "--no-paste-back", "--region-mask", str(tmp_path / "not_the_face.png"), "--composite",
                 "--side-by-side", "--out", str(edit)]) == 0
    both = np.asarray(Image.open(edit)).astype(int)
    assert both.shape == (32, 64, 3) and np.array_equal(both[12:20, 12:20], both[12:20, 44:52])

    blank = tmp_path / "blank.png"
    Image.new("RGB", (96, 64), (120, 160, 220)).save(blank)
    never = tmp_path / "out" / "never.safetensors"
    assert main(["invert", str(blank), *common, "--align", "face", "--out", str(never)]) == 2
    assert "no face found in" in capsys.readouterr().err and not never.exists()
