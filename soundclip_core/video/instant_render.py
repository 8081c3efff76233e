"""The whole instant-mode job: a song -> per-frame windows -> smoothed embeddings -> directions -> frames, written
to an mp4 with the song (streamed, x264 on its own thread) or returned as an IMAGE batch.

Progress is one count over the job, as the keyframe mode reports it: the windows encoded first (one count per
frame), then the frames decoded (`progress(done, total, preview)`, the preview being each frame batch's first
frame). Cancel is honoured within one encoding batch or one frame batch. Every problem that can be known before
the long work (fps, window, smoothing, alpha and its curve, spaces, the table against the generator, the output
file, the memory of an IMAGE batch) is refused first; a beta too high for some frame right after encoding,
before any frame is decoded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..audio import Audio
from ..directions import ChannelTable
from ..embedding import Embedding, check_same_space
from ..errors import EmbeddingSpaceError
from ..image import to_comfy_image
from .frames import DECODE_BATCH, check_image_batch_fits, frame_count, frame_rate, to_uint8_frames
from .instant import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    Alpha,
    alpha_per_frame,
    check_table_fits,
    frame_directions,
    instant_frames,
)
from .instant_sound import (
    DEFAULT_SMOOTH,
    ENCODE_BATCH,
    check_smooth,
    encode_frame_windows,
    frame_windows,
    smooth_embeddings,
)
from .reactive import build_reactive
from .render import matched_audio
from .windows import DEFAULT_WINDOW
from .writer import DEFAULT_CRF, check_output, write_mp4

Progress = Callable[[int, int, "torch.Tensor | None"], None]


@dataclass(frozen=True)
class InstantSettings:
    """How a song becomes an instant-mode video (the sliders of the node and the CLI's flags).

    window: seconds of sound each frame hears; smooth: the embeddings' Gaussian time constant in seconds;
    alpha: edit strength, a number or one value per frame; beta: relevance threshold; layers: W+ layer range the
    edit may touch (None: all the table covers); pulse, motion: as in the keyframe mode; batch_size: frames
    decoded at once; encode_batch: windows encoded at once."""

    fps: float = 24.0
    window: float = DEFAULT_WINDOW
    smooth: float = DEFAULT_SMOOTH
    alpha: Alpha = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    layers: str | None = None
    pulse: float = 0.0
    motion: float = 0.0
    batch_size: int = DECODE_BATCH
    encode_batch: int = ENCODE_BATCH
    noise_mode: str = "const"


def _plan(generator, encoder, audio: Audio, table: ChannelTable, neutral: Embedding, settings: InstantSettings):
    """The checks that need no long work: (frame count, alpha per frame, the windows)."""
    frame_rate(settings.fps)
    n_frames = frame_count(audio.waveform.shape[-1], audio.sample_rate, settings.fps)
    alphas = alpha_per_frame(settings.alpha, n_frames)
    check_same_space([neutral], expected=table.space)
    if encoder.space != table.space:
        raise EmbeddingSpaceError(f"the audio encoder ({encoder.kind}) hears in CLIP space '{encoder.space}', the "
                                  f"StyleSpace table was made in '{table.space}'",
                                  fix="use the table computed with the CLIP model of the encoder's space")
    check_table_fits(generator, table)
    check_smooth(settings.smooth)
    windows = frame_windows(audio, settings.fps, n_frames, settings.window)
    return n_frames, alphas, windows


def _frames(generator, encoder, audio: Audio, source: torch.Tensor, table: ChannelTable, neutral: Embedding,
            settings: InstantSettings, plan, noise, progress: Progress | None, should_cancel):
    """(first frame, images) batches of the whole job, progress reported over encoding + decoding."""
    n_frames, alphas, windows = plan
    total = 2 * n_frames

    def encoded(done: int, _count: int) -> None:
        if progress is not None:
            progress(done, total, None)

    heard = encode_frame_windows(encoder, audio, windows, settings.encode_batch, encoded, should_cancel)
    directions = frame_directions(table, smooth_embeddings(heard, settings.fps, settings.smooth), neutral,
                                  settings.beta, settings.fps)
    reactive = build_reactive(generator, audio, settings.fps, n_frames, settings.pulse, settings.motion)
    first = 0
    for images in instant_frames(generator, source, table, directions, alphas, settings.beta, reactive=reactive,
                                 layers=settings.layers, noise=noise, noise_mode=settings.noise_mode,
                                 batch_size=settings.batch_size, should_cancel=should_cancel):
        yield first, images
        first += images.shape[0]
        if progress is not None:
            progress(n_frames + first, total, images[:1])


def make_instant_video(path: str | os.PathLike, generator, encoder, audio: Audio, source: torch.Tensor,
                       table: ChannelTable, neutral: Embedding, settings: InstantSettings = InstantSettings(), *,
                       noise: list[torch.Tensor] | None = None, crf: int = DEFAULT_CRF,
                       progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None) -> Path:
    """Song -> instant-mode frames -> an H.264/AAC mp4 at `path` with the song; returns the path once complete
    (nothing is left under `path` if it fails or is cancelled)."""
    plan = _plan(generator, encoder, audio, table, neutral, settings)
    size = generator.resolution
    check_output(path, plan[0], size, size, frame_rate(settings.fps))
    batches = (to_uint8_frames(images) for _, images in
               _frames(generator, encoder, audio, source, table, neutral, settings, plan, noise, progress,
                       should_cancel))
    return write_mp4(path, batches, frame_rate(settings.fps), audio, crf=crf)


def instant_images(generator, encoder, audio: Audio, source: torch.Tensor, table: ChannelTable, neutral: Embedding,
                   settings: InstantSettings = InstantSettings(), *, noise: list[torch.Tensor] | None = None,
                   memory_budget: int | None = None, progress: Progress | None = None,
                   should_cancel: Callable[[], bool] | None = None) -> tuple[torch.Tensor, Audio]:
    """All instant-mode frames as one ComfyUI IMAGE [N, H, W, 3] and the sound matched to the video's length.
    The batch is refused before any work when it would not fit in `memory_budget` bytes (default: half the
    free RAM)."""
    plan = _plan(generator, encoder, audio, table, neutral, settings)
    n_frames, size = plan[0], generator.resolution
    check_image_batch_fits(n_frames, size, size, memory_budget)
    out = torch.empty(n_frames, size, size, 3)  # filled in place: no second copy of the video
    for first, images in _frames(generator, encoder, audio, source, table, neutral, settings, plan, noise, progress,
                                 should_cancel):
        out[first:first + images.shape[0]] = to_comfy_image(images)
    return out, matched_audio(audio, n_frames, settings.fps)
