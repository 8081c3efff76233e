"""Video frames from keyframes: timing, per-frame latents and batched, streamed decoding.

Timing (soundclip_core.timing, shared with the musical analysis): the frame rate is an exact fraction and a
sound of S samples at R Hz gives N = ceil(S * fps / R) frames. Frame i shows the latent at t_i = i / fps (its
presentation time).

Decoding is a generator of batches: at most `batch_size` frames exist at once, however long the song;
each batch is synthesised 4 frames per call, the Decode node's chunk (on 2 CPU threads a 1024 px call of 8
frames cost more per frame than two calls of 4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ..errors import Cancelled, SoundClipError
from ..memory import decode_bytes
from ..noise_maps import synthesize
from ..timing import MAX_FPS as MAX_FPS  # re-exported: the video's frame timing lives in timing.py
from ..timing import MIN_FPS as MIN_FPS
from ..timing import frame_count as frame_count
from ..timing import frame_rate
from .keyframes import Keyframes
from .motion import hermite, tangents
from .reactive import Reactive

DECODE_BATCH = 8
SYNTHESIS_CHUNK = 4  # frames per synthesis call, as the Decode node: at 1024 px larger calls cost more per frame
FALLBACK_MEMORY = 4 * 1024**3  # when the free memory cannot be read


def frame_times(first: int, count: int, fps: float) -> torch.Tensor:
    """Presentation times [count] in seconds of frames first..first+count-1 (float64)."""
    rate = frame_rate(fps)
    return torch.arange(first, first + count, dtype=torch.float64) * rate.denominator / rate.numerator


def frame_latents(keyframes: Keyframes, fps: float, n_frames: int, reactive: Reactive | None = None,
                  batch_size: int = DECODE_BATCH) -> Iterator[tuple[int, torch.Tensor]]:
    """(first frame index, ws [B, num_ws, w_dim]) batches along the spline, reactive controls applied."""
    ws, times = keyframes.ws.float(), keyframes.times.double()
    slopes = tangents(ws, times)
    for first in range(0, n_frames, batch_size):
        count = min(batch_size, n_frames - first)
        batch = hermite(ws, times, frame_times(first, count, fps), slopes)
        if reactive is not None and reactive.active:
            batch = reactive.apply(batch, first)
        yield first, batch


def decode_frames(generator, keyframes: Keyframes, fps: float, n_frames: int, reactive: Reactive | None = None, *,
                  batch_size: int = DECODE_BATCH, noise_mode: str = "const",
                  callback: Callable[[int, int], None] | None = None,
                  should_cancel: Callable[[], bool] | None = None) -> Iterator[torch.Tensor]:
    """Images [B, 3, H, W] in about [-1, 1] (on the generator's device), batch after batch, streamed.
    `callback(frames_done, n_frames)` after each batch; Cancel is checked before each batch."""
    if batch_size < 1:
        raise SoundClipError("batch size must be at least 1",
                             fix=f"use a batch size of 1 or more (default {DECODE_BATCH})")
    generator.check_ws(keyframes.ws, "the keyframes", fix="render with the generator the keyframes were made with")
    device = generator.w_avg.device
    for first, ws in frame_latents(keyframes, fps, n_frames, reactive, batch_size):
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"rendering cancelled at frame {first} of {n_frames}")
        with torch.no_grad():
            images = torch.cat([synthesize(generator, chunk, keyframes.noise, noise_mode)
                                for chunk in ws.to(device).split(SYNTHESIS_CHUNK)])
        yield images
        if callback is not None:
            callback(first + ws.shape[0], n_frames)


def frame_batch_bytes(generator, batch_size: int = DECODE_BATCH) -> int:
    """Device memory `decode_frames` needs for batches of `batch_size` besides the weights: a decode of
    SYNTHESIS_CHUNK frames at a time, and the batch's float32 images, which stay there until written."""
    pixels = 3 * generator.resolution**2 * 4
    return decode_bytes(generator, min(batch_size, SYNTHESIS_CHUNK)) + batch_size * pixels


def to_uint8_frames(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [-1, 1] -> uint8 [B, H, W, 3] on the CPU, rounded as the still-image path rounds."""
    pixels = ((images.detach().float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous().cpu()


def image_batch_bytes(n_frames: int, height: int, width: int) -> int:
    """Bytes of a ComfyUI IMAGE batch (float32 [N, H, W, 3])."""
    return n_frames * height * width * 3 * 4


def available_memory() -> int:
    """Bytes of RAM available now: psutil when installed, else /proc/meminfo's MemAvailable, else 4 GiB."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return FALLBACK_MEMORY


def check_image_batch_fits(n_frames: int, height: int, width: int, budget: int | None = None) -> int:
    """Refuse, before decoding, an IMAGE batch larger than `budget` bytes (default: half the available RAM)."""
    needed = image_batch_bytes(n_frames, height, width)
    budget = available_memory() // 2 if budget is None else int(budget)
    if needed > budget:
        raise SoundClipError(
            f"{n_frames} frames of {width}x{height} need {needed / 1024**3:.1f} GiB as an IMAGE batch, over the "
            f"{budget / 1024**3:.1f} GiB memory budget",
            fix="lower the fps or the resolution, use a shorter span, or use 'Write Sound Video (SoundCLIP)', "
                "which streams frames to an mp4 file without holding them")
    return needed
