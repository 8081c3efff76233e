"""H.264 mp4 with AAC sound, written with PyAV while frames stream in.

Every frame batch is encoded as it arrives and the sound is interleaved up to the same time, so
neither frames nor compressed packets pile up in memory. Encoding runs on a thread of its own, at most
two batches behind: while x264 compresses one batch, the next one renders. The file is written under a temporary name
in the output folder and renamed only when complete: a failed or cancelled run never leaves a
half-written mp4 under the output name. Problems that can be known in advance (an unwritable folder,
too little disk for the estimated size) are refused before any work starts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path, check_writable
from ..audio import Audio
from ..errors import SoundClipError
from ..optional import require
from .background import BackgroundConsumer

AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
AUDIO_BITRATE = 192_000
BITS_PER_PIXEL = 0.3  # a generous H.264 estimate at crf 18 for detailed GAN imagery (disk check only)
DEFAULT_CRF = 18


def even_size(height: int, width: int) -> tuple[int, int]:
    """yuv420p needs even sides: odd ones are padded by one row/column (edge pixels repeated)."""
    return height + height % 2, width + width % 2


def estimate_bytes(n_frames: int, height: int, width: int, fps: Fraction, with_audio: bool = True) -> int:
    seconds = n_frames / fps
    video_bits = BITS_PER_PIXEL * height * width * n_frames
    return int((video_bits + (AUDIO_BITRATE * seconds if with_audio else 0)) / 8)


def check_output(path: str | os.PathLike, n_frames: int, height: int, width: int, fps: Fraction,
                 with_audio: bool = True) -> Path:
    """Refuse a path that cannot become the mp4, before any long work: wrong suffix, a folder, an
    unwritable folder, or too little free disk for the estimated size."""
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise SoundClipError("the video must be an .mp4 file", path=path, fix="name the output e.g. song.mp4")
    check_writable(path)
    needed = estimate_bytes(n_frames, height, width, fps, with_audio)
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise SoundClipError(f"the video needs about {needed / 1024**3:.2f} GiB, only {free / 1024**3:.2f} GiB is "
                             "free on this disk", path=path.parent,
                             fix="free some space, write elsewhere, or lower the resolution or fps")
    return path


def _audio_for_stream(audio: Audio) -> Audio:
    """Mono or stereo float at a rate AAC takes (more channels are mixed down to mono)."""
    if audio.waveform.shape[0] > 2:
        audio = audio.mono()
    return audio if audio.sample_rate in AAC_RATES else audio.resample(48000)


class _AudioFeed:
    """Sends the sound to the AAC encoder in pieces, up to the time the video has reached; past the
    sound's end it sends silence, so the sound lasts exactly as long as the video."""

    def __init__(self, container, audio: Audio):
        self.audio = _audio_for_stream(audio)
        self.rate = self.audio.sample_rate
        self.layout = "mono" if self.audio.waveform.shape[0] == 1 else "stereo"
        self.stream = container.add_stream("aac", rate=self.rate, layout=self.layout)
        self.stream.bit_rate = AUDIO_BITRATE
        self.container = container
        self.sent = 0

    def send_until(self, seconds: Fraction) -> None:
        end = round(seconds * self.rate)
        if end <= self.sent:
            return
        samples = self.audio.waveform[:, self.sent:end].float()
        if samples.shape[1] < end - self.sent:
            samples = torch.nn.functional.pad(samples, (0, end - self.sent - samples.shape[1]))
        av = require("av", "writing video")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.numpy()), format="fltp", layout=self.layout)
        frame.sample_rate, frame.pts, frame.time_base = self.rate, self.sent, Fraction(1, self.rate)
        self.container.mux(self.stream.encode(frame))
        self.sent = end

    def close(self, seconds: Fraction) -> None:
        self.send_until(seconds)
        self.container.mux(self.stream.encode(None))


class _VideoEncoder:
    """The H.264 stream (made when the first batch shows the frame size) and the sound interleaved with it."""

    def __init__(self, av, container, rate: Fraction, audio: Audio | None, crf: int, preset: str):
        self.av, self.container, self.rate, self.audio = av, container, rate, audio
        self.options = {"crf": str(crf), "preset": preset}
        self.stream = self.feed = None
        self.frames = 0

    def encode(self, batch: torch.Tensor | np.ndarray) -> None:
        """uint8 [B, H, W, 3] frames into the stream, then the sound up to the same time."""
        array = batch.numpy() if isinstance(batch, torch.Tensor) else np.asarray(batch)
        if self.stream is None:
            self.height, self.width = even_size(*array.shape[1:3])
            self.stream = self.container.add_stream("libx264", rate=self.rate)
            self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, "yuv420p"
            self.stream.options = self.options
            if self.audio is not None:
                self.feed = _AudioFeed(self.container, self.audio)
        if array.shape[1:3] != (self.height, self.width):
            pad = ((0, 0), (0, self.height - array.shape[1]), (0, self.width - array.shape[2]), (0, 0))
            array = np.pad(array, pad, mode="edge")
        for image in array:
            frame = self.av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = self.frames, 1 / self.rate
            self.container.mux(self.stream.encode(frame))
            self.frames += 1
        if self.feed is not None:
            self.feed.send_until(self.frames / self.rate)

    def finish(self, path: Path) -> None:
        if self.stream is None:
            raise SoundClipError("no frames to write", path=path, fix="give the video at least one frame")
        self.container.mux(self.stream.encode(None))
        if self.feed is not None:
            self.feed.close(self.frames / self.rate)


def write_mp4(path: str | os.PathLike, frame_batches: Iterable[torch.Tensor], fps: float | Fraction,
              audio: Audio | None = None, crf: int = DEFAULT_CRF, preset: str = "medium") -> Path:
    """Encode uint8 [B, H, W, 3] frame batches to an H.264 (libx264, yuv420p) mp4 at `fps`, with `audio` (AAC)
    cut or padded with silence to the video's length. Returns the path once it is complete."""
    av = require("av", "writing video")
    rate = fps if isinstance(fps, Fraction) else Fraction(round(fps * 1000), 1000)
    path = Path(path)
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        encoder = _VideoEncoder(av, container, rate, audio, crf, preset)
        with BackgroundConsumer(encoder.encode, depth=2, name="soundclip-x264") as consumer:
            for batch in frame_batches:
                consumer.put(batch)
        encoder.finish(path)
    return path
