"""`soundclip locate`, `soundclip search` and `manipulate --region-mask` on the tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_models import write_cli_files, write_sound

from soundclip_core.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = write_cli_files(tmp_path_factory.mktemp("where"))
    rng = np.random.default_rng(0)
    for i in range(3):
        (root / "pictures").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (30 + i, 40, 3), dtype=np.uint8)).save(root / "pictures" / f"p{i}.png")
        write_sound(root / "sounds" / f"s{i}.wav", seconds=1.0, seed=i)
    return root


def _models(files) -> list[str]:
    m = files / "models"
    return ["--encoder", str(m / "audio_encoders" / "resnet18_57.pth"),
            "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt")]


def test_locate_writes_a_heatmap_of_the_pictures_size_and_a_mask(files, capsys):
    out, mask = files / "out" / "heat.png", files / "out" / "mask.png"
    assert main(["locate", str(files / "pictures" / "p1.png"), "--audio", str(files / "rain.wav"), *_models(files),
                 "--out", str(out), "--mask-out", str(mask)]) == 0
    assert "mask covers" in capsys.readouterr().out
    assert Image.open(out).size == Image.open(mask).size == (40, 31)
    values = np.asarray(Image.open(mask))
    assert set(np.unique(values)) <= {0, 255} and values.max() == 255  # the best region is always in the mask


def test_search_ranks_pictures_by_a_sound_and_sounds_by_a_picture(files, capsys):
    ranking = files / "out" / "pictures.json"
    assert main(["search", "--images", str(files / "pictures"), "--audio", str(files / "rain.wav"), *_models(files),
                 "--json", str(ranking)]) == 0
    entries = json.loads(ranking.read_text())
    assert sorted(e["path"] for e in entries) == [str(files / "pictures" / f"p{i}.png") for i in range(3)]
    assert [e["score"] for e in entries] == sorted((e["score"] for e in entries), reverse=True)
    sounds = files / "out" / "sounds.json"
    assert main(["search", "--sounds", str(files / "sounds"), "--image", str(files / "pictures" / "p0.png"),
                 *_models(files), "--json", str(sounds), "--top", "2"]) == 0
    assert [e["path"].rsplit("/", 1)[1] for e in json.loads(sounds.read_text())][0].startswith("s")
    assert len(json.loads(sounds.read_text())) == 2
    capsys.readouterr()
    labelled = files / "labelled"
    for i, label in enumerate(["rain", "rain", "dog"]):
        (labelled / label).mkdir(parents=True, exist_ok=True)
        Image.open(files / "pictures" / f"p{i}.png").save(labelled / label / f"p{i}.png")
    assert main(["search", "--images", str(labelled), "--audio", str(files / "rain.wav"), *_models(files),
                 "--query-label", "rain"]) == 0
    printed = capsys.readouterr().out.splitlines()
    ranked = [line.split()[-1] for line in printed[:3]]
    relevant = [Path(p).parent.name == "rain" for p in ranked]  # AP by hand from the printed ranking
    hits = [sum(relevant[:i + 1]) / (i + 1) for i in range(3) if relevant[i]]
    assert f"mAP {sum(hits) / 2:.4f}" in printed[-1] and f"R@1 {float(relevant[0]):.4f}" in printed[-1]
    assert main(["search", "--sounds", str(files / "sounds"), "--audio", str(files / "rain.wav"),
                 *_models(files)]) == 2
    assert "searched with a picture" in capsys.readouterr().err


def _manipulate(files, out, mask, *extra) -> list[str]:
    m = files / "models"
    return ["manipulate", "--text", "a stormy sky", "--generator", str(m / "stylegan2" / "landscape.pt"),
            "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"), "--steps", "4", "--out", str(out),
            "--region-mask", str(mask), *extra]


def test_a_composited_region_edit_keeps_the_outside_exactly(files, capsys):
    mask = np.zeros((64, 64), np.uint8)
    mask[:, :32] = 255  # a mask twice the generator's size: resized to 32 px, the left half may change
    Image.fromarray(mask).save(files / "left.png")
    out = files / "out" / "region.png"
    assert main(_manipulate(files, out, files / "left.png", "--composite", "--side-by-side")) == 0
    both = np.asarray(Image.open(out)).astype(int)
    source, edit = both[:, :32], both[:, 32:]
    assert np.array_equal(source[:, 18:], edit[:, 18:])  # outside (past the resized edge): the source's pixels
    assert np.abs(source[:, :12] - edit[:, :12]).mean() > 0  # inside: edited


def test_a_mask_drawn_on_a_padded_photo_follows_the_photo(files, capsys):
    """--fit pad: the photo's left quarter is the padded square's left quarter (centre-cropped, none of it would be
    left: an all-black mask); outside it the composite keeps the inverted source's pixels exactly."""
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (24, 48, 3), dtype=np.uint8)).save(files / "wide.png")
    mask = np.zeros((24, 48), np.uint8)
    mask[:, :12] = 255
    Image.fromarray(mask).save(files / "wide_left.png")
    m = files / "models"
    out = files / "out" / "padded.png"
    photo = ["--image", str(files / "wide.png"), "--fit", "pad", "--vgg", str(m / "perceptual" / "vgg16.pt"),
             "--invert-steps", "1", "--composite", "--side-by-side"]
    assert main(_manipulate(files, out, files / "wide_left.png", *photo)) == 0
    both = np.asarray(Image.open(out)).astype(int)
    source, edit = both[:, :32], both[:, 32:]
    assert np.array_equal(source[:, 12:], edit[:, 12:])  # the right three quarters: the source's pixels
    assert np.abs(source[:, :6] - edit[:, :6]).mean() > 0  # the photo's left quarter: edited
    Image.fromarray(np.full((30, 30), 255, np.uint8)).save(files / "square.png")
    assert main(_manipulate(files, files / "out" / "never.png", files / "square.png", *photo)) == 2
    assert "region mask is 30x30 and the photo 48x24" in capsys.readouterr().err


def test_an_all_black_mask_is_refused_before_the_edit(files, capsys):
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(files / "black.png")
    assert main(_manipulate(files, files / "out" / "never.png", files / "black.png")) == 2
    assert "all black" in capsys.readouterr().err and not (files / "out" / "never.png").exists()
