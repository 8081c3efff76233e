"""AudioCLIP: the official checkpoint layout, the FBSP front end against an independent numpy
computation of the official formulas, the whole head against an official-style composition on
torchvision's ResNeXt, and the space tags that keep Partial and Full checkpoints apart."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from devices import RTOL, TEST_DEVICE
from tiny_models import audioclip_head, write_audioclip

from soundclip_core.audio import Audio
from soundclip_core.clip import load_clip
from soundclip_core.embedding import Embedding, combine
from soundclip_core.encoders import encoder_config, load_audio_encoder
from soundclip_core.encoders.audioclip import ATTENTION, blackman_harris, frame_signal
from soundclip_core.errors import CheckpointError, EmbeddingSpaceError

RATE = 44100


# ----- independent numpy references of the official code -----------------------------------------

def numpy_frame_signal(x, frame_length=1654, hop=561):
    """utils.transforms.frame_signal: index arithmetic, zeros split floor-half left."""
    n = 1 if len(x) <= frame_length else 1 + int(math.ceil((len(x) - frame_length) / hop))
    pad = (n - 1) * hop + frame_length - len(x)
    if pad > 0:
        x = np.concatenate([np.zeros(pad // 2), x, np.zeros(pad - pad // 2)])
    idx = np.arange(frame_length)[None] + hop * np.arange(n)[:, None]
    return x[idx]


def numpy_blackman_harris(n):
    k = np.arange(n) / n  # periodic (scipy fftbins=True)
    return 0.35875 - 0.48829 * np.cos(2 * np.pi * k) + 0.14128 * np.cos(4 * np.pi * k) - 0.01168 * np.cos(6 * np.pi * k)


def numpy_fbsp_weights(m, fb, fc, n_fft=2048):
    """LinearFBSP._materialize_weights in complex numbers: sqrt(fb) sinc(fb t / m)^m e^{-i fc t} / sqrt(n_fft).
    The official module forms the arguments fc * t and fb * t / m in float32 (phases up to ~3200 rad, so
    their rounding is part of what the trained model saw); they are formed so here, the rest in float64."""
    m, fb, fc = (p.astype(np.float32)[:, None] for p in (m, fb, fc))
    t = (np.float32(np.pi) * np.linspace(-1, 1, n_fft, dtype=np.float32)[None] + np.float32(1e-8))
    x = (fb * t / (m + np.float32(1e-8))).astype(np.float64)
    sinc = np.where(x == 0, 1.0, np.sin(x) / np.where(x == 0, 1.0, x))
    win = np.power(sinc.astype(complex), m.astype(np.float64))  # principal branch: |sinc|^m e^{i m atan2(0, sinc)}
    return np.sqrt(fb.astype(np.float64)) * win * np.exp(-1j * (fc * t).astype(np.float64)) / np.sqrt(n_fft)


def numpy_spectrogram_db(y, m, fb, fc):
    x = ((y.astype(np.float64) * 32768 + 32768) * 2) / 65535 - 1
    frames = numpy_frame_signal(x) * numpy_blackman_harris(1654)
    frames = np.pad(frames, ((0, 0), (197, 197)))
    spec = frames @ numpy_fbsp_weights(m, fb, fc).T  # [F, 1025] complex
    power = np.abs(spec[:, :1023]).T ** 2  # three bands of 341 bins
    power = np.where(power > 0, power, 1e-18)
    return 10 * np.log10(power).reshape(3, 341, -1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A whole-model AudioCLIP state dict: audio head under `audio.`, CLIP towers, logit scales."""
    path = tmp_path_factory.mktemp("audioclip") / "AudioCLIP-Custom.pt"
    return path, write_audioclip(path)


# ----- tests -----------------------------------------------------------------------------------------

def test_framing_and_window_match_the_official_formulas():
    for length in (1000, 1654, 1655, 5000, 22050):
        x = np.random.default_rng(length).normal(size=length)
        ours = frame_signal(torch.from_numpy(x)[None], 1654, 561)[0].numpy()
        assert ours.shape == numpy_frame_signal(x).shape
        assert np.array_equal(ours, numpy_frame_signal(x))
    assert np.allclose(blackman_harris(1654).numpy(), numpy_blackman_harris(1654), atol=1e-7)


def test_fbsp_filters_match_the_complex_formula():
    net = audioclip_head().net
    real, imag = net.fbsp.filters(2048)
    expected = numpy_fbsp_weights(*(p.detach().double().numpy() for p in (net.fbsp.m, net.fbsp.fb, net.fbsp.fc)))
    scale = np.abs(expected).max()
    for ours, exact in ((real.numpy(), expected.real), (imag.numpy(), expected.imag)):
        # float32 sin(x) / x is coarse right at sinc's zeros, where |sinc|^m (m < 1) is steep
        assert np.abs(ours - exact).max() < 1e-4 * scale
        assert np.abs(ours - exact).mean() < 1e-6 * scale
    assert (net.fbsp.filters(2048)[0] < 0).any()  # negative sinc lobes were exercised


