"""`Audio` travels end to end: checked once where it is made, cut by seconds with `window`, made from
ComfyUI's AUDIO with `from_comfy`, and encoded as it is, one sound or a list, with the numbers of the
tensor path it replaced."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pytest
import torch
from devices import TEST_DEVICE

import soundclip_core.audio as audio_module
from soundclip_core.audio import MAX_SAMPLE_RATE, Audio
from soundclip_core.embedding import Embedding
from soundclip_core.encoders import AudioEncoder, build_audio_encoder
from soundclip_core.errors import AudioError, SoundClipError

RATE = 16000


@pytest.fixture(scope="module")
def encoder() -> AudioEncoder:
    full = build_audio_encoder("wav2clip", device=TEST_DEVICE)  # half-second windows keep the test fast
    return AudioEncoder("wav2clip", full.net, full.space, "test", {**full.config, "window_seconds": 0.5})


def noise(seconds: float, seed: int, channels: int = 1) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(0, 0.1, (channels, int(RATE * seconds))).astype(np.float32))


def tensor_path(encoder: AudioEncoder, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """What `encode(waveform [B, C, T], sample_rate)` computed before it took `Audio`: each batch item
    as float32 on the CPU through `prepare`, all of them through `embed_inputs` together, as an Embedding."""
    inputs = [encoder.prepare(Audio(item.float().cpu(), sample_rate)) for item in waveform]
    return Embedding(encoder.embed_inputs(inputs), encoder.space).vectors


def test_encode_of_one_audio_and_of_a_list_equals_the_tensor_path(encoder):
    batch = torch.stack([noise(1.2, 1, 2), noise(1.2, 2, 2)])  # two stereo clips of three 0.5 s windows
    one = encoder.encode(Audio(batch[0], RATE, "a.wav"))
    both = encoder.encode([Audio(batch[0], RATE, "a.wav"), Audio(batch[1], RATE, "b.wav")])
    assert torch.equal(one.vectors, tensor_path(encoder, batch[:1], RATE))
    assert torch.equal(both.vectors, tensor_path(encoder, batch, RATE))
    assert one.source == "wav2clip: a.wav" and both.source == "wav2clip: a.wav, wav2clip: b.wav"
    assert both.vectors.shape == (2, encoder.dim) and not torch.allclose(both.vectors[0], both.vectors[1])
    # a list row is the sound's own embedding: windows are batched across sounds, never padded
    assert torch.allclose(both.vectors[1], encoder.encode(Audio(batch[1], RATE)).vectors[0], atol=1e-5)
    short = [Audio(noise(0.3, 3), RATE), Audio(noise(0.7, 4), RATE)]  # shorter than a window, and between
    alone = torch.cat([tensor_path(encoder, clip.waveform[None], RATE) for clip in short])
    assert torch.allclose(encoder.encode(short).vectors, alone, atol=1e-5)


def test_encode_refuses_tensors_empty_lists_and_silence_naming_the_sound(encoder):
    with pytest.raises(SoundClipError, match="encode takes an Audio.*Fix: wrap samples"):
        encoder.encode(noise(0.5, 1))
    with pytest.raises(SoundClipError, match="no sounds"):
        encoder.encode([])
    silent = Audio(torch.zeros(1, RATE), RATE, "pause.wav")  # a silent Audio may exist (a break in a song) ...
    with pytest.raises(AudioError, match="pause.wav: the sound is silent"):  # ... but guides nothing
        encoder.encode([Audio(noise(0.5, 1), RATE), silent])


def test_window_cuts_by_seconds_exactly():
    samples = torch.arange(3 * 8000, dtype=torch.float32)[None].repeat(2, 1) / 24000  # sample i holds i / 24000
    audio = Audio(samples, 8000, "ramp.wav")
    cut = audio.window(0.25, 0.5)
    assert torch.equal(cut.waveform, samples[:, 2000:4000]) and (cut.sample_rate, cut.source) == (8000, "ramp.wav")
    assert cut.duration == 0.25
    assert torch.equal(audio.window(2.5).waveform, samples[:, 20000:])  # to the end
    assert torch.equal(audio.window().waveform, samples) and torch.equal(audio.window(0, 3.0).waveform, samples)
    assert torch.equal(audio.window(1.0).window(0.25, 0.5).waveform, samples[:, 10000:12000])  # windows compose
    assert torch.equal(audio.window(0.1 / 8000 + 1.0, 2.0 - 0.4 / 8000).waveform, samples[:, 8000:16000])  # nearest
    odd = Audio(torch.arange(44100, dtype=torch.float32)[None] / 44100, 44100)
    for start in (0.0, 0.1, 1 / 3, 0.75):  # sample round(t * rate), whatever the rate
        assert int(odd.window(start, 1.0).waveform[0, 0] * 44100 + 0.5) == round(start * 44100)
    for start, end in [(0.5, 0.5), (0.6, 0.5), (-0.1, 1.0), (2.0, 3.5), (3.0, None)]:
        with pytest.raises(AudioError, match=r"ramp.wav: the span .* is empty or outside the sound \(0-3 s\)"):
            audio.window(start, end)


def test_an_audio_is_checked_where_it_is_made_naming_its_source():
    bad = [(torch.full((1, 100), float("nan")), 8000, "NaN or infinite"),
           (torch.tensor([[0.1, float("inf")]]), 8000, "NaN or infinite"),
           (torch.zeros(2, 0), 8000, "empty"), (torch.zeros(0, 10), 8000, "empty"),
           (torch.zeros(100), 8000, r"\[channels, samples\], got torch.float32 \(100,\)"),
           (torch.zeros(1, 100, dtype=torch.int16), 8000, "float tensor"),
           (np.zeros((1, 100), np.float32), 8000, "float tensor"),
           (torch.ones(1, 100), 0, "sample rate 0 Hz"), (torch.ones(1, 100), -8000, "sample rate"),
           (torch.ones(1, 100), 44100.5, "sample rate"), (torch.ones(1, 100), MAX_SAMPLE_RATE + 1, "sample rate"),
           (torch.ones(1, 100), float("nan"), "sample rate"), (torch.ones(1, 100), True, "sample rate"),
           (torch.ones(1, 100), "44100", "sample rate")]
    for waveform, rate, message in bad:
        with pytest.raises(AudioError, match=f"clip.wav: .*{message}"):
            Audio(waveform, rate, "clip.wav")
    made = Audio(torch.ones(1, 10, dtype=torch.float64), np.int64(10))
    assert made.waveform.dtype == torch.float32 and type(made.sample_rate) is int and made.duration == 1.0
    assert Audio(torch.zeros(1, 1), 8000).silent and not Audio(torch.full((1, 1), 1e-3), 8000).silent
    assert Audio(torch.ones(1, 10), 44100.0).sample_rate == 44100


def test_encoding_and_cutting_do_not_check_the_sound_again(encoder, monkeypatch):
    checks = []
    monkeypatch.setattr(audio_module, "_checked_waveform",
                        lambda *a, f=audio_module._checked_waveform: checks.append(1) or f(*a))
    scans = []
    peak = cached_property(lambda self, f=Audio.peak.func: scans.append(1) or f(self))
    peak.__set_name__(Audio, "peak")
    monkeypatch.setattr(Audio, "peak", peak)
    audio = Audio(noise(1.2, 5, 2), 44100, "song.wav")
    assert checks == [1] and scans == [1]
    encoder.encode(audio)
    encoder.encode([audio, audio], long_clip="window", window_start=0.2)
    window = audio.window(0.1, 0.3)
    assert window.mono().resample(RATE).sample_rate == RATE
    assert checks == [1]  # the samples were checked once, when the sound was made ...
    assert scans == [1]  # ... in one pass over the samples, whose peak also answers "is it silent?"


def test_from_comfy_makes_one_checked_audio_per_batch_item():
    batch = torch.stack([noise(0.5, 1, 2), noise(0.5, 2, 2)]).half()
    clips = Audio.from_comfy({"waveform": batch, "sample_rate": 22050})
    assert [c.source for c in clips] == ["ComfyUI AUDIO #0", "ComfyUI AUDIO #1"]
    assert all(c.waveform.dtype == torch.float32 and c.sample_rate == 22050 for c in clips)
    assert torch.equal(clips[1].waveform, batch[1].float())
    one = Audio.from_comfy(clips[0].to_comfy(), "the song")
    assert len(one) == 1 and one[0].source == "the song" and torch.equal(one[0].waveform, clips[0].waveform)
    silent = {"waveform": torch.zeros(1, 1, 100), "sample_rate": 8000}
    with pytest.raises(AudioError, match="the song: the sound is silent"):
        Audio.from_comfy(silent, "the song")
    assert Audio.from_comfy(silent, allow_silence=True)[0].silent
    for broken, message in [({"waveform": batch}, "expected ComfyUI AUDIO"), (None, "expected ComfyUI AUDIO"),
                            ({"waveform": batch[0], "sample_rate": 8000}, r"\[B, C, T\], got \(2, 8000\)"),
                            ({"waveform": torch.full((2, 1, 10), float("nan")), "sample_rate": 8000},
                             "ComfyUI AUDIO #0: the sound contains NaN")]:
        with pytest.raises(AudioError, match=message):
            Audio.from_comfy(broken)
