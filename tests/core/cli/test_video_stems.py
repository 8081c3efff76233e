"""`soundclip video` fits every stem to the song (analysis.assign_roles) before any model loads: a stem at another
sample rate is resampled with a note, one 3 s shorter is refused naming its role."""

from __future__ import annotations

import pytest
from tiny_models import write_sound

from soundclip_core.cli import main
from soundclip_core.cli import video as cli_video


def _video(tmp_path, *extra) -> list[str]:
    return ["video", "--audio", str(tmp_path / "song.wav"), "--generator", str(tmp_path / "g.pt"), "--encoder",
            str(tmp_path / "e.pth"), "--clip", str(tmp_path / "c.pt"), "--out", str(tmp_path / "v.mp4"), *extra]


@pytest.fixture()
def no_models(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the stems were checked")

    for name in ("load_generator", "load_clip", "load_audio_encoder"):
        monkeypatch.setattr(cli_video, name, refuse)


@pytest.mark.parametrize("flag, role", [("--pulse-audio", "pulse"), ("--motion-audio", "motion"),
                                        ("--beat-audio", "beat"), ("--meaning-audio", "meaning")])
def test_a_stem_3_s_shorter_is_refused_naming_its_role_before_models_load(tmp_path, capsys, no_models, flag, role):
    write_sound(tmp_path / "song.wav", seconds=6.0)
    write_sound(tmp_path / "stem.wav", seconds=3.0, seed=1)
    assert main(_video(tmp_path, flag, str(tmp_path / "stem.wav"))) == 2
    err = capsys.readouterr().err
    assert f"the {role} stem (" in err and "3.00 s long and the song 6.00 s" in err and "Traceback" not in err
    assert not (tmp_path / "v.mp4").exists()


def test_a_stem_at_another_rate_is_resampled_with_a_note_before_models_load(tmp_path, capsys, no_models):
    write_sound(tmp_path / "song.wav", seconds=6.0)
    write_sound(tmp_path / "stem.wav", seconds=6.0, rate=16000, seed=1)
    assert main(_video(tmp_path, "--pulse-audio", str(tmp_path / "stem.wav"))) == 2  # then: the models are missing
    captured = capsys.readouterr()
    assert "soundclip: the pulse stem was resampled from 16000 Hz to the song's 22050 Hz" in captured.out
    assert "g.pt: file not found" in captured.err