def test_spectrogram_matches_the_official_front_end():
    net = audioclip_head().net
    for seconds in (0.02, 1.0):  # one padded frame, and many
        y = np.random.default_rng(3).normal(0, 0.2, int(seconds * RATE)).astype(np.float32)
        with torch.no_grad():
            ours = net.spectrogram_db(torch.from_numpy(y)[None])[0].numpy()
        expected = numpy_spectrogram_db(y, *(p.detach().double().numpy() for p in (net.fbsp.m, net.fbsp.fb,
                                                                                    net.fbsp.fc)))
        assert ours.shape == expected.shape == (3, 341, numpy_frame_signal(y).shape[0])
        assert np.abs(ours - expected).max() < 2e-2  # dB; float32 filters vs float64 (values span ~100 dB)
        assert np.median(np.abs(ours - expected)) < 1e-3


def official_forward(state: dict, waveform: torch.Tensor, spectrogram_db) -> torch.Tensor:
    """ResNetWithAttention's forward on torchvision's resnext50_32x4d (same key names), attention literal."""
    import torchvision

    resnet = torchvision.models.resnext50_32x4d(num_classes=1024)
    resnet.load_state_dict({k: v for k, v in state.items() if not k.startswith(("att", "fbsp", "window"))})
    resnet.eval()

    def attention(name, x, size):
        _, _, kernel, padding = ATTENTION[name]
        x = F.adaptive_max_pool2d(x, size)
        x = F.conv2d(x, state[f"{name}.conv_depth.weight"], state[f"{name}.conv_depth.bias"], padding=padding,
                     groups=x.shape[1])
        x = F.conv2d(x, state[f"{name}.conv_point.weight"], state[f"{name}.conv_point.bias"])
        x = F.batch_norm(x, state[f"{name}.bn.running_mean"], state[f"{name}.bn.running_var"],
                         state[f"{name}.bn.weight"], state[f"{name}.bn.bias"], False, 0.0, 1e-5)
        return torch.sigmoid(x)

    x = spectrogram_db(waveform)
    x = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(x))))
    for i, layer in enumerate((resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4), 1):
        x_att = x.clone()
        x = layer(x)
        x = x * attention(f"att{i}", x_att, x.shape[-2:])
    x = resnet.avgpool(x) * attention("att5", x, (1, 1))
    return resnet.fc(torch.flatten(x, 1))


def test_checkpoint_loads_and_equals_the_official_forward(checkpoint):
    path, built = checkpoint
    encoder = load_audio_encoder(path, device=TEST_DEVICE)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (encoder.kind, encoder.dim, encoder.sample_rate, encoder.window_seconds) == ("audioclip", 1024, RATE, 5.0)
    assert encoder.space == f"audioclip/{digest[:12]}"  # not a released file: a space of its own
    y = torch.from_numpy(np.random.default_rng(4).normal(0, 0.1, RATE * 2).astype(np.float32))
    embedding = encoder.encode(Audio(y[None], RATE, "noise"))
    with torch.no_grad():
        official = official_forward(built.net.state_dict(), y[None], built.net.spectrogram_db)
    assert embedding.vectors.shape == (1, 1024)
    assert torch.allclose(embedding.vectors, F.normalize(official, dim=-1), atol=2e-4, rtol=RTOL)
    stereo = torch.stack([y, y])  # multichannel input is mixed down
    assert torch.allclose(encoder.encode(Audio(stereo, RATE)).vectors, embedding.vectors, atol=1e-5)


def test_long_clips_average_five_second_windows(checkpoint):
    encoder = load_audio_encoder(checkpoint[0], device=TEST_DEVICE)
    y = torch.from_numpy(np.random.default_rng(5).normal(0, 0.1, int(RATE * 7.5)).astype(np.float32))
    first, last = (encoder.encode(Audio(y[None, s:s + 5 * RATE], RATE)).vectors for s in (0, len(y) - 5 * RATE))
    averaged = encoder.encode(Audio(y[None], RATE)).vectors
    assert torch.allclose(averaged, F.normalize(first + last, dim=-1), atol=1e-5, rtol=RTOL)
    window = encoder.encode(Audio(y[None], RATE), long_clip="window", window_start=10.0).vectors  # clamped to the end
    assert torch.allclose(window, last, atol=1e-5, rtol=RTOL)


