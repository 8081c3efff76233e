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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..audio import Audio
from ..directions import ChannelTable
from ..embedding import Embedding, check_same_space
from ..errors import EmbeddingSpaceError, SoundClipError
from ..image import to_comfy_image
from ..manipulate import parse_layers
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
from .instant_sound import DEFAULT_SMOOTH, ENCODE_BATCH, frame_windows, hear_frames
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


def _check(generator, audio: Audio, table: ChannelTable, neutral: Embedding, space: str,
           settings: InstantSettings) -> tuple[int, torch.Tensor]:
    """The checks that need no long work -> (frame count, alpha per frame). `space`: the sound embeddings'."""
    frame_rate(settings.fps)
    n_frames = frame_count(audio.waveform.shape[-1], audio.sample_rate, settings.fps)
    alphas = alpha_per_frame(settings.alpha, n_frames)
    check_same_space([neutral], expected=table.space)
    if space != table.space:
        raise EmbeddingSpaceError(f"the sound was heard in CLIP space '{space}', the StyleSpace table was made in "
                                  f"'{table.space}'", fix="use the table computed with the CLIP model of the audio "
                                                          "encoder's space")
    check_table_fits(generator, table)
    if settings.layers is not None:
        parse_layers(settings.layers, generator.num_ws)
    return n_frames, alphas


def _frames(generator, heard: Embedding, audio: Audio, source: torch.Tensor, table: ChannelTable,
            neutral: Embedding, settings: InstantSettings, checked: tuple[int, torch.Tensor], noise,
            progress: Progress | None, done: int, should_cancel) -> Iterator[tuple[int, torch.Tensor]]:
    """(first frame, images) batches; `heard`: one embedding per frame (`hear_frames`); `checked`: `_check`'s."""
    n_frames, alphas = checked
    if heard.batch_size != n_frames:
        raise SoundClipError(f"the sound was heard as {heard.batch_size} frames, the video of {audio.duration:.2f} s "
                             f"at {settings.fps:g} fps has {n_frames}", fix="hear the same sound at the same fps")
    directions = frame_directions(table, heard, neutral, settings.beta, settings.fps)
    reactive = build_reactive(generator, audio, settings.fps, n_frames, settings.pulse, settings.motion)
    first = 0
    for images in instant_frames(generator, source, table, directions, alphas, settings.beta, reactive=reactive,
                                 layers=settings.layers, noise=noise, noise_mode=settings.noise_mode,
                                 batch_size=settings.batch_size, should_cancel=should_cancel):
        yield first, images
        first += images.shape[0]
        if progress is not None:
            progress(done + first, done + n_frames, images[:1])  # the batch's first frame as the preview


def render_instant_video(path: str | os.PathLike, generator, heard: Embedding, audio: Audio, source: torch.Tensor,
                         table: ChannelTable, neutral: Embedding, settings: InstantSettings = InstantSettings(), *,
                         noise: list[torch.Tensor] | None = None, crf: int = DEFAULT_CRF,
                         progress: Progress | None = None, done: int = 0,
                         should_cancel: Callable[[], bool] | None = None) -> Path:
    """Frames edited by what each heard (`hear_frames`) streamed into an mp4 at `path` with the sound; `done`
    offsets the progress count (the windows already encoded)."""
    checked = _check(generator, audio, table, neutral, heard.space, settings)
    check_output(path, checked[0], generator.resolution, generator.resolution, frame_rate(settings.fps))
    batches = (to_uint8_frames(images) for _, images in
               _frames(generator, heard, audio, source, table, neutral, settings, checked, noise, progress, done,
                       should_cancel))
    return write_mp4(path, batches, frame_rate(settings.fps), audio, crf=crf)


def render_instant_images(generator, heard: Embedding, audio: Audio, source: torch.Tensor, table: ChannelTable,
                          neutral: Embedding, settings: InstantSettings = InstantSettings(), *,
                          noise: list[torch.Tensor] | None = None, memory_budget: int | None = None,
                          progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None
                          ) -> tuple[torch.Tensor, Audio]:
    """All frames as one ComfyUI IMAGE [N, H, W, 3] and the sound matched to the video's length. The batch is
    refused before decoding when it would not fit in `memory_budget` bytes (default: half the free RAM)."""
    checked = _check(generator, audio, table, neutral, heard.space, settings)
    n_frames, size = checked[0], generator.resolution
    check_image_batch_fits(n_frames, size, size, memory_budget)
    out = torch.empty(n_frames, size, size, 3)  # filled in place: no second copy of the video
    for first, images in _frames(generator, heard, audio, source, table, neutral, settings, checked, noise, progress,
                                 0, should_cancel):
        out[first:first + images.shape[0]] = to_comfy_image(images)
    return out, matched_audio(audio, n_frames, settings.fps)


def _hear(encoder, audio: Audio, settings: InstantSettings, n_frames: int, progress: Progress | None,
          should_cancel) -> Embedding:
    def encoded(done: int, _count: int) -> None:
        if progress is not None:
            progress(done, 2 * n_frames, None)

    return hear_frames(encoder, audio, settings.fps, settings.window, settings.smooth, settings.encode_batch, encoded,
                       should_cancel)


def make_instant_video(path: str | os.PathLike, generator, encoder, audio: Audio, source: torch.Tensor,
                       table: ChannelTable, neutral: Embedding, settings: InstantSettings = InstantSettings(), *,
                       noise: list[torch.Tensor] | None = None, crf: int = DEFAULT_CRF,
                       progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None) -> Path:
    """Song -> what every frame hears -> edited frames -> an H.264/AAC mp4 at `path` with the song; returns the
    path once complete (nothing is left under `path` if it fails or is cancelled)."""
    n_frames, _ = _check(generator, audio, table, neutral, encoder.space, settings)
    check_output(path, n_frames, generator.resolution, generator.resolution, frame_rate(settings.fps))
    frame_windows(audio, settings.fps, n_frames, settings.window)
    heard = _hear(encoder, audio, settings, n_frames, progress, should_cancel)
    return render_instant_video(path, generator, heard, audio, source, table, neutral, settings, noise=noise, crf=crf,
                                progress=progress, done=n_frames, should_cancel=should_cancel)


def instant_images(generator, encoder, audio: Audio, source: torch.Tensor, table: ChannelTable, neutral: Embedding,
                   settings: InstantSettings = InstantSettings(), *, noise: list[torch.Tensor] | None = None,
                   memory_budget: int | None = None, progress: Progress | None = None,
                   should_cancel: Callable[[], bool] | None = None) -> tuple[torch.Tensor, Audio]:
    """`make_instant_video`'s frames as one ComfyUI IMAGE [N, H, W, 3] and the sound matched to the video's
    length (progress over the windows encoded, then the frames)."""
    n_frames, _ = _check(generator, audio, table, neutral, encoder.space, settings)
    check_image_batch_fits(n_frames, generator.resolution, generator.resolution, memory_budget)
    frame_windows(audio, settings.fps, n_frames, settings.window)
    heard = _hear(encoder, audio, settings, n_frames, progress, should_cancel)

    def shifted(done: int, total: int, preview) -> None:
        if progress is not None:
            progress(n_frames + done, n_frames + total, preview)

    return render_instant_images(generator, heard, audio, source, table, neutral, settings, noise=noise,
                                 memory_budget=memory_budget, progress=shifted, should_cancel=should_cancel)
