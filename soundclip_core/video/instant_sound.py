"""What every frame of an instant-mode video hears: its own window of the sound, encoded, smoothed over time.

Frame i (shown at t_i = i / fps, `frames.frame_times`) hears the `window` seconds centred on t_i. Near the ends,
where a centred window would leave the sound, the window keeps its length and is moved inside the sound (as
`cut_windows` adds a last window ending at the end), so every frame hears as much sound as every other; a sound
shorter than one window is heard whole by every frame. All windows are encoded in batches through the encoder's
batched `encode` (`encoders.encode_audible`: a silent window, a break, takes the embedding of the nearest
window with sound, as for keyframes).

Smoothing: neighbouring windows share almost all their sound, yet an encoder's embedding can still jump from one
to the next; an image that followed every jump would flicker. The embeddings are filtered along time with a
Gaussian of standard deviation `smooth` seconds (smooth * fps frames), cut at 3 standard deviations, weights
summing to 1, edge frames repeated beyond the ends (zero-phase: no lag behind the music; the analysis Envelope's
smoothing is the same filter), then normalised back to unit length. 0 turns it off.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..audio import Audio
from ..embedding import Embedding
from ..encoders.audible import ENCODE_BATCH, encode_audible
from ..errors import SoundClipError
from .frames import frame_count, frame_times
from .windows import DEFAULT_WINDOW, Windows

DEFAULT_SMOOTH = 0.25  # seconds: a few frames at 24 fps, shorter than a beat at 120 bpm (0.5 s)


def frame_windows(audio: Audio, fps: float, n_frames: int, window: float = DEFAULT_WINDOW) -> Windows:
    """One window per frame, centred on the frame's time (moved inside the sound at the ends; see above)."""
    if not math.isfinite(window) or window <= 0:
        raise SoundClipError(f"the window ({window} s) must be a positive number of seconds", fix="e.g. --window 5")
    rate, total = audio.sample_rate, audio.waveform.shape[-1]
    size = int(round(window * rate))
    if size >= total:
        return Windows([0] * n_frames, [total] * n_frames, rate,
                       f"the sound is {audio.duration:.2f} s long, shorter than one {window:g} s window: every "
                       f"frame hears the whole sound")
    centres = (frame_times(0, n_frames, fps) * rate).round().long()
    starts = (centres - size // 2).clamp(0, total - size)
    return Windows(starts.tolist(), (starts + size).tolist(), rate)


def encode_frame_windows(encoder, audio: Audio, windows: Windows, batch_size: int = ENCODE_BATCH,
                         callback: Callable[[int, int], None] | None = None,
                         should_cancel: Callable[[], bool] | None = None) -> Embedding:
    """One embedding per window [N, D], `batch_size` windows per encoder call; `callback(done, N)` after each
    call and Cancel checked before each. The sound is made mono and resampled to the encoder's rate once, not
    once per window."""
    if batch_size < 1:
        raise SoundClipError("the encoding batch must be at least 1 window", fix=f"use e.g. {ENCODE_BATCH}")
    rate = getattr(encoder, "sample_rate", audio.sample_rate)
    heard = audio.mono().resample(rate)
    scale = rate / audio.sample_rate
    total = heard.waveform.shape[-1]
    ends = [min(round(e * scale), total) for e in windows.ends]
    spans = [(min(round(s * scale), e - 1), e) for s, e in zip(windows.starts, ends, strict=True)]
    unique = sorted(set(spans))  # frames of a short sound share one window: encode it once
    clips = [heard.window(start / rate, end / rate) for start, end in unique]
    report = None if callback is None else lambda done, audible: callback(round(done / audible * len(spans)),
                                                                           len(spans))
    vectors = encode_audible(encoder, clips, batch_size=batch_size, positions=[start for start, _ in unique],
                             source=audio.source, progress=report, should_cancel=should_cancel)
    row = {span: i for i, span in enumerate(unique)}
    return Embedding(vectors[[row[span] for span in spans]], encoder.space,
                     f"{encoder.kind}: {len(spans)} frame windows of {audio.source or 'a sound'}")


def gaussian_weights(sigma_frames: float) -> torch.Tensor:
    """The smoothing kernel: exp(-k^2 / (2 sigma^2)) for |k| <= ceil(3 sigma), summing to 1 (float64)."""
    radius = max(1, math.ceil(3 * sigma_frames))
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-k.square() / (2 * sigma_frames**2))
    return weights / weights.sum()


def check_smooth(seconds: float) -> float:
    """The smoothing time if it is a number of seconds >= 0; otherwise one error with the fix."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise SoundClipError(f"the smoothing time ({seconds} s) must be 0 or more seconds",
                             fix=f"use e.g. {DEFAULT_SMOOTH} (0 = no smoothing)")
    return float(seconds)


def smooth_embeddings(embedding: Embedding, fps: float, seconds: float = DEFAULT_SMOOTH) -> Embedding:
    """The embeddings [N, D] filtered along time (Gaussian of `seconds`, zero-phase, edges repeated) and normalised
    back to unit length; `seconds` = 0 returns them as they are."""
    check_smooth(seconds)
    if seconds == 0 or embedding.batch_size == 1:
        return embedding
    weights = gaussian_weights(seconds * fps)
    radius = (len(weights) - 1) // 2
    x = embedding.vectors.double().t()[:, None, :]  # [D, 1, N]
    padded = F.pad(x, (radius, radius), mode="replicate")
    smoothed = F.conv1d(padded, weights.view(1, 1, -1))[:, 0].t()  # [N, D]
    return Embedding(F.normalize(smoothed, dim=-1).float(), embedding.space,
                     f"{embedding.source}, smoothed over {seconds:g} s")


def hear_frames(encoder, audio: Audio, fps: float, window: float = DEFAULT_WINDOW, smooth: float = DEFAULT_SMOOTH,
                batch_size: int = ENCODE_BATCH, callback: Callable[[int, int], None] | None = None,
                should_cancel: Callable[[], bool] | None = None) -> Embedding:
    """What every frame of a video of `audio` at `fps` hears: one smoothed embedding per frame [N, D]. The window
    and smoothing time are checked before anything is encoded."""
    check_smooth(smooth)
    windows = frame_windows(audio, fps, frame_count(audio.waveform.shape[-1], audio.sample_rate, fps), window)
    heard = encode_frame_windows(encoder, audio, windows, batch_size, callback, should_cancel)
    return smooth_embeddings(heard, fps, smooth)