def test_spaces_partial_full_and_own(checkpoint, monkeypatch):
    path, _ = checkpoint
    clip = load_clip("RN50", path, device=TEST_DEVICE)
    encoder = load_audio_encoder(path, device=TEST_DEVICE)
    assert clip.space == encoder.space  # the towers in the same file share the head's space
    text = clip.encode_text(["a dog barks"])
    sound = encoder.encode(Audio(torch.randn(1, RATE) * 0.1, RATE))
    assert combine([(sound, 1.0), (text, 1.0)]).space == encoder.space
    with pytest.raises(EmbeddingSpaceError, match="openai/RN50"):
        combine([(sound, 1.0), (Embedding(torch.randn(1, 1024), "openai/RN50", "RN50 text"), 1.0)])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    known = encoder_config("audioclip")["known_checkpoints"]
    assert set(known.values()) == {"openai/RN50", "audioclip-full/RN50"}
    for space in ("openai/RN50", "audioclip-full/RN50"):  # as if this file were a released one
        monkeypatch.setitem(known, digest, space)
        assert load_audio_encoder(path, device=TEST_DEVICE).space == space
        assert load_clip("RN50", path, device=TEST_DEVICE).space == space
    with pytest.raises(CheckpointError, match="not CLIP ViT-B-32"):
        load_clip("ViT-B-32", path, device=TEST_DEVICE)


def test_broken_audioclip_checkpoints(tmp_path, checkpoint):
    path, built = checkpoint
    state = {f"audio.{k}": v for k, v in built.net.state_dict().items()}
    state["audio.fbsp.bias"] = torch.zeros(1025, 2)  # the released head has no FBSP bias
    torch.save(state, tmp_path / "bias.pt")
    with pytest.raises(CheckpointError, match="does not match the audioclip encoder"):
        load_audio_encoder(tmp_path / "bias.pt")
    del state["audio.layer4.2.conv3.weight"]
    state["audio.fbsp.bias"] = torch.empty(0)
    torch.save(state, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="layer4.2.conv3.weight"):
        load_audio_encoder(tmp_path / "missing.pt")
    torch.save({"audio.fbsp.weight": torch.zeros(3), "visual.conv1.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an audio encoder"):
        load_audio_encoder(tmp_path / "other.pt")


def test_audioclip_in_the_nodes(tmp_path, checkpoint, monkeypatch):
    """Load an AudioCLIP file once as the audio encoder and once as CLIP (its own towers), then mix."""
    from pack_loading import import_pack

    (tmp_path / "audio_encoders").mkdir()
    (tmp_path / "audio_encoders" / "AudioCLIP-Custom.pt").symlink_to(checkpoint[0])
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path))
    nodes = {name.removeprefix("SoundCLIP_"): cls() for name, cls in import_pack().NODE_CLASS_MAPPINGS.items()}
    choices = nodes["CLIPLoader"].INPUT_TYPES()["required"]["clip_name"][0]
    assert {"AudioCLIP-Custom.pt", "AudioCLIP-Full-Training.pt", "RN50.pt"} <= set(choices)
    with torch.inference_mode():
        (encoder,) = nodes["AudioEncoderLoader"].load("AudioCLIP-Custom.pt", "auto")
        (clip,) = nodes["CLIPLoader"].load("AudioCLIP-Custom.pt", "RN50")
        audio = {"waveform": torch.randn(1, 2, RATE) * 0.1, "sample_rate": RATE}
        sound, _ = nodes["AudioEncode"].encode(audio, encoder, "average", 0.0)
        text, _ = nodes["TextEncode"].encode(clip, "thunder")
        target, description = nodes["EmbeddingMix"].mix(sound, 1.0, text, 0.5)
    assert encoder.kind == "audioclip" and sound.dim == text.dim == 1024
    assert encoder.space in description


def test_cli_edits_with_one_audioclip_file(tmp_path, checkpoint):
    """`soundclip manipulate` with an AudioCLIP file as encoder and as CLIP: RN50 is read off the weights."""
    from stylegan_formats import tiny_generator
    from tiny_models import write_sound

    from soundclip_core.cli import main
    from soundclip_core.generators import save_generator

    save_generator(tiny_generator(resolution=32), tmp_path / "g.safetensors")
    write_sound(tmp_path / "dog.wav", seconds=1.0)
    out = tmp_path / "dog.png"
    assert main(["manipulate", "--audio", str(tmp_path / "dog.wav"), "--text", "a dog", "--encoder",
                 str(checkpoint[0]), "--clip", str(checkpoint[0]), "--generator", str(tmp_path / "g.safetensors"),
                 "--steps", "2", "--device", str(TEST_DEVICE), "--out", str(out)]) == 0
    assert out.is_file() and out.with_suffix(".safetensors").is_file()
