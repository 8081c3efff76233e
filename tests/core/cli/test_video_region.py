"""`soundclip video --region TEXT | --region-audio`: each keyframe's edit confined to where the sound (or the text)
is in the source image, end to end on tiny model files; bad region flags refused before any model loads."""

from __future__ import annotations

import pytest
from tiny_models import write_cli_files

from soundclip_core.cli import main
from soundclip_core.cli import video as cli_video
from soundclip_core.latents import read_latent


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_cli_files(tmp_path_factory.mktemp("cli"))


def _video(files, out, *extra) -> list[str]:
    m = files / "models"
    return ["video", "--audio", str(files / "rain.wav"), "--generator", str(m / "stylegan2" / "landscape.pt"),
            "--encoder", str(m / "audio_encoders" / "resnet18_57.pth"), "--clip",
            str(m / "clip_soundclip" / "ViT-B-32.pt"), "--fps", "4", "--window", "1", "--hop", "1", "--steps", "2",
            "--device", "cpu", "--out", str(out), *extra]


@pytest.mark.parametrize("flags, label", [(["--region-audio"], "each window's sound"),
                                          (["--region", "the sky"], "text: the sky")])
def test_a_located_region_reaches_every_keyframe(files, tmp_path, flags, label):
    keyframes = tmp_path / "k.safetensors"
    assert main(_video(files, tmp_path / "v.mp4", *flags, "--keyframes", str(keyframes))) == 0
    settings = read_latent(keyframes).meta["settings"]
    assert settings["located_region"] == label and settings["region"]["lam_pixels"] > 0
    assert (tmp_path / "v.mp4").stat().st_size > 0


def test_bad_region_flags_are_refused_before_any_model_loads(files, tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad flags were refused")

    for name in ("load_generator", "load_clip", "load_audio_encoder"):
        monkeypatch.setattr(cli_video, name, refuse)
    for extra, expected in [(["--region", "sky", "--region-audio"], "both a text and each window's sound"),
                            (["--region-audio", "--region-threshold", "2"], "outside 0..1"),
                            (["--region-audio", "--mode", "instant", "--table", str(files / "rain.wav")],
                             "use them with --mode keyframes")]:
        assert main(_video(files, tmp_path / "v.mp4", *extra)) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err
    assert not (tmp_path / "v.mp4").exists()
