"""Keyframe windows cut where the music changes: on beats, bars or sections (or fixed windows, as before).

With a cut on beats (or bars: downbeats), the boundaries are every `every`-th beat of the analysis; on
sections, the analysis' section starts. The song is split at those boundaries into consecutive windows,
[0, b_1), [b_1, b_2), ..., [b_m, end): the first window also takes the sound before the first beat, the last
runs to the end of the song, so every moment of the song is heard by exactly one keyframe. Each window's
sound guides one keyframe, in the same batched optimisation as fixed windows (keyframes.py).

Placement (`hold_keyframes`): a fixed window's keyframe sits at its centre and the path glides between
centres. A music cut wants the image to change *on* the boundary: each window's latent is held from
tau after its start to tau before its end, tau = min(transition / 2, window length / 4), so the image rests
on one look through the section and turns into the next within +-tau of the boundary (the spline's hold
rule, motion.py, keeps it from overshooting). transition 0, and fixed windows (also the fallback below), keep
centre placement.

No beats (speech, a drone, silence: the analysis says why) or no downbeats with a cut on beats or bars is not
an error: the video falls back to fixed windows, with a note saying so and why; a song too short for one
boundary (a 2-s clip) is one window of the whole song. The fallback is announced, never silent.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..audio import Audio
from ..errors import SoundClipError
from .keyframes import Keyframes
from .windows import DEFAULT_HOP, DEFAULT_WINDOW, Windows, cut_windows

CUTS = ("fixed", "beats", "bars", "sections")
DEFAULT_TRANSITION = 0.5  # seconds around a boundary in which the image turns into the next window's


def check_cut(cut: str, every: int) -> None:
    """Refuse an unknown cut or a step under 1, before any analysis."""
    if cut not in CUTS:
        raise SoundClipError(f"unknown cut {cut!r}", fix=f"use one of {', '.join(CUTS)}")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise SoundClipError(f"every must be a whole number of at least 1, got {every!r}",
                             fix="use 1 for a keyframe per beat or bar, 2 for every other one, ...")


def check_transition(transition: float) -> None:
    if not (isinstance(transition, (int, float)) and math.isfinite(transition) and transition >= 0):
        raise SoundClipError(f"the transition must be 0 or more seconds, got {transition}",
                             fix="use e.g. 0.5 (0: glide from window centre to window centre)")


def boundaries(analysis, cut: str, every: int = 1) -> tuple[np.ndarray, str]:
    """(boundary times in s, sorted, or empty when the analysis has none, why not) for a music cut."""
    if cut == "beats":
        times, reason = analysis.beats.times, analysis.beats.reason or "no beats were heard"
    elif cut == "bars":
        times, reason = analysis.bars.downbeats, analysis.bars.reason or "no downbeats were heard"
    elif cut == "sections":
        return np.asarray(analysis.sections, np.float64), ""
    else:
        raise SoundClipError(f"no boundaries for the cut {cut!r}", fix=f"use one of {', '.join(CUTS[1:])}")
    return np.asarray(times, np.float64)[::every], reason


def music_windows(audio: Audio, analysis=None, cut: str = "fixed", every: int = 1, window: float = DEFAULT_WINDOW,
                  hop: float = DEFAULT_HOP) -> Windows:
    """The keyframe windows of `audio` for a cut (see the module doc); `analysis` (analysis.analyze(audio)) is
    needed for every cut but "fixed", which is `cut_windows(audio, window, hop)`."""
    check_cut(cut, every)
    if cut == "fixed":
        return cut_windows(audio, window, hop)
    if analysis is None:
        raise SoundClipError(f"a cut on {cut} needs the song's analysis", fix="pass analysis=analyze(audio)")
    times, reason = boundaries(analysis, cut, every)
    rate, total = audio.sample_rate, audio.waveform.shape[-1]
    if cut != "sections" and len(times) == 0:
        fixed = cut_windows(audio, window, hop)
        note = f"no {cut} to cut on ({reason}): using fixed {window:g} s windows every {hop:g} s"
        return Windows(fixed.starts, fixed.ends, rate, "; ".join(filter(None, [note, fixed.note])))
    inner = sorted({int(round(t * rate)) for t in times[1:] if 0 < round(t * rate) < total})
    edges = [0, *inner, total]
    note = "" if len(edges) > 2 else f"one {cut[:-1]} in the song: one window of the whole song"
    return Windows(edges[:-1], edges[1:], rate, note, cut)


def hold_keyframes(keyframes: Keyframes, windows: Windows, transition: float = DEFAULT_TRANSITION) -> Keyframes:
    """Keyframes made on `windows` (one per window, at its centre) -> each held across its window, turning into
    the next around the boundary (module doc). transition 0 or fixed windows: unchanged."""
    check_transition(transition)
    if transition == 0 or windows.cut == "fixed":
        return keyframes
    if len(windows) != keyframes.ws.shape[0]:
        raise SoundClipError(f"{keyframes.ws.shape[0]} keyframes for {len(windows)} windows",
                             fix="hold keyframes on the windows they were made from")
    starts, ends = (torch.tensor(s, dtype=torch.float64) for s in zip(*windows.spans, strict=True))
    tau = torch.minimum(torch.full_like(starts, transition / 2), (ends - starts) / 4)
    times = torch.stack([starts + tau, ends - tau], 1).reshape(-1)
    settings = {**keyframes.settings, "transition": transition}
    return Keyframes(keyframes.ws.repeat_interleave(2, 0), times, keyframes.duration, settings, keyframes.noise,
                     keyframes.source)
