"""The sound as the analysis hears it: mono at 22050 Hz, in chunks, cut into STFT frames.

Nothing here holds the whole song twice: the mix to mono and the resampling (soxr's streaming resampler,
seamless across chunks) run one chunk at a time, and the frames of each chunk are handed on and dropped.
Peak memory is a few chunks' worth (CHUNK_SECONDS of samples and their frames), whatever the length.

Frame j holds the N_FFT samples centred at j * HOP / RATE s, zeros beyond either end (librosa's
`center=True` with constant padding); a sound of T samples has 1 + T // HOP frames.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..audio import Audio
from ..optional import require

RATE = 22050  # Hz: librosa's default, enough for every musical feature (content up to 11 kHz)
N_FFT = 2048  # 93 ms windows: 10.8 Hz between bins, so a 20-150 Hz band holds 12 of them
HOP = 256  # 11.6 ms between frames (86.1 frames per second)
CHUNK_SECONDS = 20.0


def mono_chunks(audio: Audio, rate: int = RATE, chunk_seconds: float = CHUNK_SECONDS) -> Iterator[np.ndarray]:
    """Consecutive float32 chunks of the mono mix at `rate`, together exactly the resampled sound."""
    step = max(1, int(chunk_seconds * audio.sample_rate))
    total = audio.waveform.shape[-1]
    stream = None
    if audio.sample_rate != rate:
        soxr = require("soxr", "resampling audio")
        stream = soxr.ResampleStream(audio.sample_rate, rate, 1, dtype="float32", quality="HQ")
    for first in range(0, total, step):
        channels = audio.waveform[:, first:first + step].numpy()
        chunk = (channels.sum(0) / np.float32(len(channels))).astype(np.float32, copy=False)  # numpy: torch's
        # mean over the 2 channels of a slice was 30x slower (0.6 s of a 3-minute song's 4.5 s analysis)
        if stream is not None:
            chunk = stream.resample_chunk(chunk, last=first + step >= total)
        if chunk.size:
            yield chunk


class Framer:
    """Cuts a stream of sample chunks into frames: `push(chunk)` and `finish()` return [n, n_fft] blocks of
    the frames complete so far (views: use them before the next call)."""

    def __init__(self, n_fft: int = N_FFT, hop: int = HOP):
        self.n_fft, self.hop = n_fft, hop
        self.buffer = np.zeros(n_fft // 2, np.float32)  # the padding before the first sample
        self.samples = self.frames = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        self.samples += len(chunk)
        self.buffer = np.concatenate([self.buffer, chunk.astype(np.float32, copy=False)])
        return self._take(max(0, (len(self.buffer) - self.n_fft) // self.hop + 1))

    def finish(self) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, np.zeros(self.n_fft // 2 + self.hop, np.float32)])
        return self._take(max(0, 1 + self.samples // self.hop - self.frames))

    def _take(self, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros((0, self.n_fft), np.float32)
        block = np.lib.stride_tricks.sliding_window_view(self.buffer, self.n_fft)[::self.hop][:count]
        self.frames += count
        rest = self.buffer[count * self.hop:]
        self.buffer = rest.copy()  # `block` keeps the old buffer alive until the caller is done with it
        return block
