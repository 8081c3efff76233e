"""Controls driven by the signal itself, in the spirit of Lucid Sonic Dreams' pulse and motion.

Two curves are computed per video frame with a small STFT of our own (torch.stft, no librosa):

- loudness: the frame's RMS level in dB, mapped from (peak - 60 dB .. peak) to [0, 1];
- onsets: spectral flux, the mean increase of log-compressed magnitudes from one STFT frame to the
  next (how much new sound starts), the maximum over the video frame's span, divided by its track maximum
  (after smoothing, so 1 is the song's strongest attack).

Both are smoothed with a one-pole follower (time constant 80 ms, Lucid's 0.75 per frame at 43 fps) so the
image breathes with the music instead of flickering. What they do to the latent:

- pulse X: w -> w_avg + (1 + X * loudness) (w - w_avg). Loud moments push the image away from the
  generator's average image (stronger, more contrasted features, like lifting truncation); silence leaves
  the keyframes' path untouched. X = 0 turns it off.
- motion X: onsets advance a phase phi (1 radian per second of full-strength onsets); every frame adds
  X * (sin(phi) d1 + (1 - cos(phi)) d2) to all W+ layers, where d1, d2 are two fixed random directions of
  the generator's W space (each as long as a typical latent's distance from the average). The image
  travels along a closed loop that moves on the beat and rests in calm passages, bounded however long
  the song. X = 0 turns it off.

Music controls (video/drives.py builds them from the analysis; all optional, applied in this order):

- strength and blend: w -> w_src(t) + g(t) (w - source), where source is the latent the keyframes were edited
  from, g(t) a shaped curve (the edit's strength per frame) and w_src(t) = sum_i b_i(t) w_i a per-frame blend of
  several source latents (weights b_i(t) summing to 1). Without a blend w_src = source; without g, g = 1.
- then pulse and motion as above, on every layer;
- then layer drives: a pulse or a motion like the above, following its own curve (a frequency band's onsets)
  and changing only its W+ layers (the others are left bit-identical), several at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..audio import Audio

ANALYSIS_RATE = 22050
N_FFT, HOP = 1024, 256  # 46 ms windows every 11.6 ms
BLOCK = 4096  # STFT frames per block: memory stays flat on long songs
SMOOTHING_SECONDS = 0.08
LOUDNESS_RANGE_DB = 60.0
MOTION_SEED = 2


def _spectral_curves(audio: Audio) -> tuple[torch.Tensor, torch.Tensor]:
    """Mono STFT frames centred at j * HOP / ANALYSIS_RATE s -> (level in dB [J], spectral flux [J])."""
    y = audio.mono().resample(ANALYSIS_RATE).waveform[0].double()
    y = torch.nn.functional.pad(y, (N_FFT // 2, N_FFT // 2))
    frames = 1 + (y.shape[0] - N_FFT) // HOP
    window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64)
    levels, fluxes, previous = [], [], None
    for first in range(0, frames, BLOCK):
        count = min(BLOCK, frames - first)
        segment = y[first * HOP:(first + count - 1) * HOP + N_FFT]
        spec = torch.stft(segment, N_FFT, HOP, window=window, center=False, return_complex=True).abs()
        power = spec.square().sum(0) * 2 / (N_FFT * window.square().sum())  # mean square of the frame
        levels.append(10 * torch.log10(power.clamp_min(1e-12)))
        compressed = torch.log1p(100 * spec)
        before = compressed[:, :1] if previous is None else previous
        fluxes.append((compressed - torch.cat([before, compressed[:, :-1]], 1)).clamp_min(0).mean(0))
        previous = compressed[:, -1:]
    return torch.cat(levels), torch.cat(fluxes)


def _per_video_frame(curve: torch.Tensor, fps: float, n_frames: int, reduce: str) -> torch.Tensor:
    """Analysis frames -> one value per video frame i, over the span [i / fps, (i + 1) / fps)."""
    centres = torch.arange(curve.shape[0], dtype=torch.float64) * HOP / ANALYSIS_RATE
    owner = (centres * fps).floor().long()
    inside = owner < n_frames
    out = torch.full((n_frames,), float("nan"), dtype=torch.float64)
    out.scatter_reduce_(0, owner[inside], curve[inside], reduce=reduce, include_self=False)
    empty = torch.isnan(out)
    if bool(empty.any()):  # fps above the analysis rate: frames without an analysis frame interpolate
        at = torch.arange(n_frames, dtype=torch.float64)[empty] / fps * ANALYSIS_RATE / HOP
        lo = at.floor().long().clamp(0, curve.shape[0] - 1)
        hi = (lo + 1).clamp(max=curve.shape[0] - 1)
        out[empty] = curve[lo] + (at - lo).clamp(0, 1) * (curve[hi] - curve[lo])
    return out


def _smooth(curve: torch.Tensor, fps: float) -> torch.Tensor:
    keep = math.exp(-1.0 / (fps * SMOOTHING_SECONDS))
    out, state = torch.empty_like(curve), float(curve[0])
    for i, value in enumerate(curve.tolist()):
        state = keep * state + (1 - keep) * value
        out[i] = state
    return out


def loudness_and_onsets(audio: Audio, fps: float, n_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per video frame: (loudness, onset strength), each float32 [n_frames] in [0, 1], smoothed."""
    level, flux = _spectral_curves(audio)
    level = _per_video_frame(level, fps, n_frames, "mean")
    flux = _per_video_frame(flux, fps, n_frames, "amax")
    peak = float(level.max())
    loudness = ((level - (peak - LOUDNESS_RANGE_DB)) / LOUDNESS_RANGE_DB).clamp(0, 1)
    onsets = _smooth(flux, fps)
    return _smooth(loudness, fps).float(), (onsets / max(float(onsets.max()), 1e-12)).float()


