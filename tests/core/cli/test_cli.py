"""The `soundclip` command end to end on tiny models saved to files."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from importlib import metadata

import av
import pytest
import torch
from devices import TEST_DEVICE
from paths import ROOT
from PIL import Image
from tiny_models import write_cli_files

from soundclip_core.cli import build_parser, main
from soundclip_core.cli import invert as cli_invert
from soundclip_core.cli import manipulate as cli_manipulate
from soundclip_core.cli import mix as cli_mix
from soundclip_core.cli import video as cli_video
from soundclip_core.cli.options import fold_ids
from soundclip_core.latents import load_latent, read_latent
from soundclip_core.weights import KIND_FOLDERS, find_entry

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib



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
                 "--device", str(TEST_DEVICE), "--out", str(out), "--side-by-side"])
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


def test_weights_list(capsys):  # the selftest is tested below, with what it writes
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "landscape-256" in listing and "clip-vit-b-32" in listing


def _manipulate(files, out, *extra):
    m = files / "models"
    return ["manipulate", "--audio", str(files / "rain.wav"), "--text", "a stormy sky",
            "--generator", str(m / "stylegan2" / "landscape.pt"),
            "--encoder", str(m / "audio_encoders" / "resnet18_57.pth"),
            "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"), "--steps", "2", "--seed", "3",
            "--device", "cpu", "--out", str(out), *extra]


def test_out_writes_the_edit_alone_in_the_format_its_extension_names(files, capsys):
    out = files / "formats"
    assert main(_manipulate(files, out / "edit.jpg")) == 0
    printed = capsys.readouterr().out
    with Image.open(out / "edit.jpg") as picture:
        assert picture.format == "JPEG" and picture.size == (32, 32)  # the edit alone, not the pair
    assert (out / "edit.safetensors").is_file() and "the latent is only in the .safetensors" in printed
    assert main(_manipulate(files, out / "edit.webp")) == 0
    with Image.open(out / "edit.webp") as picture:
        assert picture.format == "WEBP"
    assert main(_manipulate(files, out / "pair.png", "--side-by-side")) == 0
    with Image.open(out / "pair.png") as picture:
        assert picture.format == "PNG" and picture.size == (64, 32)  # source | edit
    assert "latent embedded" in capsys.readouterr().out
    ws, _ = load_latent(out / "pair.safetensors")
    assert torch.equal(read_latent(out / "pair.png").ws, ws)  # a PNG carries the latent


def _no_model_loads(monkeypatch):
    """Fail the test if any command opens a model file."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a model was loaded before the bad input was refused: {args[:1]}")

    for module in (cli_manipulate, cli_invert, cli_mix, cli_video):
        for name in ("load_generator", "load_clip", "load_audio_encoder", "load_perceptual", "load_e4e"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)


def test_inputs_and_outputs_are_checked_before_any_model_loads(files, tmp_path, monkeypatch, capsys):
    _no_model_loads(monkeypatch)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file.txt").write_text("a file, not a folder")
    photo = files / "photo.png"
    Image.new("RGB", (20, 20)).save(photo)
    m = files / "models"
    generator = ["--generator", str(m / "stylegan2" / "landscape.pt")]
    cases = [
        (_manipulate(files, tmp_path / "x.png", "--audio", str(files / "rian.wav")), "rian.wav: sound file not found"),
        (_manipulate(files, tmp_path / "folder.png"), "the output is a folder"),
        (_manipulate(files, tmp_path / "file.txt" / "x.png"), "file.txt/x.png: cannot write to this folder"),
        (_manipulate(files, "/proc/soundclip-test/x.png"), "cannot write to this folder"),
        (_manipulate(files, tmp_path / "x.gif"), "cannot write a '.gif' file here"),
        (_manipulate(files, tmp_path / "x.png", "--encoder", str(tmp_path / "none.pth")), "none.pth: file not found"),
        (["invert", str(photo), *generator, "--out", str(tmp_path / "folder.png")], "(this output is .safetensors)"),
        (["invert", str(photo), *generator, "--out", str(tmp_path / "Y.safetensors")], "the output is a folder"),
        (["invert", str(photo), *generator, "--out", str(tmp_path / "X.safetensors")], "X.png: the output is a folder"),
        (["mix", str(tmp_path / "a.safetensors"), str(tmp_path / "a.safetensors"), *generator,
          "--out", str(tmp_path / "m.jpeg")], "a.safetensors"),
        (["video", "--audio", str(files / "rain.wav"), *generator, "--encoder", "e", "--clip", "c",
          "--out", str(tmp_path / "folder.png")], "(this output is .mp4)"),
        (["convert", str(m / "stylegan2" / "landscape.pt"), str(tmp_path / "folder.png")], "this output is"),
    ]
    (tmp_path / "X.png").mkdir()
    (tmp_path / "Y.safetensors").mkdir()  # invert once wrote Y.png here before failing on the folder
    for args, expected in cases:
        assert main(args) == 2, expected
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.png", "Y.safetensors", "file.txt", "folder.png"]


