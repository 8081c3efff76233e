"""Percussive/harmonic separation: librosa's algorithm, in windows, separating clicks from a chord."""

from __future__ import annotations

import numpy as np
import pytest
from music_signals import as_audio, chord, click, place

from soundclip_core.analysis import hpss
from soundclip_core.errors import AnalysisError

RATE = 22050


def clicks_and_chord(seconds: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    clicks = place(np.zeros(int(seconds * RATE)), click(RATE), np.arange(0.25, seconds, 0.5), RATE)
    return clicks, 0.4 * chord(seconds, RATE)


def energy(x: np.ndarray) -> float:
    return float(np.dot(x, x))


def test_hpss_separates_clicks_from_a_sustained_chord():
    clicks, sustained = clicks_and_chord()
    harmonic, percussive = hpss(as_audio(clicks + sustained, RATE))
    h, p = harmonic.waveform[0].numpy().astype(np.float64), percussive.waveform[0].numpy().astype(np.float64)
    assert harmonic.sample_rate == percussive.sample_rate == RATE and len(h) == len(clicks)
    # each part is mostly its own source: under 2 % of its energy is the other source or error
    assert energy(p - clicks) < 0.02 * energy(clicks)
    assert energy(h - sustained) < 0.02 * energy(sustained)
    # and the cross-talk: the chord's share of the percussive part, the clicks' of the harmonic one
    assert abs(np.dot(p, sustained)) < 0.01 * energy(sustained)
    assert abs(np.dot(h, clicks)) < 0.02 * energy(clicks)
    assert np.allclose(h + p, clicks + sustained, atol=1e-4)  # margin 1: the parts add up to the sound


def test_hpss_is_librosas_and_windows_change_nothing():
    librosa = pytest.importorskip("librosa")
    clicks, sustained = clicks_and_chord(6.0)
    y = (clicks + sustained).astype(np.float32)
    harmonic, percussive = hpss(as_audio(y, RATE))
    h_ref, p_ref = librosa.effects.hpss(y)
    assert np.abs(harmonic.waveform[0].numpy() - h_ref).max() < 1e-5
    assert np.abs(percussive.waveform[0].numpy() - p_ref).max() < 1e-5
    small_h, small_p = hpss(as_audio(y, RATE), window_seconds=1.0)  # six windows, each with context
    assert (small_h.waveform - harmonic.waveform).abs().max() < 1e-6
    assert (small_p.waveform - percussive.waveform).abs().max() < 1e-6


def test_hpss_keeps_channels_and_refuses_bad_parameters():
    clicks, sustained = clicks_and_chord(2.0)
    stereo = np.stack([clicks, sustained]).astype(np.float32)
    import torch

    from soundclip_core.audio import Audio

    harmonic, percussive = hpss(Audio(torch.from_numpy(stereo), RATE))
    assert harmonic.waveform.shape == percussive.waveform.shape == (2, len(clicks))
    for kwargs in ({"margin": 0.5}, {"window_seconds": 0}):
        with pytest.raises(AnalysisError, match="Fix:"):
            hpss(as_audio(clicks, RATE), **kwargs)
