"""Envelope shaping, each step against its formula (soundclip_core/analysis/envelope.py), and bad
parameters as one clear error. No librosa needed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from soundclip_core.analysis.envelope import Envelope, follow, gate, normalise_song, normalise_window, smooth
from soundclip_core.errors import AnalysisError

FPS = 24.0


def test_normalise_over_the_song():
    x = np.array([2.0, 4.0, 3.0, 6.0])
    assert normalise_song(x) == pytest.approx((x - 2) / 4)
    assert not normalise_song(np.full(5, 3.0)).any()  # flat: 0, not a division by zero


def test_normalise_over_a_window():
    """(x - min) / (max - min) of the frames within half a window either side (edges: the frames there)."""
    x = np.random.default_rng(0).random(50)
    frames = 7
    out = normalise_window(x, frames)
    for n in (0, 2, 25, 49):
        near = x[max(0, n - 3):n + 4]
        assert out[n] == pytest.approx((x[n] - near.min()) / (near.max() - near.min()))


def test_gate_threshold_and_ceiling():
    x = np.linspace(0, 1, 11)
    assert gate(x, 0.2, 0.8) == pytest.approx(np.clip((x - 0.2) / 0.6, 0, 1))
    assert gate(x, 0.0, 1.0) == pytest.approx(x)


def test_attack_is_a_one_pole_rise():
    """A step from 0 to 1: e_n = 1 - (1 - a)^n with a = 1 - exp(-1 / (attack fps))."""
    x = np.r_[0.0, np.ones(30)]
    attack = 0.1
    out = follow(x, FPS, attack, 0.0, 0.0)
    n = np.arange(31)
    assert out == pytest.approx(1 - np.exp(-n / (attack * FPS)))


def test_hold_then_release():
    """An impulse: the envelope stays round(hold fps) frames, then decays by exp(-1 / (release fps)) a frame."""
    x = np.zeros(40)
    x[0] = 1.0
    hold, release = 0.25, 0.5
    out = follow(x, FPS, 0.0, hold, release)
    held = round(hold * FPS)
    assert out[:held + 1] == pytest.approx(1.0)
    k = np.arange(1, 40 - held)
    assert out[held + 1:] == pytest.approx(np.exp(-k / (release * FPS)))


def test_zero_times_leave_the_curve_as_it_is():
    x = np.random.default_rng(1).random(30)
    assert follow(x, FPS, 0, 0, 0) == pytest.approx(x)
    assert smooth(x, FPS, 0) == pytest.approx(x)


def test_smoothing_is_a_normalised_gaussian():
    x = np.random.default_rng(2).random(100)
    seconds = 0.1
    sigma = seconds * FPS
    radius = math.ceil(3 * sigma)
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weights /= weights.sum()
    out = smooth(x, FPS, seconds)
    n = 50
    assert out[n] == pytest.approx(float(np.dot(weights, x[n - radius:n + radius + 1])))
    padded = np.r_[np.full(radius, x[0]), x[:radius + 1]]  # the edge value repeated
    assert out[0] == pytest.approx(float(np.dot(weights, padded)))


def test_the_whole_chain_in_order():
    """normalise -> gate -> follow -> smooth -> gamma -> invert."""
    x = np.random.default_rng(3).random(80) * 5 + 1
    envelope = Envelope(threshold=0.1, ceiling=0.9, attack=0.02, hold=0.05, release=0.2, smoothing=0.05,
                        gamma=2.0, invert=True)
    expected = 1 - np.maximum(smooth(follow(gate(normalise_song(x), 0.1, 0.9), FPS, 0.02, 0.05, 0.2), FPS, 0.05),
                              0) ** 2
    out = envelope.apply(x, FPS)
    assert out.dtype == np.float32 and out == pytest.approx(expected, abs=1e-6)
    assert Envelope(normalise="none").apply(np.full(4, 0.5), FPS) == pytest.approx(0.5)
    assert Envelope(normalise="window", window=1.0).apply(x, FPS) == pytest.approx(normalise_window(x, 24))


@pytest.mark.parametrize("kwargs, words", [
    ({"attack": -0.1}, "attack is -0.1 s"),
    ({"hold": -1}, "hold"),
    ({"release": float("nan")}, "finite"),
    ({"smoothing": -0.5}, "smoothing"),
    ({"threshold": 0.8, "ceiling": 0.5}, "threshold < ceiling"),
    ({"ceiling": 1.5}, "ceiling"),
    ({"gamma": 0}, "gamma"),
    ({"normalise": "loud"}, "normalise"),
    ({"normalise": "window", "window": 0}, "window"),
    ({"attack": "fast"}, "attack"),
])
def test_bad_parameters_are_one_clear_error(kwargs, words):
    with pytest.raises(AnalysisError, match="Fix:") as error:
        Envelope(**kwargs)
    assert words in str(error.value)


def test_bad_curves_and_frame_rates_are_refused():
    with pytest.raises(AnalysisError, match="NaN"):
        Envelope().apply([0.0, float("nan")], FPS)
    with pytest.raises(AnalysisError, match="fps"):
        Envelope().apply([0.0, 1.0], 0)