def test_every_missing_model_is_named_in_one_message(files, tmp_path, monkeypatch, capsys):
    download_module = importlib.import_module("soundclip_core.weights.download")  # the package exports a function
    _no_model_loads(monkeypatch)
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "cache"))
    fetched = []

    def offline(url, part, progress):
        fetched.append(url)
        raise OSError("network is unreachable")

    monkeypatch.setattr(download_module, "_fetch", offline)
    args = ["manipulate", "--audio", str(files / "rain.wav"), "--generator", "landscape-256", "--encoder",
            "soundclip-resnet18", "--clip", "clip-vit-b-32", "--device", "cpu", "--out", str(tmp_path / "x.png")]
    assert main(args) == 2
    err = capsys.readouterr().err
    for model_id in ("landscape-256", "soundclip-resnet18", "clip-vit-b-32"):
        entry = find_entry(model_id)
        assert f"could not download '{model_id}'" in err and entry.urls[0] in err
        assert str(tmp_path / "cache" / KIND_FOLDERS[entry.kind] / entry.filename) in err
    assert "3 models are missing or unusable" in err and len(fetched) >= 3
    assert not (tmp_path / "cache").exists()  # the failed downloads left no folders
    missing = ["manipulate", "--text", "x", "--generator", str(tmp_path / "g.pt"), "--clip", str(tmp_path / "c.pt"),
               "--arcface", str(tmp_path / "a.pth"), "--out", str(tmp_path / "x.png")]
    assert main(missing) == 2
    err = capsys.readouterr().err
    assert all(f"{tmp_path / name}: file not found" in err for name in ("g.pt", "c.pt", "a.pth"))


def test_selftest_covers_every_capability_and_says_what_next(tmp_path, capsys):
    out = tmp_path / "selftest"
    assert main(["selftest", "--steps", "10", "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == "soundclip selftest: OK" and "OK" in printed and str(out) in printed
    for name in ("edit", "inversion", "mix", "video"):
        assert any(line.split()[:2] == [name, "ok"] for line in lines), name
    with Image.open(out / "edit.png") as edit:
        assert edit.size == (32, 32)
    assert read_latent(out / "edit.png").ws.shape == read_latent(out / "edit.safetensors").ws.shape
    assert (out / "reconstruction.png").is_file() and (out / "mixed.png").is_file()
    with av.open(str(out / "video.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 16  # 2 s at 8 fps
    with av.open(str(out / "video.mp4")) as container:
        assert container.streams.audio and sum(f.samples for f in container.decode(audio=0)) > 0
    assert "VGG distance (unweighted)" in printed  # a random VGG has no LPIPS weights, and is not called LPIPS
    download = next(line for line in lines if "soundclip weights download" in line).split()
    assert all(find_entry(model_id) for model_id in download[3:]) and len(download) > 3
    assert any(line.strip().startswith("soundclip manipulate --audio") for line in lines)


def test_every_option_has_help_and_shows_its_default(capsys):
    parser = build_parser()
    commands = {}

    def walk(p, prefix):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    commands[f"{prefix}{name}"] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(parser, "")
    assert {"weights download", "train", "convert"} <= set(commands)
    for name, sub in commands.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"soundclip {name} {action.dest}: no help text"
            nothing = action.default is None or action.default is False or action.default in ("", argparse.SUPPRESS)
            if not nothing and "default" not in action.help:
                assert f"(default: {action.default})" in text, f"soundclip {name} {action.dest}: default not shown"
    assert "(default: 300)" in " ".join(commands["manipulate"].format_help().split())


def test_one_version_from_the_package_metadata(capsys, monkeypatch):
    import soundclip_core

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"soundclip {metadata.version('soundclip')}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert soundclip_core._version() == pyproject  # a bare checkout reads pyproject.toml
    sources = [*(ROOT / "soundclip_core").rglob("*.py"), *(ROOT / "nodes").rglob("*.py"), ROOT / "__init__.py"]
    literals = [path for path in sources if re.search(rf'__version__\s*=\s*["\']|["\']{re.escape(pyproject)}["\']',
                                                      path.read_text())]
    assert literals == []  # pyproject.toml holds the one version string


def test_commands_are_listed_in_the_order_an_artist_meets_them():
    from soundclip_core.cli import build_parser

    listed = [a for a in build_parser()._actions if a.dest == "command"][0].choices
    assert list(listed) == ["selftest", "weights", "manipulate", "mix", "invert", "video", "analyze", "locate",
                            "search", "table", "train", "evaluate", "convert"]


def test_fold_ids_mean_the_same_in_every_command():
    assert fold_ids("5") == (5,) and fold_ids("1,2,3") == (1, 2, 3) and fold_ids("1-4") == (1, 2, 3, 4)
    assert fold_ids("4, 1-2") == (4, 1, 2)
    for bad in ("one", "0", "2.5", "3-1", "", "1,,2"):
        with pytest.raises(argparse.ArgumentTypeError):
            fold_ids(bad)
    parser = build_parser()
    for command in (["train", "--data", "d", "--clip", "c"], ["evaluate", "--dataset", "esc50", "d", "--encoder", "e",
                                                               "--clip", "c"]):
        assert parser.parse_args([*command, "--folds", "2-3"]).folds == (2, 3)


def test_one_entry_for_torchrun():
    assert not (ROOT / "soundclip_core" / "train" / "__main__.py").exists()
    result = subprocess.run([sys.executable, "-m", "soundclip_core", "train", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--folds" in result.stdout and "torchrun" not in result.stderr
