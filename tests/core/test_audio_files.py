"""Damaged sound files that decoded "fine" before: each now gives one AudioError naming the file.
Every file is built here: soundfile writes wav/flac/ogg/mp3, and the headers are patched by hand."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile
import torch

from soundclip_core.audio import MIN_SECONDS, Audio, load_audio
from soundclip_core.errors import AudioError

RATE = 44100


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.random.default_rng(0).normal(size=t.size)).astype(np.float32)


def patch(path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, offset, value)
    path.write_bytes(bytes(data))


def test_a_wav_whose_header_promises_more_than_it_holds_is_refused(tmp_path):
    path = tmp_path / "cut.wav"
    soundfile.write(path, tone(1.0)[:239], RATE, subtype="PCM_16")
    data_at = path.read_bytes().index(b"data")
    patch(path, data_at + 4, 441000 * 2)  # 441000 16-bit mono frames claimed, 239 present
    patch(path, 4, 36 + 441000 * 2)
    with pytest.raises(AudioError, match=r"cut.wav: the file is truncated: its header promises 10.00 s of sound but "
                                         r"only 0.005 s are present.*Fix: copy, download or export the file again"):
        load_audio(path)


@pytest.mark.parametrize("ext", ["wav", "aiff"])
def test_a_cut_copy_is_refused_and_the_whole_file_loads(tmp_path, ext):
    whole = tmp_path / f"whole.{ext}"
    soundfile.write(whole, tone(4.0), RATE)
    assert load_audio(whole).waveform.shape == (1, 4 * RATE)
    (tmp_path / f"cut.{ext}").write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(AudioError, match=r"truncated: its header promises 4.00 s of sound but only 1.33"):
        load_audio(tmp_path / f"cut.{ext}")
    (tmp_path / f"nearly.{ext}").write_bytes(whole.read_bytes()[:-200])  # 100 frames short: a sloppy header
    assert load_audio(tmp_path / f"nearly.{ext}").waveform.shape == (1, 4 * RATE - 100)


def test_the_first_five_percent_of_an_mp3_is_refused(tmp_path):
    whole = tmp_path / "song.mp3"
    soundfile.write(whole, tone(10.0), RATE)
    assert abs(load_audio(whole).waveform.shape[1] - 10 * RATE) <= 1152  # a whole MP3 still loads
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 20])
    with pytest.raises(AudioError, match=r"cut.mp3: the file is truncated: its header promises 10.00 s"):
        load_audio(cut)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_a_one_sample_file_is_too_short(tmp_path, ext):
    path = tmp_path / f"click.{ext}"
    soundfile.write(path, tone(1.0)[1:2], RATE)
    with pytest.raises(AudioError, match=rf"click.{ext}: the sound is 1 sample \(0.02 ms\) long, too short to mean "
                                         r"anything \(the minimum is 10 ms\)"):
        load_audio(path)
    shortest = tmp_path / f"shortest.{ext}"  # the minimum itself is accepted
    soundfile.write(shortest, tone(1.0)[: int(MIN_SECONDS * RATE) + 2000 * (ext == "mp3")], RATE)
    assert load_audio(shortest).waveform.shape[1] >= MIN_SECONDS * RATE


def test_an_absurd_sample_rate_is_refused(tmp_path):
    path = tmp_path / "rate.wav"
    soundfile.write(path, tone(2.0), RATE, subtype="PCM_16")
    patch(path, 24, 2147483647)
    with pytest.raises(AudioError, match=r"rate.wav: the sample rate 2147483647 Hz is outside the 1000-768000 Hz"):
        load_audio(path)
    with pytest.raises(AudioError, match="ComfyUI AUDIO: the sample rate 50 Hz"):  # any source, not only files
        Audio.from_comfy({"waveform": torch.ones(1, 1, 100), "sample_rate": 50})
    with pytest.raises(AudioError, match="too short"):
        Audio(torch.ones(1, 100), 44100, "window").require_length()
