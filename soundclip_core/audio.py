"""Sound in: read files (soundfile), cut spans, mix to mono, resample (soxr), ComfyUI AUDIO.

An `Audio` is checked once, where it is made (`Audio(...)`, `load_audio`, `Audio.from_comfy`): samples
[C, T] that exist and are finite, at a usable rate. Everything downstream (encoders, video, training)
takes it as it is. Sounds derived from a checked one by operations that keep it valid (`mono`,
`resample`, `window`) are not checked again.

Every problem a user can cause (missing, empty, silent, corrupt or absurdly long files,
NaN samples) becomes one `AudioError` naming the file. Silence is refused unless asked
for: it has nothing to guide an image with.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from .errors import AudioError
from .optional import require

SILENCE_PEAK = 1e-4  # about -80 dBFS
MAX_SAMPLE_RATE = 768_000  # the highest rate audio interfaces record at
MIN_SECONDS = 0.01  # shorter than any sound event; a few samples are a damaged or placeholder file
FILE_RATES = (1_000, MAX_SAMPLE_RATE)  # Hz a sound file or ComfyUI AUDIO has: outside is a damaged header
# libsndfile notes a chunk whose size its header overstates as `data : 882000 (should be 478)` (SSND in AIFF)
SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
UNKNOWN_SIZE = 0x7FFFF000  # streaming writers put this or more in the size field when the length is unknown
# frames a file may lack before it counts as truncated: an MP3's header length can be off by a few packets
# (encoder padding), and a recorder's WAV header by a block; a tenth of a second gone changes no edit
TRUNCATION_SLACK = 4 * 1152


@dataclass(frozen=True)
class Audio:
    """waveform: float32 [C, T] on the CPU; sample_rate in Hz; source: where it came from (named in errors).

    Making one checks it (`AudioError` naming `source` otherwise): a [C, T] floating-point waveform with at
    least one sample, no NaN or infinite sample, an integral rate of 1 Hz to MAX_SAMPLE_RATE."""

    waveform: torch.Tensor
    sample_rate: int
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_rate", _checked_rate(self.sample_rate, self.source))
        object.__setattr__(self, "waveform", _checked_waveform(self.waveform, self.source))
        if not math.isfinite(self.peak):  # one pass over the samples: the peak is kept for `silent`
            raise AudioError("the sound contains NaN or infinite samples", path=self.source or None,
                             fix="re-export the file from your audio editor")

    @classmethod
    def from_comfy(cls, audio: dict, source: str = "ComfyUI AUDIO", allow_silence: bool = False) -> list[Audio]:
        """ComfyUI's AUDIO {"waveform": [B, C, T], "sample_rate": int} -> one checked `Audio` per batch item
        (silent ones refused unless `allow_silence`)."""
        try:
            waveform, rate = audio["waveform"], audio["sample_rate"]
        except (KeyError, TypeError):
            raise AudioError("expected ComfyUI AUDIO {'waveform': [B, C, T], 'sample_rate': int}",
                             fix="connect an AUDIO output, e.g. of a Load Audio node") from None
        if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3:
            raise AudioError(f"AUDIO waveform must be [B, C, T], got {tuple(getattr(waveform, 'shape', ()))}",
                             fix="connect the AUDIO of a Load Audio node; a custom node must give [batch, channels, "
                                 "samples]")
        check_sample_rate(_checked_rate(rate, source), source)
        clips = [cls(w, rate, f"{source} #{i}" if waveform.shape[0] > 1 else source).require_length()
                 for i, w in enumerate(waveform)]
        return clips if allow_silence else [clip.require_sound() for clip in clips]

    @cached_property
    def peak(self) -> float:
        """The largest absolute sample (NaN if any sample is NaN)."""
        return float(self.waveform.abs().max())

    @property
    def silent(self) -> bool:
        return self.peak < SILENCE_PEAK

    @property
    def duration(self) -> float:
        return self.waveform.shape[-1] / self.sample_rate

    def require_sound(self) -> Audio:
        """This sound, or the error that says it is silent: silence has nothing to guide an image with."""
        if self.silent:
            raise AudioError("the sound is silent: there is nothing to guide the image with",
                             path=self.source or None, fix="choose a span with sound, or allow silence explicitly")
        return self

    def require_length(self) -> Audio:
        """This sound, or the error that says it is too short to mean anything (a damaged or placeholder
        file): checked where sounds come in, files and ComfyUI AUDIO."""
        if (samples := self.waveform.shape[-1]) < MIN_SECONDS * self.sample_rate:
            milliseconds = samples / self.sample_rate * 1000
            raise AudioError(f"the sound is {samples} sample{'s' * (samples != 1)} ({milliseconds:.2f} ms) long, "
                             f"too short to mean anything (the minimum is {MIN_SECONDS * 1000:.0f} ms)",
                             path=self.source or None, fix="choose a longer sound or span")
        return self

    def mono(self) -> Audio:
        return self._derived(self.waveform.mean(0, keepdim=True))

    def resample(self, rate: int) -> Audio:
        """Band-limited resampling with libsoxr's high-quality preset (what librosa itself uses), on the CPU:
        the encoders' front ends were trained on librosa/resampy-resampled audio, and soxr HQ is as clean."""
        if rate == self.sample_rate:
            return self
        soxr = require("soxr", "resampling audio")
        samples = self.waveform.detach().numpy().T  # soxr takes [frames, channels]
        resampled = soxr.resample(np.ascontiguousarray(samples), self.sample_rate, rate, quality="HQ")
        return self._derived(torch.from_numpy(np.ascontiguousarray(resampled.T)), _checked_rate(rate, self.source))

    def window(self, start: float = 0.0, end: float | None = None) -> Audio:
        """The span from `start` to `end` seconds (None: to the end), cut at the nearest samples
        (sample round(t * sample_rate)); a span that is empty or leaves the sound is refused."""
        total = self.waveform.shape[-1]
        first = round(start * self.sample_rate)
        last = total if end is None else round(end * self.sample_rate)
        if not 0 <= first < last <= total:
            raise AudioError(f"the span {start:g}-{'end' if end is None else f'{end:g}'} s is empty or outside "
                             f"the sound (0-{self.duration:g} s)", path=self.source or None,
                             fix="choose a start before the end, both within the sound")
        return self._derived(self.waveform[:, first:last])

    def to_comfy(self) -> dict:
        """ComfyUI's AUDIO: {"waveform": [1, C, T], "sample_rate": int}."""
        return {"waveform": self.waveform[None], "sample_rate": self.sample_rate}

    def _derived(self, waveform: torch.Tensor, sample_rate: int | None = None) -> Audio:
        """A sound made from this checked one by an operation that keeps it valid: not checked again."""
        audio = object.__new__(Audio)
        for name, value in (("waveform", waveform), ("sample_rate", sample_rate or self.sample_rate),
                            ("source", self.source)):
            object.__setattr__(audio, name, value)
        return audio


