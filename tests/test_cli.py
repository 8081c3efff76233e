"""The `soundclip` command end to end on tiny models saved to files."""

from __future__ import annotations

import pytest
import torch
from devices import TEST_DEVICE
from PIL import Image
from tiny_models import write_cli_files

from soundclip_core.cli import main
from soundclip_core.latents import load_latent


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_cli_files(tmp_path_factory.mktemp("cli"))


def test_manipulate_writes_image_and_latent_then_mix(files, capsys):
    m = files / "models"
    out = files / "out" / "rain.png"
    code = main(["manipulate", "--audio", str(files / "rain.wav"), "--text", "a stormy sky",
                 "--generator", str(m / "stylegan2" / "landscape.pt"),
                 "--encoder", str(m / "audio_encoders" / "resnet18_57.pth"),
                 "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"), "--steps", "4", "--seed", "3",
                 "--device", str(TEST_DEVICE), "--out", str(out)])
    assert code == 0
    assert Image.open(out).size == (64, 32)  # source | result side by side
    ws, meta = load_latent(out.with_suffix(".safetensors"))
    assert ws.shape == (1, 8, 32) and meta["settings"]["steps"] == 4
    again = files / "out" / "again.png"
    assert main(["manipulate", "--text", "fog", "--latent", str(out.with_suffix(".safetensors")),
                 "--generator", str(m / "stylegan2" / "landscape.pt"), "--clip",
                 str(m / "clip_soundclip" / "ViT-B-32.pt"), "--steps", "2", "--device", str(TEST_DEVICE),
                 "--out", str(again)]) == 0
    mixed = files / "out" / "mixed.png"
    assert main(["mix", str(out.with_suffix(".safetensors")), str(again.with_suffix(".safetensors")),
                 "--layers", "0-3", "--generator", str(m / "stylegan2" / "landscape.pt"), "--out", str(mixed)]) == 0
    w_mixed, _ = load_latent(mixed.with_suffix(".safetensors"))
    w_a, _ = load_latent(out.with_suffix(".safetensors"))
    w_b, _ = load_latent(again.with_suffix(".safetensors"))
    assert torch.equal(w_mixed[:, :4], w_a[:, :4]) and torch.equal(w_mixed[:, 4:], w_b[:, 4:])
    assert "similarity" in capsys.readouterr().out


def test_user_errors_are_one_line(files, capsys):
    code = main(["manipulate", "--audio", str(files / "missing.wav"), "--encoder",
                 str(files / "models" / "audio_encoders" / "resnet18_57.pth"),
                 "--generator", str(files / "models" / "stylegan2" / "landscape.pt"),
                 "--clip", str(files / "models" / "clip_soundclip" / "ViT-B-32.pt"), "--device", str(TEST_DEVICE),
                 "--out", str(files / "x.png")])
    assert code == 2
    assert "missing.wav: sound file not found" in capsys.readouterr().err
    assert not (files / "x.png").exists()


def test_selftest_and_weights_list(capsys):
    assert main(["selftest", "--steps", "10"]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "landscape-256" in listing and "clip-vit-b-32" in listing
