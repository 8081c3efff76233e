"""Hearing a song for a video: stems per role checked against the song, the cache that spares a slider change a
new analysis, the tempo range that fixes octave errors, and what flows out (JSON, CSV rows, schedules, plots)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("librosa", reason="the analysis needs librosa: pip install -e '.[test]'")

from music_signals import as_audio, chord, click_track  # noqa: E402

from soundclip_core.analysis import (  # noqa: E402
    FORMATS,
    Envelope,
    assign_roles,
    curve_frames,
    hear,
    parse_schedule,
    plot_curves,
    to_schedule,
)
from soundclip_core.analysis import hearing as hearing_module  # noqa: E402
from soundclip_core.analysis.analyze import open_tempo_range  # noqa: E402
from soundclip_core.analysis.beats import in_range  # noqa: E402
from soundclip_core.analysis.cache import ANALYSES  # noqa: E402
from soundclip_core.analysis.plot import preview_size  # noqa: E402
from soundclip_core.audio import Audio  # noqa: E402
from soundclip_core.errors import AnalysisError  # noqa: E402

RATE = 22050


@pytest.fixture(scope="module")
def clicks() -> Audio:
    return as_audio(click_track(120, 8.0, RATE)[0], RATE)


@pytest.fixture(scope="module")
def drone() -> Audio:
    return as_audio(0.3 * chord(8.0, RATE), RATE)


@pytest.fixture()
def counted(monkeypatch):
    """The cache emptied, and every analysis the hearing runs counted."""
    ANALYSES.clear()
    calls = []
    real = hearing_module.analyze

    def counting(audio, **settings):
        calls.append(audio.duration)
        return real(audio, **settings)

    monkeypatch.setattr(hearing_module, "analyze", counting)
    yield calls
    ANALYSES.clear()


# ---------------------------------------------------------------- roles


def test_a_stem_at_another_rate_is_resampled_and_roles_default_to_the_song(drone):
    stem = drone.resample(44100)
    with pytest.warns(UserWarning, match="the pulse stem was resampled from 44100 Hz to the song's 22050 Hz"):
        roles = assign_roles(drone, pulse=stem)
    assert roles["pulse"].sample_rate == RATE and roles["pulse"].waveform.shape == drone.waveform.shape
    assert roles.own("pulse") and not roles.own("beat") and roles["meaning"] is drone
    assert "resampled from 44100 Hz" in roles.notes[0]


@pytest.mark.parametrize("change", [-0.3, 0.3])
def test_a_stem_a_little_off_in_length_is_padded_or_trimmed_with_a_warning(drone, change):
    samples = drone.waveform.shape[-1] + round(change * RATE)
    stem = Audio(torch.ones(1, samples) * 0.1, RATE, "drums.wav")
    with pytest.warns(UserWarning, match="the beat stem was (padded|trimmed)"):
        roles = assign_roles(drone, beat=stem)
    fitted = roles["beat"].waveform
    assert fitted.shape == drone.waveform.shape
    if change < 0:  # the padding is silence at the end, the stem's samples untouched
        assert torch.all(fitted[:, :samples] == 0.1) and torch.all(fitted[:, samples:] == 0)
    else:
        assert torch.equal(fitted, stem.waveform[:, :drone.waveform.shape[-1]])


def test_a_stem_of_another_length_is_one_error_naming_the_role(drone):
    stem = Audio(torch.ones(1, drone.waveform.shape[-1] // 2) * 0.1, RATE, "vocals.wav")
    with pytest.raises(AnalysisError, match=r"the meaning stem \(vocals.wav\) is 4.00 s long and the song 8.00 s"):
        assign_roles(drone, meaning=stem)
    with pytest.raises(AnalysisError, match="unknown role"):
        assign_roles(drone, drums=stem)


def test_the_beat_comes_from_the_beat_stem_and_each_stem_adds_its_curves(drone, clicks, counted):
    """A drone has no beat; with a click track as its beat stem the hearing has the clicks' tempo and beats,
    the song's own curves keep their names and the stem's come as beat.<name>."""
    heard = hear(drone, 24, stems={"beat": clicks})
    assert heard.song.tempo is None and heard.rhythm.tempo == pytest.approx(120, abs=1)
    assert heard.to_json()["tempo"] == heard.rhythm.tempo and len(heard.to_json()["beats"]) >= 14
    assert {"onset", "loudness", "beat.onset", "beat.loudness"} <= set(heard.curves)
    assert heard.curves["beat.onset"].max() > 0
    assert not np.array_equal(heard.curves["onset"], heard.curves["beat.onset"])
    assert len(counted) == 2  # the song and the stem, the other three roles share the song's analysis


# ---------------------------------------------------------------- the cache


def test_a_second_hearing_of_the_same_sound_does_not_analyse_again(clicks, drone, counted):
    first = hear(clicks, 24)
    again = hear(Audio(clicks.waveform.clone(), RATE, "loaded again"), 30)  # same samples, another frame rate
    assert len(counted) == 1
    assert again.frame_count == 240 and first.frame_count == 192
    assert again.rhythm is first.rhythm
    hear(clicks, 24, tempo_range=(150, 250))  # other settings: heard again
    hear(drone, 24)  # another sound: heard again
    assert len(counted) == 3


# ---------------------------------------------------------------- tempo range


def test_a_tempo_range_fixes_an_octave_error():
    """A 200 BPM click track reads 100 BPM as heard (librosa's prior favours 120): a range of 150-250 BPM reads
    200, and every click is a beat."""
    y, truth = click_track(200, 10.0, RATE)
    heard = hear(as_audio(y, RATE), 24, tempo_range=(150, 250)).rhythm
    assert heard.tempo == pytest.approx(200, abs=1)
    assert np.abs(heard.beats.times[:, None] - truth[None]).min(1).max() < 0.02
    assert len(heard.beats.times) >= len(truth) - 2


def test_tempo_ranges_fold_by_octaves_and_bad_ranges_are_refused(clicks):
    assert in_range(100, (150, 250)) == 200 and in_range(440, (60, 180)) == 110 and in_range(100, None) == 100
    assert in_range(100, (130, 190)) == 130  # under an octave wide: the nearest edge
    assert in_range(100, open_tempo_range(150, None)) == 200 and in_range(240, open_tempo_range(0, 130)) == 120
    for bad in [(120, 60), (0, 100), ("fast",), (60, float("nan"))]:
        with pytest.raises(AnalysisError, match="tempo range"):
            hear(clicks, 24, tempo_range=bad)


# ---------------------------------------------------------------- out: JSON, CSV, schedules, previews


def test_json_and_rows_hold_what_scripts_rely_on(clicks):
    heard = hear(clicks, 10)
    data = json.loads(json.dumps(heard.to_json()))
    assert {"fps", "duration", "tempo", "beats", "downbeats", "sections", "curves"} <= set(data)
    assert data["fps"] == 10 and data["duration"] == pytest.approx(8.0) and data["sections"][0] == 0.0
    assert data["sections"] == sorted(data["sections"])
    assert all(len(v) == 80 for v in data["curves"].values())
    header, rows = heard.csv_header(), list(heard.csv_rows())
    assert header[:2] == ["frame", "time"] and len(rows) == 80 and rows[12][:2] == [12, 1.2]
    assert rows[12][header.index("onset")] == pytest.approx(heard.curves["onset"][12], abs=1e-6)


def test_with_curves_takes_one_value_per_frame_and_names_the_missing_curve(clicks):
    heard = hear(clicks, 10)
    more = heard.with_curves({"label_rain": np.linspace(0, 1, 80)})
    assert more.curve("label_rain")[-1] == 1.0 and "label_rain" not in heard.curves
    with pytest.raises(AnalysisError, match="one per frame"):
        heard.with_curves({"short": np.zeros(3)})
    with pytest.raises(AnalysisError, match="no curve 'rain'.*loudness"):
        heard.curve("rain")


@pytest.mark.parametrize("style", FORMATS)
def test_schedules_parse_back_to_the_same_numbers(style):
    rng = np.random.default_rng(0)
    curve = np.concatenate([rng.random(30), np.zeros(40), np.linspace(0.2, 0.69, 50), rng.random(10)])
    text = to_schedule(curve, style)
    assert np.abs(parse_schedule(text, len(curve)) - np.round(curve, 4)).max() < 1e-12
    assert text.count(",") < len(curve) - 80  # the flat stretch and the ramp are two keyframes each
    if style == "json":
        assert json.loads("{" + text + "}")["0"] == round(curve[0], 4)


def test_schedule_strings_are_those_the_scheduling_nodes_read():
    curve = [0.5, 0.5, 0.5, 0.9]
    assert to_schedule(curve) == "0:(0.5000),\n2:(0.5000),\n3:(0.9000)"
    assert to_schedule(curve, "animatediff") == "0=0.5000, 2=0.5000, 3=0.9000"
    assert to_schedule(curve, "json") == '"0": 0.5000, "2": 0.5000, "3": 0.9000'
    assert parse_schedule('{"0": 0.0, "10": 1.0,}', 12).tolist() == pytest.approx([i / 10 for i in range(11)] + [1])
    with pytest.raises(AnalysisError, match="cannot read the schedule entry 'soon'"):
        parse_schedule("0:(0.5), soon", 4)
    with pytest.raises(AnalysisError, match="unknown schedule format"):
        to_schedule(curve, "deforum3")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2e14, -3e18])
def test_a_curve_out_of_a_schedules_range_is_refused_not_wrapped_around(value):
    with pytest.raises(AnalysisError, match="NaN or infinite|beyond the 1e\\+14") as caught:
        to_schedule([0.5, value, 0.5])
    assert caught.value.fix
    assert to_schedule([0.0, 1e14]) == "0:(0.0000),\n1:(100000000000000.0000)"  # the largest allowed is exact


def test_curve_previews_and_plot():
    mask, image = curve_frames([0.0, 0.5, 1.0, 2.0], size=8)
    assert mask.shape == (4, 8, 8) and mask[1].min() == mask[1].max() == 0.5 and mask[3].max() == 1.0
    assert image.shape == (4, 8, 8, 3)
    assert image[0].max() == 0 and image[2, :, :, 0].min() == 1
    assert image[1, 4:, :, 0].min() == 1 and image[1, :4, :, 0].max() == 0  # half: the bottom half lit
    curves = {"loudness": np.sin(np.linspace(0, 6, 100)) ** 2, "flat": np.ones(100)}
    plot = plot_curves(curves, 10, beats=[1.0, 2.0], downbeats=[1.0], sections=[0.0, 5.0], width=400,
                       lane_height=40)
    assert plot.shape == (18 + 80 + 22, 400, 3) and plot.dtype == np.uint8
    assert (plot[:, 150 + round(242 * 0.5)] == 250).all(-1).sum() > 50  # the section line at 5 s of 10
    lane = plot[18:58, 150:]
    assert (np.abs(lane.astype(int) - (231, 76, 60)).sum(-1) < 30).sum() > 100  # the first curve drawn in its colour
    with pytest.raises(AnalysisError, match="no curves"):
        plot_curves({}, 10)
    assert preview_size(4320) == 64 and preview_size(259_200) == 16  # a 3-hour mix: 1 GB of previews, not 17
    long_mask, _ = curve_frames(np.zeros(300_000))
    assert long_mask.shape[1] * long_mask.shape[2] * long_mask.shape[0] <= 2**26
    assert plot_curves({"x": np.zeros(24 * 3600 * 8)}, 24, width=400, lane_height=20).shape[1] == 400  # 8 hours


def test_an_envelope_with_negative_attack_is_refused_before_any_curve_is_shaped():
    with pytest.raises(AnalysisError, match="attack is -0.1 s; a time cannot be negative"):
        Envelope(attack=-0.1)


def test_no_warning_when_a_stem_fits(drone):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert assign_roles(drone, motion=Audio(drone.waveform * 0.5, RATE)).notes == ()