def _checked_rate(rate: object, source: str) -> int:
    """A whole number of Hz as an int (numpy integers and 44100.0 pass; bools, strings and fractions do not)."""
    try:
        usable = int(rate) == rate and 1 <= int(rate) <= MAX_SAMPLE_RATE and not isinstance(rate, bool)
    except (TypeError, ValueError, OverflowError):
        usable = False
    if not usable:
        raise AudioError(f"the sample rate {rate!r} Hz is not usable", path=source or None,
                         fix=f"give a whole number of Hz from 1 to {MAX_SAMPLE_RATE}, e.g. 44100")
    return int(rate)


def _checked_waveform(waveform: object, source: str) -> torch.Tensor:
    """float32 [C, T] on the CPU, with C, T >= 1."""
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 2 or not waveform.is_floating_point():
        got = f"{getattr(waveform, 'dtype', type(waveform).__name__)} {tuple(getattr(waveform, 'shape', ()))}"
        raise AudioError(f"a waveform must be a float tensor [channels, samples], got {got}", path=source or None,
                         fix="pass samples in [-1, 1] as torch.float32 [C, T]")
    if waveform.shape[0] == 0 or waveform.shape[1] == 0:
        raise AudioError("the sound is empty (no samples)", path=source or None, fix="choose another file or span")
    return waveform.float().cpu()


def load_audio(path: str | os.PathLike, *, start: float = 0.0, duration: float | None = None,
               max_seconds: float = 600.0, allow_silence: bool = False) -> Audio:
    """Read wav/flac/ogg/mp3 (any rate, any channels), only the requested span, as float32 [C, T]."""
    soundfile = require("soundfile", "reading sound files")
    path = Path(path)
    if not path.is_file():
        raise AudioError("sound file not found", path=path, fix="check the file name")
    if path.stat().st_size == 0:
        raise AudioError("the sound file is empty (0 bytes)", path=path,
                         fix="copy, download or export the file again (this copy holds no data)")
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
    audio = Audio(torch.from_numpy(np.ascontiguousarray(data.T)), rate, str(path)).require_length()
    return audio if allow_silence else audio.require_sound()


def check_sample_rate(rate: int, source: str | os.PathLike | None) -> None:
    """Refuse a rate no sound file has: a damaged header (2147483647 Hz) would make every duration wrong."""
    if not FILE_RATES[0] <= rate <= FILE_RATES[1]:
        raise AudioError(f"the sample rate {rate} Hz is outside the {FILE_RATES[0]}-{FILE_RATES[1]} Hz sound files "
                         "use (a damaged header?)", path=source or None,
                         fix="re-export the file from your audio editor")


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
