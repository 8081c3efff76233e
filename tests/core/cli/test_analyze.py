"""`soundclip analyze`: the JSON keys scripts rely on, sorted sections, a readable CSV, a plot, semantic curves
from model files, stems per role, and user errors in one line before the song is heard."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

pytest.importorskip("librosa", reason="the analysis needs librosa: pip install -e '.[test]'")

from music_signals import chord, click_track  # noqa: E402
from tiny_models import TINY_DIM, stand_in_clip  # noqa: E402

from soundclip_core.cli import analyze as cli_analyze  # noqa: E402
from soundclip_core.cli import main  # noqa: E402
from soundclip_core.clip import save_clip  # noqa: E402
from soundclip_core.encoders import build_audio_encoder  # noqa: E402

RATE = 22050


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    y, _ = click_track(120, 10.0, RATE, accent_every=4)
    soundfile.write(root / "song.wav", (y + 0.2 * chord(10.0, RATE)).astype(np.float32), RATE)
    soundfile.write(root / "drone.wav", (0.3 * chord(10.0, RATE)).astype(np.float32), RATE)
    soundfile.write(root / "short.wav", (0.3 * chord(4.0, RATE)).astype(np.float32), RATE)
    encoder = build_audio_encoder("soundclip", embed_dim=TINY_DIM, device="cpu", seed=1)
    torch.save({f"module.{k}": v for k, v in encoder.net.state_dict().items()}, root / "encoder.pth")
    save_clip(stand_in_clip(), root / "clip.pt")
    return root


def test_json_holds_the_promised_keys_and_sorted_sections(files, capsys):
    out = files / "out" / "curves.json"
    assert main(["analyze", str(files / "song.wav"), "--fps", "12", "--out", str(out), "--plot",
                 str(files / "out" / "curves.png")]) == 0
    data = json.loads(out.read_text())
    assert {"fps", "duration", "tempo", "beats", "downbeats", "sections", "curves"} <= set(data)
    assert data["fps"] == 12 and data["duration"] == pytest.approx(10.0) and data["tempo"] == pytest.approx(120, abs=1)
    assert data["sections"] == sorted(data["sections"]) and data["sections"][0] == 0.0
    assert np.all(np.diff(data["beats"]) > 0) and set(data["downbeats"]) <= set(data["beats"])
    assert all(len(values) == 120 for values in data["curves"].values())
    assert {"loudness", "onset", "onset_20-150Hz", "chroma_C"} <= set(data["curves"])
    assert Image.open(files / "out" / "curves.png").size[0] == 1024
    assert "tempo: 120." in capsys.readouterr().out


def test_csv_is_one_row_per_frame(files):
    out = files / "out" / "curves.csv"
    assert main(["analyze", str(files / "song.wav"), "--fps", "5", "--bands", "20-150", "--out", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 50 and rows[0]["frame"] == "0" and float(rows[10]["time"]) == 2.0
    assert "onset_20-150Hz" in rows[0] and "onset_150-2000Hz" not in rows[0]
    assert all(np.isfinite(float(r["loudness"])) for r in rows)


def test_labels_and_a_beat_stem(files):
    out = files / "out" / "labelled.json"
    assert main(["analyze", str(files / "drone.wav"), "--fps", "2", "--stem", f"beat={files / 'song.wav'}",
                 "--labels", "rain, applause", "--encoder", str(files / "encoder.pth"), "--clip",
                 str(files / "clip.pt"), "--device", "cpu", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["tempo"] == pytest.approx(120, abs=1)  # the beat stem's, though the drone has none
    assert np.allclose(np.add(data["curves"]["label_rain"], data["curves"]["label_applause"]), 1, atol=1e-5)
    assert len(data["curves"]["label_rain"]) == 20 and "beat.onset" in data["curves"]


@pytest.mark.parametrize("extra, message", [
    (["--labels", "rain,applause"], "--labels need an audio encoder and its CLIP"),
    (["--min-bpm", "-5"], "tempo range -5-1000 BPM is empty or not positive"),
    (["--stem", "drums=x.wav"], "is not ROLE=FILE"),
    (["--min-bpm", "150", "--max-bpm", "100"], "tempo range 150-100 BPM is empty"),
    (["--bands", "low-high"], "cannot read the band 'low-high'"),
    (["--sections", "0"], "at least one section"),
])
def test_user_errors_are_one_line_before_the_song_is_heard(files, capsys, monkeypatch, extra, message):
    monkeypatch.setattr(cli_analyze, "load_audio", lambda *a, **k: pytest.fail("the song was read"))
    out = files / "out" / "never.json"
    assert main(["analyze", str(files / "song.wav"), *extra, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_a_stem_of_another_length_and_a_bad_output_are_refused(files, capsys, monkeypatch):
    monkeypatch.setattr(cli_analyze, "hear_roles", lambda *a, **k: pytest.fail("the song was analysed"))
    assert main(["analyze", str(files / "song.wav"), "--stem", f"pulse={files / 'short.wav'}", "--out",
                 str(files / "out" / "x.json")]) == 2
    assert "the pulse stem" in capsys.readouterr().err
    assert main(["analyze", str(files / "song.wav"), "--out", str(files / "out" / "x.txt")]) == 2
    assert ".csv or .json" in capsys.readouterr().err
