"""A command's outputs are checked before any work, and images are written in the format their suffix names."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from soundclip_core.cli.outputs import check_output
from soundclip_core.errors import SoundClipError
from soundclip_core.image import IMAGE_FORMATS, save_image


def test_check_output_refuses_what_cannot_be_written(tmp_path):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file.txt").write_text("x")
    cases = [
        (tmp_path / "x.gif", "cannot write a '.gif' file here (this output is .jpeg or .jpg or .png or .webp)"),
        (tmp_path / "x", "cannot write a 'suffix-less' file here"),
        (tmp_path / "folder.png", "the output is a folder"),
        (tmp_path / "file.txt" / "deeper" / "x.png", "cannot write to this folder"),
        ("/proc/soundclip-test/x.png", "cannot write to this folder"),
    ]
    for path, expected in cases:
        with pytest.raises(SoundClipError, match="Fix: ") as error:
            check_output(path, IMAGE_FORMATS, "edit.png")
        assert expected in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder.png"]  # nothing left behind
    assert check_output(tmp_path / "new" / "X.PNG", IMAGE_FORMATS, "edit.png").name == "X.PNG"
    assert list((tmp_path / "new").iterdir()) == []  # its folder made, as the write would, and no file in it


def test_save_image_writes_the_format_its_suffix_names(tmp_path):
    images = torch.linspace(-1, 1, 3 * 8 * 8).reshape(1, 3, 8, 8)
    for name, expected in [("a.png", "PNG"), ("a.jpg", "JPEG"), ("a.JPEG", "JPEG"), ("a.webp", "WEBP")]:
        save_image(images, tmp_path / name, text={"latent": "ride along"})
        with Image.open(tmp_path / name) as picture:
            assert picture.format == expected and picture.size == (8, 8)
            if expected == "PNG":  # only a PNG has a place for text (the embedded latent)
                assert picture.text["latent"] == "ride along"
    save_image(torch.cat([images, -images]), tmp_path / "batch.jpg")
    assert Image.open(tmp_path / "batch.jpg").size == (16, 8)  # a batch is tiled, as in a PNG
    with pytest.raises(SoundClipError, match=r"cannot write a '\.bmp' image"):
        save_image(images, tmp_path / "a.bmp")
    assert not (tmp_path / "a.bmp").exists()
