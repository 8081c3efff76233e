"""`soundclip table` and `soundclip manipulate --instant` end to end on tiny models saved to files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from devices import TEST_DEVICE
from PIL import Image
from tiny_models import write_cli_files

from soundclip_core.cli import main
from soundclip_core.clip import load_clip
from soundclip_core.directions import decode_styles, load_table, read_styles
from soundclip_core.generators import load_generator
from soundclip_core.image import save_image


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_cli_files(tmp_path_factory.mktemp("cli"))


def _models(files) -> dict[str, str]:
    m = files / "models"
    return {"generator": str(m / "stylegan2" / "landscape.pt"), "clip": str(m / "clip_soundclip" / "ViT-B-32.pt"),
            "encoder": str(m / "audio_encoders" / "resnet18_57.pth")}


def _instant(files, out, *extra: str) -> int:
    m = _models(files)
    return main(["manipulate", "--instant", "--generator", m["generator"], "--clip", m["clip"], "--seed", "3",
                 "--device", str(TEST_DEVICE), "--out", str(out), *extra])


def test_table_then_instant_edits(files, capsys, tmp_path):
    m = _models(files)
    table_path = tmp_path / "landscape.safetensors"
    assert main(["table", "--generator", m["generator"], "--clip", m["clip"], "--samples", "2",
                 "--device", str(TEST_DEVICE), "--out", str(table_path)]) == 0
    generator = load_generator(m["generator"], TEST_DEVICE)
    clip = load_clip(None, m["clip"], TEST_DEVICE)
    table = load_table(table_path, generator, clip.space)
    assert table.method == "gradient" and table.images == 2 and "channels" in capsys.readouterr().out

    out = tmp_path / "rain.png"
    assert _instant(files, out, "--text", "rain", "--table", str(table_path), "--alpha", "4", "--beta", "0.05") == 0
    printed = capsys.readouterr().out
    assert "instant edit in" in printed and "channels move at beta 0.05" in printed
    styles, meta = read_styles(out.with_name("rain.styles.safetensors"), generator)
    assert meta["alpha"] == 4.0 and meta["direction"] == "table/gradient"
    source = tmp_path / "source.png"
    with torch.no_grad():
        ws = generator.ws_from_seed(3, truncation_psi=0.7)
        save_image(generator.synthesis(ws), source)
        save_image(decode_styles(generator, styles), tmp_path / "again.png")
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(tmp_path / "again.png")))  # its styles
    edit, plain = (np.asarray(Image.open(p), dtype=np.int16) for p in (out, source))
    assert edit.shape == plain.shape == (32, 32, 3) and np.abs(edit - plain).mean() > 0.5

    same = tmp_path / "same.png"  # alpha 0: the source image exactly
    assert _instant(files, same, "--text", "rain", "--table", str(table_path), "--alpha", "0", "--beta", "0.05") == 0
    assert np.array_equal(np.asarray(Image.open(same)), np.asarray(Image.open(source)))

    coarse = tmp_path / "coarse.png"  # --layers: the other layers' styles stay the source's
    assert _instant(files, coarse, "--text", "rain", "--table", str(table_path), "--beta", "0.05",
                    "--layers", "0-1") == 0
    edited, _ = read_styles(coarse.with_name("coarse.styles.safetensors"), generator)
    with torch.no_grad():
        original = generator.styles(ws)
    for i, layer in enumerate(generator.style_layers):
        if layer.w_index > 1:
            assert torch.equal(edited[i], original[i].cpu()), layer.name

    assert _instant(files, tmp_path / "x.png", "--text", "rain", "--table", str(table_path), "--beta", "0.99") == 2
    assert "no channel would move" in capsys.readouterr().err


def test_instant_without_a_table_from_a_neutral_sound(files, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "home"))  # an empty cache: the direction is estimated
    m = _models(files)
    out = tmp_path / "estimate.jpg"
    assert _instant(files, out, "--text", "a stormy sky", "--neutral", str(files / "rain.wav"), "--encoder",
                    m["encoder"], "--estimate-images", "2", "--beta", "0", "--side-by-side") == 0
    assert Image.open(out).size == (64, 32) and out.with_name("estimate.styles.safetensors").is_file()
    assert "estimate" in capsys.readouterr().out
    assert _instant(files, tmp_path / "y.png", "--text", "rain", "--neutral", str(files / "rain.wav")) == 2
    assert "needs an audio encoder" in capsys.readouterr().err
    assert _instant(files, tmp_path / "z.png", "--text", "rain", "--table", str(tmp_path / "nope.safetensors")) == 2
    assert "no table here" in capsys.readouterr().err and not (tmp_path / "z.png").exists()


def test_a_table_made_into_the_cache_is_found_by_instant_edits(files, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "home"))
    m = _models(files)
    assert main(["table", "--generator", m["generator"], "--clip", m["clip"], "--samples", "1",
                 "--device", str(TEST_DEVICE)]) == 0
    (cached,) = (tmp_path / "home" / "soundclip_tables").glob("*.safetensors")
    assert str(cached) in capsys.readouterr().out
    assert _instant(files, tmp_path / "cached.png", "--text", "rain", "--beta", "0") == 0
    printed = capsys.readouterr().out
    assert "using the cached gradient table (1 images)" in printed and "table/gradient" in printed


def test_instant_refuses_bad_numbers_and_a_bad_table_before_inverting_the_photo(files, capsys, tmp_path, monkeypatch):
    from photos import astronaut_path

    from soundclip_core.cli import manipulate

    def never(*args, **kwargs):
        raise AssertionError("the photo was inverted before the table was checked")

    monkeypatch.setattr(manipulate, "start_latent", never)
    m = _models(files)
    photo = ["--image", str(astronaut_path()), "--vgg", str(files / "models" / "perceptual" / "vgg16.pt")]
    for extra, said in [(["--beta", "nan"], "--beta nan"), (["--beta", "-0.1"], "--beta -0.1"),
                        (["--alpha", "nan"], "--alpha is NaN"), (["--estimate-images", "0"], "--estimate-images 0")]:
        assert _instant(files, tmp_path / "n.png", "--text", "rain", *photo, *extra) == 2
        assert said in capsys.readouterr().err
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a table")
    assert _instant(files, tmp_path / "g.png", "--text", "rain", "--table", str(garbage), *photo) == 2
    assert "truncated or not a safetensors file" in capsys.readouterr().err
    table_path = tmp_path / "t.safetensors"
    assert main(["table", "--generator", m["generator"], "--clip", m["clip"], "--samples", "1",
                 "--device", str(TEST_DEVICE), "--out", str(table_path)]) == 0
    assert _instant(files, tmp_path / "b.png", "--text", "rain", "--table", str(table_path), "--beta", "0.99",
                    *photo) == 2  # a beta that moves nothing: said before the inversion too
    assert "no channel would move" in capsys.readouterr().err and not (tmp_path / "b.png").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_table_refuses_a_seed_numpy_cannot_take_before_models_load(files, capsys, tmp_path, monkeypatch, seed):
    from soundclip_core.cli import table

    monkeypatch.setattr(table, "load_generator", lambda *a, **k: pytest.fail("a model loaded first"))
    m = _models(files)
    assert main(["table", "--generator", m["generator"], "--clip", m["clip"], "--seed", seed,
                 "--out", str(tmp_path / "t.safetensors")]) == 2
    assert f"--seed {seed} is outside 0..{2**32 - 1}" in capsys.readouterr().err


def test_instant_region_mask_composite_keeps_the_source_outside_exactly(files, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "home"))  # no cached table: an estimate
    m = _models(files)
    left = np.zeros((32, 32), np.uint8)
    left[:, :16] = 255  # white = may change: the left half
    Image.fromarray(left).save(tmp_path / "left.png")
    out = tmp_path / "masked.png"
    assert _instant(files, out, "--text", "rain", "--estimate-images", "1", "--beta", "0", "--alpha", "8",
                    "--region-mask", str(tmp_path / "left.png"), "--feather", "2", "--composite") == 0
    generator = load_generator(m["generator"], TEST_DEVICE)
    with torch.no_grad():
        source = tmp_path / "source.png"
        save_image(generator.synthesis(generator.ws_from_seed(3, truncation_psi=0.7)), source)
    edit, plain = (np.asarray(Image.open(p), dtype=np.int16) for p in (out, source))
    assert np.array_equal(edit[:, 16:], plain[:, 16:])  # outside the mask: the source's pixels exactly
    assert np.abs(edit[:, :12] - plain[:, :12]).mean() > 0.5  # inside (clear of the feather): the edit


def test_instant_align_face_edits_the_astronauts_face_and_pastes_it_back(files, capsys, tmp_path, monkeypatch):
    from photos import astronaut_path

    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "home"))
    photo = ["--image", str(astronaut_path()), "--vgg", str(files / "models" / "perceptual" / "vgg16.pt"),
             "--invert-steps", "1", "--align", "face", "--estimate-images", "1", "--beta", "0"]
    out = tmp_path / "face.png"
    assert _instant(files, out, "--text", "laughing", *photo) == 0
    original = np.asarray(Image.open(astronaut_path()).convert("RGB"), dtype=np.int16)
    pasted = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    assert pasted.shape == original.shape == (512, 512, 3)  # the photo with the edited face put back
    assert np.abs(pasted[:40, -40:] - original[:40, -40:]).max() <= 1  # a corner far from her face: the photo
    assert np.abs(pasted - original).mean() > 0.5  # the face: a tiny random generator's edit
    _, meta = read_styles(out.with_name("face.styles.safetensors"))
    assert "face_transform" in meta and meta["direction"] == "estimate"
    square = tmp_path / "square.png"
    assert _instant(files, square, "--text", "laughing", *photo, "--no-paste-back") == 0
    assert Image.open(square).size == (32, 32)