@dataclass(frozen=True)
class LayerDrive:
    """A pulse or motion confined to `layers` (bool [num_ws]), following `curve` ([N] in [0, 1]) with
    `strength`; `directions` [2, w_dim]: a motion's loop (unused by a pulse)."""

    kind: str  # "pulse" | "motion"
    curve: torch.Tensor
    layers: torch.Tensor
    strength: float
    directions: torch.Tensor


def _loop(phase: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """The closed loop's offset [B, w_dim] at each phase [B]."""
    d1, d2 = directions
    return torch.sin(phase)[:, None] * d1 + (1 - torch.cos(phase))[:, None] * d2


def _phase(curve: torch.Tensor, fps: float) -> torch.Tensor:
    return torch.cumsum(curve.double(), 0) / fps


@dataclass
class Reactive:
    """Per-frame curves and strengths; `apply` moves a batch of frame latents."""

    loudness: torch.Tensor  # [N] in [0, 1]
    onsets: torch.Tensor  # [N] in [0, 1]
    pulse: float
    motion: float
    w_avg: torch.Tensor  # [w_dim]
    directions: torch.Tensor  # [2, w_dim]
    fps: float
    drives: tuple[LayerDrive, ...] = ()
    strength: torch.Tensor | None = None  # g [N]
    source: torch.Tensor | None = None  # [num_ws, w_dim]: the keyframes' source latent
    blend: torch.Tensor | None = None  # b [N, S], rows summing to 1
    sources: torch.Tensor | None = None  # [S, num_ws, w_dim]
    phases: list = field(init=False, repr=False)  # the motions' phases, once per song, not once per batch

    def __post_init__(self) -> None:
        self.phases = [_phase(curve, self.fps) for curve in (self.onsets, *(d.curve for d in self.drives))]

    @property
    def active(self) -> bool:
        return (self.pulse != 0 or self.motion != 0 or bool(self.drives) or self.strength is not None
                or self.blend is not None)

    def apply(self, ws: torch.Tensor, first: int) -> torch.Tensor:
        """ws [B, num_ws, w_dim] for frames first..first+B-1 -> moved ws (a new tensor)."""
        frames = slice(first, first + ws.shape[0])
        w_avg = self.w_avg.to(ws)
        if self.strength is not None or self.blend is not None:
            source = self.source.to(ws)
            edit = ws - source
            if self.strength is not None:
                edit = self.strength[frames].to(ws)[:, None, None] * edit
            base = source if self.blend is None else torch.einsum("bs,snd->bnd", self.blend[frames].to(ws),
                                                                  self.sources.to(ws))
            ws = base + edit
        if self.pulse:
            gain = 1 + self.pulse * self.loudness[frames].to(ws)
            ws = w_avg + gain[:, None, None] * (ws - w_avg)
        if self.motion:
            offset = _loop(self.phases[0][frames].to(ws), self.directions.to(ws))
            ws = ws + self.motion * offset[:, None, :]
        for drive, phase in zip(self.drives, self.phases[1:], strict=True):
            if drive.kind == "pulse":
                gain = 1 + drive.strength * drive.curve[frames].to(ws)
                moved = w_avg + gain[:, None, None] * (ws - w_avg)
            else:
                offset = _loop(phase[frames].to(ws), drive.directions.to(ws))
                moved = ws + drive.strength * offset[:, None, :]
            ws = torch.where(drive.layers.to(ws.device)[None, :, None], moved, ws)
        return ws


def loop_directions(generator, seed: int = MOTION_SEED) -> torch.Tensor:
    """Two fixed random directions of the generator's W space [2, w_dim], each as long as a typical latent's
    distance from the average: the axes of a motion's loop (another seed, another loop)."""
    z = torch.randn(2, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        w_avg = generator.w_avg.detach().float().cpu()
        return generator.mapping(z.to(generator.w_avg.device)).float().cpu() - w_avg


def build_reactive(generator, audio: Audio, fps: float, n_frames: int, pulse: float = 0.0,
                   motion: float = 0.0) -> Reactive:
    """The controls for one song; the curves are only computed when a strength is non-zero."""
    if pulse or motion:
        loudness, onsets = loudness_and_onsets(audio, fps, n_frames)
    else:
        loudness = onsets = torch.zeros(n_frames)
    w_avg = generator.w_avg.detach().float().cpu()
    return Reactive(loudness, onsets, float(pulse), float(motion), w_avg, loop_directions(generator), float(fps))
