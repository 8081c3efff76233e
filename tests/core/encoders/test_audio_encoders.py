"""Sound in: files of every format, every bad input, and the SoundCLIP encoder against
independent numpy computations of the official preprocessing (librosa 0.8.1 + cv2 formulas)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch
from devices import RTOL, TEST_DEVICE
from tiny_models import randomize_batch_norms, write_sound

from soundclip_core.audio import Audio, load_audio
from soundclip_core.encoders import build_audio_encoder, encoder_config, load_audio_encoder
from soundclip_core.encoders.frontends import slaney_mel_filterbank, soundclip_image, soundclip_mel, window_starts
from soundclip_core.errors import AudioError, CheckpointError

CFG = encoder_config("soundclip")


# ----- independent numpy references ---------------------------------------------------------------

def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_region = f >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def slaney_filterbank(sr, n_fft, n_mels):
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    bank = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lower = (freqs - edges[i]) / (edges[i + 1] - edges[i])
        upper = (edges[i + 2] - freqs) / (edges[i + 2] - edges[i + 1])
        bank[i] = np.maximum(0, np.minimum(lower, upper)) * 2.0 / (edges[i + 2] - edges[i])
    return bank


def numpy_power_spectrogram(y, n_fft, hop):
    """|STFT|^2 [bins, frames] as librosa's stft and torchaudio's Spectrogram defaults compute it: periodic
    Hann window of n_fft, centred frames with reflect padding, one-sided."""
    padded = np.pad(y.astype(np.float64), n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = 1 + (len(padded) - n_fft) // hop
    return np.stack([np.abs(np.fft.rfft(padded[i * hop:i * hop + n_fft] * window)) ** 2 for i in range(frames)], 1)


def numpy_mel(y, sr=44100, n_fft=2048, hop=512, n_mels=128):
    mel = slaney_filterbank(sr, n_fft, n_mels) @ numpy_power_spectrogram(y, n_fft, hop)
    db = 10 * np.log10(np.maximum(mel, 1e-10)) - 10 * np.log10(max(1e-10, mel.max()))
    return np.maximum(db, db.max() - 80) / 80 + 1


def numpy_bilinear(image, out_h, out_w):
    """cv2.resize INTER_LINEAR: half-pixel centres, edge clamping, no antialiasing."""
    in_h, in_w = image.shape

    def axis(n_out, n_in):
        x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(x).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), x - lo

    y0, y1, fy = axis(out_h, in_h)
    x0, x1, fx = axis(out_w, in_w)
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
    bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
    return top * (1 - fy[:, None]) + bottom * fy[:, None]


# ----- tests ----------------------------------------------------------------------------------------

def test_mel_frontend_matches_librosa_formulas():
    y = np.random.default_rng(0).normal(0, 0.1, 44100).astype(np.float32)
    ours = soundclip_mel(torch.from_numpy(y), CFG).numpy()
    assert ours.shape == (128, 87)
    assert np.abs(ours - numpy_mel(y)).max() < 1e-4


def test_mel_filterbank_matches_librosa_formulas():
    for sr, n_fft, n_mels in [(44100, 2048, 128), (16000, 512, 40), (22050, 1024, 64)]:
        ours = slaney_mel_filterbank(sr, n_fft, n_mels).numpy()
        assert ours.shape == (n_mels, n_fft // 2 + 1)
        assert np.abs(ours - slaney_filterbank(sr, n_fft, n_mels)).max() < 1e-12


def test_resampling_is_band_limited_and_keeps_the_signal():
    t = np.arange(48000) / 48000
    tone = np.stack([np.sin(2 * np.pi * 1000 * t), 0.5 * np.sin(2 * np.pi * 3000 * t)]).astype(np.float32)
    out = Audio(torch.from_numpy(tone), 48000).resample(16000)
    assert out.sample_rate == 16000 and out.waveform.shape == (2, 16000)
    t16 = np.arange(16000) / 16000
    expected = np.stack([np.sin(2 * np.pi * 1000 * t16), 0.5 * np.sin(2 * np.pi * 3000 * t16)])
    middle = slice(200, -200)  # away from the edges, where the filter sees zeros
    assert np.abs(out.waveform.numpy()[:, middle] - expected[:, middle]).max() < 2e-3
    # 10 kHz is above 16 kHz's Nyquist: the anti-aliasing filter removes it instead of folding it to 6 kHz
    alias = Audio(torch.from_numpy(np.sin(2 * np.pi * 10000 * t).astype(np.float32))[None], 48000).resample(16000)
    assert np.sqrt(np.mean(alias.waveform.numpy()[0, middle] ** 2)) < 1e-3


def test_resize_and_reshape_quirk_match_cv2():
    mel = torch.rand(128, 1000)
    image = soundclip_image(mel, 50, CFG)
    expected = numpy_bilinear(mel[:, 50:914].numpy().astype(np.float64), 512, 128).reshape(1, 1, 128, 512)
    assert image.shape == (1, 1, 128, 512)
    assert np.abs(image.numpy() - expected).max() < 1e-5
    short_mel = torch.rand(128, 100)
    padded = np.zeros((128, 864))  # short clips are zero-padded on the right before resizing
    padded[:, :100] = short_mel.numpy()
    expected_short = numpy_bilinear(padded, 512, 128).reshape(1, 1, 128, 512)
    assert np.abs(soundclip_image(short_mel, 0, CFG).numpy() - expected_short).max() < 1e-5


def test_window_policy():
    assert window_starts(500, 864, "average", 0) == [0]
    assert window_starts(2000, 864, "average", 0) == [0, 568, 1136]
    assert window_starts(2000, 864, "window", 1500) == [1136]


def test_encoder_equals_the_official_composition(tmp_path):
    encoder = build_audio_encoder("soundclip", device="cpu")
    randomize_batch_norms(encoder.net)
    torch.save({f"module.{k}": v for k, v in encoder.net.state_dict().items()}, tmp_path / "resnet18_57.pth")
    loaded = load_audio_encoder(tmp_path / "resnet18_57.pth", device=TEST_DEVICE)
    assert (loaded.kind, loaded.space, loaded.dim) == ("soundclip", "openai/ViT-B-32", 512)
    y = np.random.default_rng(1).normal(0, 0.1, 44100 * 3).astype(np.float32)
    embedding = loaded.encode(Audio(torch.from_numpy(y)[None], 44100, "noise"))
    spec = numpy_mel(y)
    padded = np.zeros((128, 864))
    padded[:, :spec.shape[1]] = spec
    image = torch.from_numpy(numpy_bilinear(padded, 512, 128).reshape(1, 1, 128, 512)).float()
    with torch.no_grad():
        official = encoder.net.feature_extractor(encoder.net.conv(image))
    assert torch.allclose(embedding.vectors, torch.nn.functional.normalize(official, dim=-1), atol=1e-4, rtol=RTOL)
    assert embedding.space == "openai/ViT-B-32"


def test_encoder_checkpoint_errors(tmp_path):
    torch.save({"model.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not an audio encoder"):
        load_audio_encoder(tmp_path / "other.pth")
    torch.save({"audio_encoder.conv1.weight": torch.zeros(3), "audio_transform.sequential.0.weight": torch.zeros(2),
                "audio_transform.sequential.3.weight": torch.zeros(4, 4)}, tmp_path / "broken_w2c.pt")
    with pytest.raises(CheckpointError, match="does not match the wav2clip encoder"):
        load_audio_encoder(tmp_path / "broken_w2c.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_audio_encoder(tmp_path / "missing.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_audio_encoder(tmp_path / "text.pth")


@pytest.mark.parametrize("suffix, subtype", [(".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS"),
                                             (".mp3", "MPEG_LAYER_III")])
def test_reads_every_format_and_span(tmp_path, suffix, subtype):
    t = np.arange(48000 * 2) / 48000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 660 * t)], 1).astype(np.float32) * 0.5
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, stereo, 48000, subtype=subtype)
    audio = load_audio(path, start=0.5, duration=1.0)
    assert audio.sample_rate == 48000 and audio.waveform.shape[0] == 2
    assert abs(audio.waveform.shape[1] - 48000) <= 1152  # codecs may add a frame of delay
    assert audio.mono().waveform.shape[0] == 1
    assert audio.resample(44100).waveform.shape[1] == pytest.approx(audio.waveform.shape[1] * 44100 / 48000, abs=2)
    comfy = audio.to_comfy()
    assert comfy["waveform"].shape == (1, 2, audio.waveform.shape[1]) and comfy["sample_rate"] == 48000
    assert torch.equal(Audio.from_comfy(comfy)[0].waveform, audio.waveform)


def test_bad_audio_gives_clear_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage" * 10)
    with pytest.raises(AudioError, match="cannot decode"):
        load_audio(tmp_path / "corrupt.wav")
    soundfile.write(tmp_path / "silent.wav", np.zeros(22050, np.float32), 22050)
    with pytest.raises(AudioError, match="silent"):
        load_audio(tmp_path / "silent.wav")
    assert load_audio(tmp_path / "silent.wav", allow_silence=True).duration == pytest.approx(1.0)
    soundfile.write(tmp_path / "nan.wav", np.full(1000, np.nan, np.float32), 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(tmp_path / "nan.wav")
    write_sound(tmp_path / "long.wav", seconds=5)
    with pytest.raises(AudioError, match="limit"):
        load_audio(tmp_path / "long.wav", max_seconds=2)
    with pytest.raises(AudioError, match="empty"):
        load_audio(tmp_path / "long.wav", start=10)
    with pytest.raises(AudioError, match="silent"):
        Audio.from_comfy({"waveform": torch.zeros(1, 1, 100), "sample_rate": 8000})
    with pytest.raises(AudioError):
        build_audio_encoder(device=TEST_DEVICE).encode(Audio(torch.full((1, 1000), float("inf")), 44100))
    assert Audio(torch.ones(1, 10), 10).duration == 1.0


def test_wav2clip_checkpoint_equals_the_official_composition(tmp_path):
    import torchvision

    encoder = build_audio_encoder("wav2clip", device="cpu")
    randomize_batch_norms(encoder.net)
    state = {f"audio_encoder.{k}": v for k, v in encoder.net.audio_encoder.state_dict().items()}
    state["audio_encoder.spectrogram.window"] = torch.hann_window(512)  # stored by the official module
    state.update({f"audio_transform.{k}": v for k, v in encoder.net.audio_transform.state_dict().items()})
    torch.save(state, tmp_path / "Wav2CLIP.pt")
    loaded = load_audio_encoder(tmp_path / "Wav2CLIP.pt", device=TEST_DEVICE)
    assert (loaded.kind, loaded.space, loaded.dim, loaded.sample_rate) == ("wav2clip", "openai/ViT-B-32", 512, 16000)
    # the official forward: torchaudio Spectrogram(n_fft=512, hop_length=353) (as numpy computes it), log,
    # standardise, torchvision-named ResNet18, MLP
    resnet = torchvision.models.resnet18()
    resnet.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    resnet.fc = torch.nn.Identity()
    resnet.load_state_dict(encoder.net.audio_encoder.state_dict())
    resnet.eval()
    y = torch.from_numpy(np.random.default_rng(2).normal(0, 0.1, 16000 * 3).astype(np.float32))
    with torch.no_grad():
        power = torch.from_numpy(numpy_power_spectrogram(y.numpy(), 512, 353)).float()
        spec = torch.log(power[None, None] + 1e-7)
        spec = (spec - spec.mean()) / (spec.std() + 1e-9)
        official = encoder.net.audio_transform(resnet(spec))
    embedding = loaded.encode(Audio(y[None], 16000))
    assert torch.allclose(embedding.vectors, torch.nn.functional.normalize(official, dim=-1), atol=1e-4, rtol=RTOL)


def test_long_clips_run_in_bounded_chunks_with_the_same_result(monkeypatch):
    import soundclip_core.encoders.encoder as encoder_module

    encoder = build_audio_encoder("wav2clip", device=TEST_DEVICE)
    y = torch.from_numpy(np.random.default_rng(6).normal(0, 0.1, 16000 * 25).astype(np.float32))[None]
    whole = encoder.encode(Audio(y, 16000)).vectors  # three 10 s windows in one pass
    passes = []
    monkeypatch.setattr(encoder_module, "WINDOWS_PER_PASS", 1)
    original = encoder.runner.forward
    monkeypatch.setattr(encoder.runner, "forward", lambda x: passes.append(x.shape[0]) or original(x))
    assert torch.allclose(encoder.encode(Audio(y, 16000)).vectors, whole, atol=1e-6, rtol=RTOL)
    assert passes == [1, 1, 1]
