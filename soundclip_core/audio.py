"""Sound in: read files (soundfile), trim, mix to mono, resample (soxr), ComfyUI AUDIO.

Every problem a user can cause (missing, empty, silent, corrupt or absurdly long files,
NaN samples) becomes one `AudioError` naming the file. Silence is refused unless asked
for: it has nothing to guide an image with.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import AudioError
from .optional import require

SILENCE_PEAK = 1e-4  # about -80 dBFS
MIN_SECONDS = 0.01  # shorter than any sound event; a few samples are a damaged or placeholder file
RATES = (1_000, 768_000)  # Hz: below telephone, above the fastest studio converters; outside is a damaged header
# libsndfile notes a chunk whose size its header overstates as `data : 882000 (should be 478)` (SSND in AIFF)
SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
UNKNOWN_SIZE = 0x7FFFF000  # streaming writers put this or more in the size field when the length is unknown
# frames a file may lack before it counts as truncated: an MP3's header length can be off by a few packets
# (encoder padding), and a recorder's WAV header by a block; a tenth of a second gone changes no edit
TRUNCATION_SLACK = 4 * 1152


@dataclass(frozen=True)
class Audio:
    """waveform: float32 [C, T]; sample_rate in Hz; source: where it came from."""

    waveform: torch.Tensor
    sample_rate: int
    source: str = ""

    @property
    def duration(self) -> float:
        return self.waveform.shape[-1] / self.sample_rate

    def mono(self) -> Audio:
        return Audio(self.waveform.mean(0, keepdim=True), self.sample_rate, self.source)

    def resample(self, rate: int) -> Audio:
        """Band-limited resampling with libsoxr's high-quality preset (what librosa itself uses), on the CPU:
        the encoders' front ends were trained on librosa/resampy-resampled audio, and soxr HQ is as clean."""
        if rate == self.sample_rate:
            return self
        soxr = require("soxr", "resampling audio")
        samples = self.waveform.detach().float().cpu().numpy().T  # soxr takes [frames, channels]
        resampled = soxr.resample(np.ascontiguousarray(samples), self.sample_rate, rate, quality="HQ")
        return Audio(torch.from_numpy(np.ascontiguousarray(resampled.T)), rate, self.source)

    def trim(self, start: float = 0.0, duration: float | None = None) -> Audio:
        first = int(round(start * self.sample_rate))
        last = None if duration is None else first + int(round(duration * self.sample_rate))
        return Audio(self.waveform[:, first:last], self.sample_rate, self.source)

    def to_comfy(self) -> dict:
        """ComfyUI's AUDIO: {"waveform": [1, C, T], "sample_rate": int}."""
        return {"waveform": self.waveform[None].float().cpu(), "sample_rate": int(self.sample_rate)}


def validate_audio(audio: Audio, allow_silence: bool = False) -> Audio:
    w = audio.waveform
    if w.ndim != 2 or w.shape[-1] == 0:
        raise AudioError("the sound is empty (no samples)", path=audio.source or None,
                         fix="choose another file or span")
    check_sample_rate(audio.sample_rate, audio.source)
    if (samples := w.shape[-1]) < MIN_SECONDS * audio.sample_rate:
        milliseconds = samples / audio.sample_rate * 1000
        raise AudioError(f"the sound is {samples} sample{'s' * (samples != 1)} ({milliseconds:.2f} ms) long, too "
                         f"short to mean anything (the minimum is {MIN_SECONDS * 1000:.0f} ms)",
                         path=audio.source or None, fix="choose a longer sound or span")
    if not bool(torch.isfinite(w).all()):
        raise AudioError("the sound contains NaN or infinite samples", path=audio.source or None,
                         fix="re-export the file from your audio editor")
    if not allow_silence and float(w.abs().max()) < SILENCE_PEAK:
        raise AudioError("the sound is silent: there is nothing to guide the image with", path=audio.source or None,
                         fix="choose a span with sound, or allow silence explicitly")
    return audio


