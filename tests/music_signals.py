"""Synthetic music for the analysis tests: click tracks, kicks, hi-hats, chords and noise, made here
(no file, no network), every event at a known time."""

from __future__ import annotations

import numpy as np
import torch

from soundclip_core.audio import Audio


def click(rate: int, seed: int = 0) -> np.ndarray:
    """A 20 ms click: a noise burst decaying with a 3 ms time constant (broadband, like a stick)."""
    t = np.arange(int(0.02 * rate)) / rate
    return np.random.default_rng(seed).standard_normal(len(t)) * np.exp(-t / 0.003)


def place(y: np.ndarray, sound: np.ndarray, times, rate: int, gains=None) -> np.ndarray:
    for i, at in enumerate(times):
        first = round(at * rate)
        part = sound[:max(0, len(y) - first)] * (1.0 if gains is None else gains[i])
        y[first:first + len(part)] += part
    return y


def click_track(bpm: float, seconds: float, rate: int = 22050, start: float = 0.3, accent_every: int = 0,
                accent_phase: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(samples, click times): a click every beat from `start`; with accent_every, beats accent_phase,
    accent_phase + accent_every, ... are played at full level and the others at 0.35."""
    times = np.arange(start, seconds - 0.05, 60.0 / bpm)
    gains = None
    if accent_every:
        gains = np.where(np.arange(len(times)) % accent_every == accent_phase, 1.0, 0.35)
    return 0.5 * place(np.zeros(int(seconds * rate)), click(rate), times, rate, gains), times


def kick(rate: int) -> np.ndarray:
    """A 60 Hz kick drum: a sine decaying over 80 ms, no energy above about 150 Hz."""
    t = np.arange(int(0.25 * rate)) / rate
    fades = np.minimum(np.minimum(t / 0.002, 1), (t[-1] - t) / 0.05)  # no click at either end
    return np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.08) * np.minimum(fades, 1)


def hihat(rate: int) -> np.ndarray:
    """A hi-hat: white noise differenced twice (energy rising with frequency), decaying over 15 ms."""
    t = np.arange(int(0.06 * rate)) / rate
    noise = np.diff(np.random.default_rng(1).standard_normal(len(t) + 2), 2)
    return 0.5 * noise * np.exp(-t / 0.015)


def chord(seconds: float, rate: int, freqs=(261.63, 329.63, 392.0)) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)


def as_audio(y: np.ndarray, rate: int) -> Audio:
    return Audio(torch.from_numpy(np.asarray(y, np.float32)[None].copy()), rate, "synthetic")
