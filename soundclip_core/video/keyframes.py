"""Keyframes: one W+ latent per window of a song, optimised toward that window's sound.

All windows go through one batched run of the single-image edit (`manipulate.optimize`): the same
loss, presets and per-layer mask, from one shared source latent, in chunks that bound memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..audio import Audio
from ..embedding import Embedding, combine
from ..errors import SoundClipError
from ..latents import read_latent, save_latent
from ..manipulate import Region, optimize
from .regions import LocatedRegion, window_regions
from .windows import DEFAULT_HOP, DEFAULT_WINDOW, Windows, cut_windows, encode_windows

DEFAULT_CHUNK = 8  # keyframes rendered and back-propagated at once


@dataclass(frozen=True)
class Keyframes:
    """ws: float32 [K, num_ws, w_dim] on the CPU; times: keyframe times in seconds [K] (window centres,
    increasing); duration: the sound's length in seconds; settings: how they were made; noise: the source
    latent's own noise maps (an inversion's), used for every frame, or None for the generator's const noise;
    source: the latent [1, num_ws, w_dim] they were edited from, for edits whose strength follows a curve
    (None for keyframes read from a file, which do not keep it)."""

    ws: torch.Tensor
    times: torch.Tensor
    duration: float
    settings: dict
    noise: list[torch.Tensor] | None = None
    source: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.ws.ndim != 3 or self.times.shape != (self.ws.shape[0],) or self.ws.shape[0] == 0:
            raise SoundClipError(f"keyframes must be [K, num_ws, w_dim] with K times, got {tuple(self.ws.shape)} "
                                 f"and {tuple(self.times.shape)}",
                                 fix="use keyframes written by `soundclip video --keyframes`, or make them again")
        if self.ws.shape[0] > 1 and not bool((self.times[1:] > self.times[:-1]).all()):
            raise SoundClipError("keyframe times must increase",
                                 fix="give one keyframe per time, in time order (as `soundclip video --keyframes` "
                                     "writes them)")

    def save(self, path: str | os.PathLike, generator_source: str = "") -> Path:
        meta = {"kind": "keyframes", "times": self.times.tolist(), "duration": self.duration,
                "generator": generator_source, "settings": self.settings}
        return save_latent(path, self.ws, meta, self.noise)


def load_keyframes(path: str | os.PathLike) -> Keyframes:
    latent = read_latent(path)
    ws, meta = latent.ws, latent.meta
    if meta.get("kind") != "keyframes" or len(meta.get("times", [])) != ws.shape[0]:
        raise SoundClipError("this latent file holds no keyframe times", path=path,
                             fix="use a file written by `soundclip video --keyframes`")
    return Keyframes(ws, torch.tensor(meta["times"], dtype=torch.float64), float(meta["duration"]),
                     meta.get("settings", {}), latent.noise)


def sound_keyframes(generator, clip, encoder, audio: Audio, w_source: torch.Tensor, *,
                    window: float = DEFAULT_WINDOW, hop: float = DEFAULT_HOP, text: Embedding | None = None,
                    sound_weight: float = 1.0, text_weight: float = 1.0, chunk_size: int = DEFAULT_CHUNK,
                    noise: list[torch.Tensor] | None = None, windows: Windows | None = None, callback=None,
                    should_cancel: Callable[[], bool] | None = None, region: Region | LocatedRegion | None = None,
                    **optimize_kwargs) -> tuple[Keyframes, object]:
    """Keyframes for `audio` from `w_source` [1, num_ws, w_dim] -> (Keyframes, optimize's Result).

    Each window's sound embedding is the target; with `text`, each target is the weighted sum
    sound_weight * sound + text_weight * text (renormalised), as the single edit mixes them.
    `noise`: the source latent's own noise maps (an inversion's), kept for every keyframe and frame.
    `windows`: the layout to use instead of fixed `window`/`hop` ones (music cuts: video/cuts.py); `text` may then
    hold one row per window (per-section texts) as well as one for all.
    `region`: a LocatedRegion confines each keyframe's edit to where its window's sound (or a fixed text) is in
    the source image (regions.py); a manipulate Region (fixed masks) goes to optimize() as it is.
    `optimize_kwargs` are optimize()'s (preset, steps, lr, mask, layers, seed, precision, ...)."""
    if w_source.ndim != 3 or w_source.shape[0] != 1:
        raise SoundClipError(f"the source must be one W+ latent [1, num_ws, w_dim], got {tuple(w_source.shape)}",
                             fix="give one seed or one latent")
    located, region = (region, None) if isinstance(region, LocatedRegion) else (None, region)
    located = located if located is not None and located.check() else None
    windows = cut_windows(audio, window, hop) if windows is None else windows
    sounds = encode_windows(encoder, audio, windows, should_cancel)
    if located is not None:
        region, _ = window_regions(located, generator, clip, w_source, sounds, noise)
    targets = sounds if text is None else combine([(sounds, sound_weight), (text, text_weight)])
    result = optimize(generator, clip, targets, w_source, chunk_size=chunk_size, callback=callback,
                      should_cancel=should_cancel, noise=noise, region=region, **optimize_kwargs)
    settings = {**result.settings, "window": window, "hop": hop, "text": text.source if text is not None else None,
                "sound_weight": sound_weight, "text_weight": text_weight,
                **({"located_region": located.label} if located is not None else {})}
    kept_noise = None if result.noise is None else [n.detach().float().cpu() for n in result.noise]
    keyframes = Keyframes(result.w.detach().float().cpu(), torch.tensor(windows.times, dtype=torch.float64),
                          audio.duration, settings, kept_noise, w_source.detach().float().cpu())
    return keyframes, result