def load_audio(path: str | os.PathLike, *, start: float = 0.0, duration: float | None = None,
               max_seconds: float = 600.0, allow_silence: bool = False) -> Audio:
    """Read wav/flac/ogg/mp3 (any rate, any channels), only the requested span, as float32 [C, T]."""
    soundfile = require("soundfile", "reading sound files")
    path = Path(path)
    if not path.is_file():
        raise AudioError("sound file not found", path=path, fix="check the file name")
    if path.stat().st_size == 0:
        raise AudioError("the sound file is empty (0 bytes)", path=path)
    try:
        info = soundfile.info(str(path))
        rate = int(info.samplerate)
        check_sample_rate(rate, path)
        _refuse_truncated(path, rate, *_short_chunk(info))
        first = int(round(start * rate))
        frames = info.frames - first if duration is None else int(round(duration * rate))
        if frames / rate > max_seconds:
            raise AudioError(f"the span is {frames / rate:.0f} s long, over the {max_seconds:.0f} s limit", path=path,
                             fix="choose a shorter span with start/duration, or raise the limit")
        data, _ = soundfile.read(str(path), start=first, frames=max(frames, 0), dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as error:  # soundfile raises RuntimeError/LibsndfileError/TypeError on corrupt data
        raise AudioError(f"cannot decode this sound ({str(error)[:200]})", path=path,
                         fix="use a wav, flac, ogg or mp3 file; re-export it if it is damaged") from error
    expected = min(frames, info.frames - first)  # an MP3's header count: decoding fewer means it was cut
    _refuse_truncated(path, rate, first + expected, first + len(data))
    audio = Audio(torch.from_numpy(np.ascontiguousarray(data.T)), rate, str(path))
    return validate_audio(audio, allow_silence)


def check_sample_rate(rate: int, source: str | os.PathLike | None) -> None:
    """Refuse a rate no sound file has: a damaged header (2147483647 Hz) would make every duration wrong."""
    if not RATES[0] <= rate <= RATES[1]:
        raise AudioError(f"the sample rate {rate} Hz is outside the {RATES[0]}-{RATES[1]} Hz sound files use "
                         "(a damaged header?)", path=source or None, fix="re-export the file from your audio editor")


def _short_chunk(info) -> tuple[int, int]:
    """(frames the header promises, frames present) of a WAV/AIFF whose sample chunk is cut short; (0, 0) if whole.
    libsndfile reads only what is present and says so only in its log."""
    for claimed, present in SHORT_CHUNK.findall(info.extra_info):
        claimed, present = int(claimed), int(present)
        if present < claimed < UNKNOWN_SIZE and present > 0:
            return info.frames * claimed // present, info.frames
    return 0, 0


def _refuse_truncated(path: Path, rate: int, promised: int, present: int) -> None:
    """A file cut short (an interrupted copy or download) must not pass for a shorter sound."""
    if present < promised - TRUNCATION_SLACK:
        raise AudioError(f"the file is truncated: its header promises {promised / rate:.2f} s of sound but only "
                         f"{present / rate:.3f} s are present", path=path,
                         fix="copy, download or export the file again (to use the part present, save it as a "
                             "new file in an audio editor)")


def audio_from_comfy(audio: dict, source: str = "ComfyUI AUDIO", allow_silence: bool = False) -> list[Audio]:
    """ComfyUI's AUDIO dict -> one validated `Audio` per batch item."""
    try:
        waveform, rate = audio["waveform"], int(audio["sample_rate"])
    except (KeyError, TypeError, ValueError):
        raise AudioError("expected ComfyUI AUDIO {'waveform': [B, C, T], 'sample_rate': int}") from None
    if waveform.ndim != 3:
        raise AudioError(f"AUDIO waveform must be [B, C, T], got {tuple(waveform.shape)}")
    return [validate_audio(Audio(w.float().cpu(), rate, f"{source} #{i}" if waveform.shape[0] > 1 else source),
                           allow_silence) for i, w in enumerate(waveform)]
