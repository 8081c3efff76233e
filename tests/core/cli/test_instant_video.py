"""`soundclip video --mode instant` end to end on tiny model files, and what it refuses before any model loads."""

from __future__ import annotations

import av
import pytest
import torch
from devices import TEST_DEVICE
from stylegan_formats import tiny_generator
from tiny_models import TINY_DIM, stand_in_clip, write_sound

from soundclip_core.cli import main
from soundclip_core.cli import video as cli_video
from soundclip_core.clip import save_clip
from soundclip_core.directions import compute_table, save_table
from soundclip_core.directions.files import style_layout_json
from soundclip_core.encoders import build_audio_encoder
from soundclip_core.generators import load_generator, save_generator


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny generator, encoder, CLIP and the generator's table in that CLIP's space, saved as files; a 2 s sound."""
    root = tmp_path_factory.mktemp("instant")
    save_generator(tiny_generator(resolution=16), root / "g.pt")
    encoder = build_audio_encoder("soundclip", embed_dim=TINY_DIM, device="cpu")
    torch.save({f"module.{k}": v for k, v in encoder.net.state_dict().items()}, root / "resnet18_57.pth")
    clip = stand_in_clip()
    save_clip(clip, root / "ViT-B-32.pt")
    generator = load_generator(root / "g.pt", "cpu")
    table = compute_table(generator, clip, "finite", images=2, stats_samples=400, max_resolution=None)
    save_table(table, root / "table.safetensors", style_layout_json(generator))
    write_sound(root / "song.wav", seconds=2.0)
    return root


def _video(files, out, *extra) -> list[str]:
    return ["video", "--mode", "instant", "--audio", str(files / "song.wav"), "--generator", str(files / "g.pt"),
            "--encoder", str(files / "resnet18_57.pth"), "--clip", str(files / "ViT-B-32.pt"), "--table",
            str(files / "table.safetensors"), "--fps", "8", "--window", "1", "--beta", "0.02",
            "--device", str(TEST_DEVICE), "--out", str(out), *extra]


def _frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_instant_video_writes_one_frame_per_frame_time_with_no_optimisation(files, tmp_path, monkeypatch, capsys):
    def no_optimisation(*args, **kwargs):
        raise AssertionError("instant mode optimised keyframes")

    monkeypatch.setattr(cli_video, "make_video", no_optimisation)
    assert main(_video(files, tmp_path / "instant.mp4", "--alpha", "3", "--smooth", "0.2", "--pulse", "0.3")) == 0
    assert _frames(tmp_path / "instant.mp4") == 16  # 2 s at 8 fps
    assert "16 frames" in capsys.readouterr().out
    assert main(_video(files, tmp_path / "curve.mp4", "--alpha-curve", "loudness", "--neutral",
                       str(files / "song.wav"))) == 0  # alpha follows the song's loudness; a sound as the neutral
    assert _frames(tmp_path / "curve.mp4") == 16
    assert main(_video(files, tmp_path / "x.mp4", "--alpha-curve", "nonsense")) == 2
    assert "no curve named 'nonsense'" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()


def test_instant_mode_is_refused_before_any_model_loads(files, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a model was loaded before the bad input was refused: {args[:1]}")

    for name in ("load_generator", "load_clip", "load_audio_encoder"):
        monkeypatch.setattr(cli_video, name, refuse)
    out = tmp_path / "v.mp4"
    no_table = [a for a in _video(files, out) if a != str(files / "table.safetensors") and a != "--table"]
    cases = [(no_table, "--mode instant needs a StyleSpace table (--table)"),
             (_video(files, out, "--table", str(tmp_path / "no.safetensors")), "no.safetensors: no StyleSpace table"),
             (_video(files, out, "--keyframes", str(tmp_path / "k.safetensors")), "makes no keyframes"),
             (_video(files, out, "--alpha", "500"), "alpha 500 at frame 0 is outside"),
             (_video(files, out, "--smooth", "-1"), "smoothing time"),
             (_video(files, out, "--beta", "-0.5"), "beta -0.5 must be 0 or more"),
             ([a for a in _video(files, out) if a not in ("--mode", "instant")], "are for the instant mode")]
    for args, expected in cases:
        assert main(args) == 2, expected
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []
