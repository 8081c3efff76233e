"""The hearing nodes under inference mode, as ComfyUI runs them: Analyze Sound (with a stem per role), Semantic
Curves, Sound Curve's outputs (list, schedule that parses back, mask and image batches) and the plot."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("librosa", reason="the analysis needs librosa: pip install -e '.[test]'")

from music_signals import chord, click_track  # noqa: E402
from pack_loading import import_pack  # noqa: E402

from soundclip_core.analysis import Envelope, parse_schedule  # noqa: E402
from soundclip_core.audio import Audio  # noqa: E402
from soundclip_core.clip import TINY_SPACE, tiny_clip  # noqa: E402
from soundclip_core.encoders import build_audio_encoder  # noqa: E402
from soundclip_core.errors import AnalysisError, Cancelled  # noqa: E402
from soundclip_core.evaluate import classify  # noqa: E402
from soundclip_core.video import cut_windows  # noqa: E402

RATE = 22050


@pytest.fixture(scope="module")
def nodes():
    pack = import_pack("soundclip_pack_analysis_nodes")
    return {name.removeprefix("SoundCLIP_"): cls() for name, cls in pack.NODE_CLASS_MAPPINGS.items()}


def comfy(y: np.ndarray, rate: int = RATE) -> dict:
    return {"waveform": torch.from_numpy(np.asarray(y, np.float32))[None, None].clone(), "sample_rate": rate}


@pytest.fixture(scope="module")
def heard(nodes):
    """A drone song with a 120 BPM click track as its beat stem, at 10 fps, under inference mode."""
    song = 0.3 * chord(8.0, RATE)
    drums = click_track(120, 8.0, 44100)[0]
    with torch.inference_mode(), pytest.warns(UserWarning, match="the beat stem was resampled"):
        analysis, report = nodes["AnalyzeSound"].analyze(comfy(song), 10.0, "20-150, 2000-11025", 0.0, 0.0, 0,
                                                         beat=comfy(drums, 44100))
    return analysis, report


def test_analyze_sound_hears_the_beat_from_its_stem(heard):
    analysis, report = heard
    assert analysis.fps == 10 and analysis.frame_count == 80
    assert analysis.rhythm.tempo == pytest.approx(120, abs=1) and analysis.song.tempo is None
    assert "tempo: 120." in report and "onset_20-150Hz" in report and "beat.onset" in report
    assert "resampled from 44100 Hz" in report


def test_sound_curve_outputs_agree_with_each_other(nodes, heard):
    analysis, _ = heard
    with torch.inference_mode():
        floats, floats_again, schedule, mask, image, value, count = nodes["SoundCurve"].shape(
            analysis, "beat.onset", "song", 10.0, 0.1, 1.0, 0.0, 0.0, 0.3, 0.0, 1.0, False, "keyframes", 5)
    expected = Envelope(threshold=0.1, release=0.3).apply(analysis.curve("beat.onset"), 10)
    assert floats == floats_again and np.array_equal(np.float32(floats), expected) and count == 80
    assert isinstance(floats[0], float) and value == floats[5]
    assert np.abs(parse_schedule(schedule, count) - np.round(expected.astype(np.float64), 4)).max() < 1e-9
    assert mask.shape == (80, 64, 64) and torch.allclose(mask[:, 0, 0], torch.from_numpy(expected))
    assert image.shape == (80, 64, 64, 3) and image.dtype == torch.float32
    with pytest.raises(AnalysisError, match="no curve 'kick'"):
        nodes["SoundCurve"].shape(analysis, "kick", "song", 10.0, 0, 1, 0, 0, 0, 0, 1, False, "json", 0)
    with pytest.raises(AnalysisError, match="attack"):
        nodes["SoundCurve"].shape(analysis, "onset", "song", 10.0, 0, 1, -1.0, 0, 0, 0, 1, False, "json", 0)


def test_semantic_curves_node_adds_the_zero_shot_curves(nodes, heard):
    analysis, _ = heard
    encoder = build_audio_encoder("soundclip", embed_dim=64, device="cpu", seed=1, space=TINY_SPACE)
    clip = tiny_clip()
    y = 0.3 * chord(8.0, RATE)
    with torch.inference_mode():
        more, report = nodes["SemanticCurves"].add(analysis, comfy(y), encoder, clip, "rain, applause\nviolin", "{}",
                                                   5.0, 2.5, embedding=clip.encode_text(["rain"]))
        song = Audio(torch.from_numpy(np.float32(y))[None], RATE)
        windows = cut_windows(song, 5.0, 2.5)
        ranking = classify(encoder, clip, [song.window(s, e) for s, e in windows.spans], ["rain", "applause", "violin"])
    assert report.startswith("3 windows; curves added: label_rain, label_applause, label_violin, similarity_target")
    for centre, row in zip(windows.times, ranking, strict=True):
        for label, p in row:
            assert more.curve(f"label_{label}")[round(centre * 10)] == np.float32(p)
    assert "label_rain" not in analysis.curves  # the input analysis is left as it was
    with pytest.raises(AnalysisError, match="4.00 s long and the analysed song 8.00 s"):
        nodes["SemanticCurves"].add(analysis, comfy(y[:4 * RATE]), encoder, clip, "rain\nviolin", "{}", 5.0, 2.5)


def test_semantic_curves_node_shows_progress_and_cancels(nodes, heard, monkeypatch):
    analysis, _ = heard
    comfy_env = sys.modules[type(nodes["SemanticCurves"]).__module__].comfy_env
    bars = []

    class ProgressBar:  # ComfyUI's comfy.utils.ProgressBar, recording
        def __init__(self, total):
            bars.append([])

        def update_absolute(self, value, total, preview=None):
            bars[-1].append((value, total))

    monkeypatch.setattr(comfy_env, "comfy_utils", SimpleNamespace(ProgressBar=ProgressBar))
    encoder = build_audio_encoder("soundclip", embed_dim=64, device="cpu", seed=1, space=TINY_SPACE)
    y = 0.3 * chord(8.0, RATE) + 0.01  # other sound than the other tests': not in the curves' cache
    with torch.inference_mode():
        nodes["SemanticCurves"].add(analysis, comfy(y), encoder, tiny_clip(), "rain\nviolin", "{}", 2.0, 1.0)
        assert bars == [[(7, 7)]]  # 7 windows, one batch
        monkeypatch.setattr(comfy_env, "interrupted", lambda: True)
        with pytest.raises(Cancelled, match="after 0 of 7 windows"):
            nodes["SemanticCurves"].add(analysis, comfy(y + 0.01), encoder, tiny_clip(), "rain,snow", "{}", 2.0, 1.0)


def test_plot_node_draws_one_lane_per_curve(nodes, heard):
    analysis, _ = heard
    with torch.inference_mode():
        (default,) = nodes["PlotSoundCurves"].plot(analysis, "", 512, 40)
        (two,) = nodes["PlotSoundCurves"].plot(analysis, "loudness, beat.onset", 512, 40)
    assert default.shape == (1, 18 + 40 * 4 + 22, 512, 3)  # loudness, onset and two band onsets
    assert two.shape == (1, 18 + 80 + 22, 512, 3) and 0 <= float(two.min()) and float(two.max()) <= 1
