"""ImageBind as an encoder: the Kaldi filterbank against an independent numpy transcription of Kaldi's steps, the
clip sampler's positions, ImageBind's audio preprocessing and audio trunk against float64 references written
here from its definitions, its vision/text towers as an open_clip CLIP against the same references, and the
errors for stripped, renamed or truncated files."""

from __future__ import annotations

import math
import shutil
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from imagebind_formats import EMBED, write_imagebind
from tiny_models import write_cli_files, write_sound

from soundclip_core.audio import Audio
from soundclip_core.checkpoints import read_state_dict
from soundclip_core.cli import main
from soundclip_core.clip import VIT_H_SPACE, load_clip
from soundclip_core.encoders import encoder_config, load_audio_encoder
from soundclip_core.encoders.imagebind import clip_bounds, imagebind_inputs
from soundclip_core.encoders.kaldi import kaldi_fbank, mel_banks
from soundclip_core.errors import CheckpointError
from soundclip_core.evaluate.zeroshot import classify

RATE = 16000
IB_MEAN, IB_STD = -4.268, 9.138


# ----- independent references -----------------------------------------------------------------------------

def numpy_mel_banks(bins=128, padded=512, rate=16000.0, low=20.0, high=0.0):
    """Kaldi's get_mel_banks; band membership is decided in float32 as Kaldi's torch port decides it (numpy's and
    torch's float32 log differ by an ulp, so the weights agree to ~3e-5, not bit for bit)."""
    f32 = np.float32
    high = high + rate / 2 if high <= 0 else high
    mel_low, mel_high = 1127.0 * math.log(1 + low / 700), 1127.0 * math.log(1 + high / 700)
    delta = (mel_high - mel_low) / (bins + 1)
    b = np.arange(bins, dtype=f32)[:, None]
    left, centre, right = (f32(mel_low) + (b + f32(k)) * f32(delta) for k in (0, 1, 2))
    freqs = f32(rate / padded) * np.arange(padded // 2, dtype=f32)
    mel = (f32(1127.0) * np.log(f32(1) + freqs / f32(700.0))).astype(f32)[None]
    return np.maximum(0, np.minimum((mel - left) / (centre - left), (right - mel) / (right - centre))).astype(f32)


def numpy_fbank(x, bins=128, window="hanning", rate=16000):
    """Kaldi compute-fbank-feats with dither 0, step by step on one clip, float64."""
    size, shift, padded = int(rate * 0.025), int(rate * 0.010), 512
    count = 1 + (len(x) - size) // shift
    rows = []
    n = np.arange(size)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / (size - 1))
    w = hann if window == "hanning" else hann ** 0.85
    for i in range(count):
        frame = x[i * shift:i * shift + size].astype(np.float64)
        frame = frame - frame.mean()
        previous = np.concatenate([frame[:1], frame[:-1]])
        frame = (frame - 0.97 * previous) * w
        power = np.abs(np.fft.rfft(np.concatenate([frame, np.zeros(padded - size)]))) ** 2
        rows.append(power[:padded // 2])
    energies = np.stack(rows) @ numpy_mel_banks(bins, padded, rate).astype(np.float64).T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps))


def numpy_imagebind_inputs(x, starts):
    """load_and_transform_audio_data on a mono 16 kHz sound: each 2 s slice has its mean subtracted in place on
    the sound itself, fbank, zero padding / cut to 204 frames, then the mean/std normalisation."""
    x = x.astype(np.float64).copy()
    out = []
    for start in starts:
        view = x[start:start + 2 * RATE]
        view -= view.mean()
        fbank = numpy_fbank(view).T
        fbank = np.pad(fbank, ((0, 0), (0, max(204 - fbank.shape[1], 0))))[:, :204]
        out.append((fbank - IB_MEAN) / IB_STD)
    return np.stack(out)[:, None]


def layer_norm(x, weight, bias, eps):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * weight + bias


def gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def reference_block(x, s, prefix, heads, mask=None, bias_kv=False):
    """ImageBind's BlockWithMasking: x + attn(norm_1(x)); x + mlp(norm_2(x)); LayerNorm eps 1e-6; the
    attention is nn.MultiheadAttention's formula written out (bias_k/bias_v appended as one more key/value)."""
    width = x.shape[-1]
    h = layer_norm(x, s[prefix + "norm_1.weight"], s[prefix + "norm_1.bias"], 1e-6)
    q, k, v = np.split(h @ s[prefix + "attn.in_proj_weight"].T + s[prefix + "attn.in_proj_bias"], 3, axis=-1)
    if bias_kv:
        k = np.concatenate([k, np.broadcast_to(s[prefix + "attn.bias_k"][0], (len(k), 1, width))], axis=1)
        v = np.concatenate([v, np.broadcast_to(s[prefix + "attn.bias_v"][0], (len(v), 1, width))], axis=1)
    d = width // heads
    outputs = []
    for head in range(heads):
        part = slice(head * d, (head + 1) * d)
        logits = q[..., part] @ k[..., part].transpose(0, 2, 1) / math.sqrt(d)
        if mask is not None:
            logits = logits + mask
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        outputs.append((weights / weights.sum(-1, keepdims=True)) @ v[..., part])
    x = x + np.concatenate(outputs, -1) @ s[prefix + "attn.out_proj.weight"].T + s[prefix + "attn.out_proj.bias"]
    h = layer_norm(x, s[prefix + "norm_2.weight"], s[prefix + "norm_2.bias"], 1e-6)
    hidden = gelu(h @ s[prefix + "mlp.fc1.weight"].T + s[prefix + "mlp.fc1.bias"])
    return x + hidden @ s[prefix + "mlp.fc2.weight"].T + s[prefix + "mlp.fc2.bias"]


def blocks(s, tower):
    return sorted({int(k.split(".")[3]) for k in s if k.startswith(f"modality_trunks.{tower}.blocks.")})


def reference_audio(s, clips):
    """ImageBind's audio modality on fbank clips [N, 1, 128, 204] -> its output (unit vectors x 20)."""
    p = "modality_preprocessors.audio."
    weight = torch.from_numpy(s[p + "rgbt_stem.proj.weight"])
    patches = F.conv2d(torch.from_numpy(clips), weight, stride=10).flatten(2).transpose(1, 2).numpy()
    x = layer_norm(patches, s[p + "rgbt_stem.norm_layer.weight"], s[p + "rgbt_stem.norm_layer.bias"], 1e-5)
    x = np.concatenate([np.broadcast_to(s[p + "cls_token"], (len(x), 1, x.shape[-1])), x], 1)
    x = x + s[p + "pos_embedding_helper.pos_embed"]
    heads = x.shape[-1] // 64
    for i in blocks(s, "audio"):
        x = reference_block(x, s, f"modality_trunks.audio.blocks.{i}.", heads, bias_kv=True)
    x = layer_norm(x, s["modality_heads.audio.0.weight"], s["modality_heads.audio.0.bias"], 1e-6)[:, 0]
    x = x @ s["modality_heads.audio.2.weight"].T
    return x / np.linalg.norm(x, axis=-1, keepdims=True) * 20.0


def reference_vision(s, pixels):
    """ImageBind's vision modality: the image repeated twice in time through the Conv3d stem (stride 2, 14, 14)."""
    p = "modality_preprocessors.vision."
    video = torch.from_numpy(pixels)[:, :, None].repeat(1, 1, 2, 1, 1)
    kernel = torch.from_numpy(s[p + "rgbt_stem.proj.1.weight"])
    x = F.conv3d(video, kernel, stride=kernel.shape[2:]).flatten(2).transpose(1, 2).numpy()
    x = np.concatenate([np.broadcast_to(s[p + "cls_token"], (len(x), 1, x.shape[-1])), x], 1)
    x = x + s[p + "pos_embedding_helper.pos_embed"]
    x = layer_norm(x, s["modality_trunks.vision.pre_transformer_layer.0.weight"],
                   s["modality_trunks.vision.pre_transformer_layer.0.bias"], 1e-6)
    for i in blocks(s, "vision"):
        x = reference_block(x, s, f"modality_trunks.vision.blocks.{i}.", x.shape[-1] // 80)
    x = layer_norm(x, s["modality_heads.vision.0.weight"], s["modality_heads.vision.0.bias"], 1e-6)[:, 0]
    return x @ s["modality_heads.vision.2.weight"].T


def reference_text(s, tokens):
    x = s["modality_preprocessors.text.token_embedding.weight"][tokens] + s["modality_preprocessors.text.pos_embed"]
    for i in blocks(s, "text"):
        x = reference_block(x, s, f"modality_trunks.text.blocks.{i}.", x.shape[-1] // 64,
                            mask=s["modality_preprocessors.text.mask"])
    x = x[np.arange(len(x)), tokens.argmax(-1)]
    x = layer_norm(x, s["modality_heads.text.proj.0.weight"], s["modality_heads.text.proj.0.bias"], 1e-6)
    return x @ s["modality_heads.text.proj.1.weight"].T


def float64_state(path):
    return {k: v.double().numpy() for k, v in read_state_dict(path, "test", "test").items()}


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagebind")
    return {"full": write_imagebind(root / "imagebind_huge.pth"),
            "audio": write_imagebind(root / "imagebind_audio.pth", towers=False),
            "towers": write_imagebind(root / "imagebind_vision_text.pth", audio=False)}


# ----- Kaldi filterbank -------------------------------------------------------------------------------------

@pytest.mark.parametrize("window", ["hanning", "povey"])
def test_kaldi_fbank_matches_kaldis_steps_batched(window):
    rng = np.random.default_rng(3)
    t = np.arange(RATE) / RATE
    clips = np.stack([0.3 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 0.05, RATE), rng.normal(0, 0.2, RATE),
                      0.5 * np.sign(np.sin(2 * np.pi * 97 * t)) + 0.01 * rng.normal(size=RATE) + 0.3])
    reference = np.stack([numpy_fbank(c, window=window) for c in clips])
    ours64 = kaldi_fbank(torch.from_numpy(clips), num_mel_bins=128, window=window).numpy()
    assert ours64.shape == (3, 1 + (RATE - 400) // 160, 128) == reference.shape
    assert np.abs(ours64 - reference).max() < 1e-4  # the float32 banks' last bits (torchaudio's: 2e-12 off)
    ours32 = kaldi_fbank(torch.from_numpy(clips).float(), num_mel_bins=128, window=window).numpy()
    assert ours32.dtype == np.float32 and np.abs(ours32 - reference).max() < 2e-3  # torchaudio: 3.7e-4 off


def test_imagebinds_mel_bands_decided_in_float32():
    banks = mel_banks(128, 512, 16000.0, 20.0, 0.0)
    assert np.array_equal(banks.numpy() > 0, numpy_mel_banks() > 0)
    assert np.abs(banks.numpy() - numpy_mel_banks()).max() < 5e-5
    holds = (banks > 0).sum(1)
    assert holds[3] == 0 and int((holds == 1).sum()) == 24  # band 3 holds no FFT bin, 24 hold one
    silence = kaldi_fbank(torch.zeros(1, 2 * RATE), num_mel_bins=128, window="hanning")
    assert torch.allclose(silence, torch.tensor(math.log(np.finfo(np.float32).eps)))  # -15.9424 everywhere


# ----- ImageBind's audio preprocessing ----------------------------------------------------------------------

def test_clip_positions_follow_the_constant_clips_sampler():
    assert clip_bounds(5 * RATE, RATE, 2.0, 3) == [(0, 32000), (24000, 56000), (48000, 80000)]
    assert clip_bounds(80001, RATE, 2.0, 3) == [(0, 32000), (24000, 56000), (48001, 80001)]  # 24000.5 -> 24000
    assert clip_bounds(3 * RATE + 3, RATE, 2.0, 3) == [(0, 32000), (8001, 40001), (16003, 48003)]
    assert clip_bounds(RATE, RATE, 2.0, 3) == [(0, 32000)] * 3  # shorter than a clip: three copies


def test_inputs_match_load_and_transform_audio_data():
    x = np.random.default_rng(0).normal(0, 0.1, 3 * RATE) + np.linspace(0, 0.5, 3 * RATE)  # a drift: DC matters
    config = encoder_config("imagebind")
    ours = imagebind_inputs(torch.from_numpy(x), config, "average", 0.0)
    reference = numpy_imagebind_inputs(x, [0, RATE // 2, RATE])
    assert ours.shape == (3, 1, 128, 204) and ours.dtype == torch.float32
    assert np.abs(ours.numpy() - reference).max() < 2e-4
    assert np.allclose(ours[..., 198:].numpy(), (0 - IB_MEAN) / IB_STD)  # 198 frames + 6 zero columns
    window = imagebind_inputs(torch.from_numpy(x), config, "window", 0.4)
    assert np.abs(window.numpy() - numpy_imagebind_inputs(x, [int(0.4 * RATE)])).max() < 2e-4


def test_a_short_sound_is_padded_as_imagebind_pads_it_and_says_so():
    x = np.random.default_rng(1).normal(0, 0.1, RATE // 5)  # 0.2 s
    with pytest.warns(UserWarning, match=r"0\.20 s.*18 frames.*padded with zeros to 204"):
        ours = imagebind_inputs(torch.from_numpy(x), encoder_config("imagebind"), "average", 0.0)
    reference = numpy_imagebind_inputs(x, [0, 0, 0])  # three copies, the mean subtracted again each time
    assert ours.shape == (1, 1, 128, 204)  # embedded once: the copies agree to float rounding
    assert np.abs(ours.numpy() - reference).max() < 2e-4
    assert np.allclose(ours[..., 18:].numpy(), 0.46706062)


# ----- the audio trunk and the towers ------------------------------------------------------------------------

def test_audio_encoder_matches_the_float64_reference(files):
    encoder = load_audio_encoder(files["full"], device="cpu")  # kind detected from the keys
    assert (encoder.kind, encoder.space, encoder.dim, encoder.sample_rate) == ("imagebind", VIT_H_SPACE, EMBED, RATE)
    s = float64_state(files["full"])
    x = np.random.default_rng(2).normal(0, 0.1, 5 * RATE)
    clips = encoder.prepare(Audio(torch.from_numpy(x).float()[None], RATE))
    with torch.no_grad():
        out = encoder.net(clips).double().numpy()
    reference = reference_audio(s, clips.double().numpy())
    assert np.abs(out - reference).max() < 1e-3 * 20  # ImageBind's output: unit vectors x 20
    assert np.allclose(np.linalg.norm(out, axis=-1), 20.0, atol=1e-4)
    embedding = encoder.encode(Audio(torch.from_numpy(x).float()[None], RATE)).vectors.double().numpy()
    assert np.abs(embedding[0] - unit(reference.mean(0))).max() < 1e-4  # the mean of the three, normalised


def test_audio_only_file_is_an_encoder_and_the_towers_alone_are_a_clip(files):
    assert load_audio_encoder(files["audio"], device="cpu").kind == "imagebind"
    with pytest.raises(CheckpointError, match=r"imagebind_vision_text\.pth.*without the audio modality.*text, "
                                              r"vision.*imagebind-huge"):
        load_audio_encoder(files["towers"])
    with pytest.raises(CheckpointError, match=r"imagebind_audio\.pth.*without its image and text towers.*holds "
                                              r"audio.*clip-vit-h-14-laion2b"):
        load_clip(None, files["audio"])
    with pytest.raises(CheckpointError, match="OpenCLIP ViT-H-14, not ViT-B-32"):
        load_clip("ViT-B-32", files["full"])
    assert load_clip(None, files["towers"]).space == VIT_H_SPACE


def test_clip_towers_match_imagebinds_vision_and_text(files):
    clip = load_clip(None, files["full"], device="cpu")
    assert (clip.space, clip.dim, clip.image_size) == (VIT_H_SPACE, EMBED, 56)
    assert clip.space == load_audio_encoder(files["full"], device="cpu").space
    s = float64_state(files["full"])
    pixels = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        ours = clip.image_features(pixels).double().numpy()
    assert np.abs(ours - reference_vision(s, pixels.double().numpy())).max() < 1e-4
    import open_clip

    tokens = open_clip.tokenize(["a dog barking", "rain on a window"])
    reference = unit(reference_text(s, tokens.numpy()))
    assert np.abs(clip.encode_text(["a dog barking", "rain on a window"]).vectors.double().numpy()
                  - reference).max() < 1e-5
    assert math.isclose(float(clip.model.logit_scale), math.log(1 / 0.07), rel_tol=1e-6)


def test_renamed_and_truncated_files_are_named(files, tmp_path):
    renamed = tmp_path / "imagebind.ckpt"
    shutil.copy(files["audio"], renamed)
    assert load_audio_encoder(renamed, device="cpu").kind == "imagebind"  # the content decides, not the name
    truncated = tmp_path / "imagebind_huge.pth"
    truncated.write_bytes(files["full"].read_bytes()[: files["full"].stat().st_size // 2])
    for load in (lambda: load_audio_encoder(truncated), lambda: load_clip(None, truncated)):
        with pytest.raises(CheckpointError, match=r"imagebind_huge\.pth.*damaged.*re-download it"):
            load()
    state = read_state_dict(files["audio"], "ImageBind", "write it")
    del state["modality_trunks.audio.blocks.1.mlp.fc2.weight"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match=r"cut\.pth.*missing 'modality_trunks\.audio\.blocks\.1\.mlp\.fc2"):
        load_audio_encoder(tmp_path / "cut.pth", kind="imagebind")


# ----- through the generic paths -----------------------------------------------------------------------------

def test_zero_shot_and_the_cli_edit_run_with_one_imagebind_file(files, tmp_path):
    encoder, clip = load_audio_encoder(files["full"], device="cpu"), load_clip(None, files["full"], device="cpu")
    sound = Audio(torch.randn(1, 3 * RATE) * 0.1, RATE)
    ranking = classify(encoder, clip, [sound], ["dog", "rain", "engine"])[0]
    assert sorted(label for label, _ in ranking) == ["dog", "engine", "rain"]
    assert math.isclose(sum(p for _, p in ranking), 1.0, rel_tol=1e-5)
    root = write_cli_files(tmp_path)
    write_sound(root / "short.wav", seconds=1.0, rate=44100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 1 s: ImageBind's padding warning
        code = main(["manipulate", "--audio", str(root / "short.wav"), "--generator",
                     str(root / "models" / "stylegan2" / "landscape.pt"), "--encoder", str(files["full"]),
                     "--clip", str(files["full"]), "--steps", "2", "--device", "cpu", "--out",
                     str(tmp_path / "edit.png")])
    assert code == 0 and (tmp_path / "edit.png").is_file()


def test_open_clips_own_vit_h_file_is_the_clip_of_the_same_space(files, tmp_path):
    """open_clip's ViT-H-14 layout (its heads 80 wide in vision, 64 in text, as its own config says) at a small
    width: read off the shapes, rebuilt, and equal to the model it came from; an audio-only ImageBind file
    pairs with it by space."""
    import open_clip
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    config = open_clip.get_model_config("ViT-H-14")
    assert config["vision_cfg"]["width"] // config["vision_cfg"]["head_width"] == 16 and config["embed_dim"] == 1024
    assert config["text_cfg"]["width"] // config["text_cfg"]["heads"] == 64
    torch.manual_seed(0)
    original = CLIP(1024, CLIPVisionCfg(layers=2, width=160, head_width=80, patch_size=14, image_size=28),
                    CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1)).eval()
    torch.save(original.state_dict(), tmp_path / "open_clip_pytorch_model.bin")
    clip = load_clip(None, tmp_path / "open_clip_pytorch_model.bin", device="cpu")
    assert clip.space == VIT_H_SPACE == load_audio_encoder(files["audio"], device="cpu").space
    assert clip.model.visual.transformer.resblocks[0].attn.num_heads == 2  # 160 / 80
    pixels = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        assert torch.allclose(clip.image_features(pixels), original.encode_image(pixels), atol=1e-5)
        tokens = open_clip.tokenize(["a dog"])
        assert torch.allclose(clip.model.encode_text(tokens), original.encode_text(tokens), atol=1e-5)


def test_the_manifest_states_the_licence_and_fetches_the_clip_from_the_encoder_file():
    from soundclip_core.cli.models import clip_request
    from soundclip_core.weights import find_entry

    entry = find_entry("imagebind-huge")
    assert entry.license.startswith("CC BY-NC-SA 4.0") and "non-commercial" in entry.license
    assert entry.sha256 is None and "not published" in entry.notes  # Meta publishes no checksum
    assert entry.space == find_entry("clip-vit-h-14-laion2b").space == VIT_H_SPACE
    assert clip_request("imagebind-huge") == ("imagebind-huge", "audio_encoder")


def test_large_files_are_memory_mapped_with_the_same_result(files, monkeypatch):
    """A file of at least MMAP_BYTES (ImageBind's 4.8 GB) is mapped, not read into memory; the loaders copy what
    they keep, so the encoder and the CLIP are the same either way."""
    from soundclip_core.checkpoints import reader

    sound = Audio(torch.randn(1, 5 * RATE) * 0.1, RATE)
    read = load_audio_encoder(files["full"], device="cpu").encode(sound).vectors
    texts = load_clip(None, files["full"], device="cpu").encode_text(["rain"]).vectors
    monkeypatch.setattr(reader, "MMAP_BYTES", 0)
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k["mmap"]) or torch.serialization.load(*a, **k))
    assert torch.equal(load_audio_encoder(files["full"], device="cpu").encode(sound).vectors, read)
    assert torch.equal(load_clip(None, files["full"], device="cpu").encode_text(["rain"]).vectors, texts)
    assert calls == [True, True]


def test_the_inference_copy_runs_prepacked_and_agrees_with_the_network(files):
    """The frozen copy that encodes (oneDNN packs on the CPU, fused bias/GELU/residual) gives the network's numbers;
    the last block, whose CLS row alone is read, has its keys/values' projection packed, not the queries'."""
    encoder = load_audio_encoder(files["full"], device="cpu")
    clips = encoder.prepare(Audio(torch.from_numpy(np.random.default_rng(4).normal(0, 0.1, 5 * RATE)).float()[None],
                                  RATE))
    twin = encoder.runner
    *body, last = twin.modality_trunks["audio"].blocks
    width = last.attn.out_proj.weight.shape[0]
    assert last.mlp.packs == {} and not encoder.net.pack_when_run  # packed on its first run, the network never
    with torch.no_grad():
        fast = twin(clips).double().numpy()
    if torch.backends.mkldnn.is_available():
        probe = torch.zeros(1)
        with torch.no_grad():
            for block in body:
                assert block.attn.packs["in"].fits(probe, block.attn.in_proj_weight)
                assert all(block.mlp.packs[n].fits(probe, getattr(block.mlp, n).weight) for n in ("fc1", "fc2"))
            assert last.attn.packs["in"].fits(probe, last.attn.in_proj_weight[width:])
            assert last.attn.packs["in"].source[1] == (2 * width, width)
    with torch.no_grad():
        plain = encoder.net(clips).double().numpy()
    reference = reference_audio(float64_state(files["full"]), clips.double().numpy())
    assert np.abs(fast - plain).max() < 2e-5 and np.abs(fast - reference).max() < 2e-5  # of vectors of length 20
    encoder.to(torch.float64)  # off the kernels the packs were made for: none kept, the linears fall back
    with torch.no_grad():
        assert np.abs(twin(clips.double()).numpy() - reference).max() < 1e-6  # the scale 20 was exp of a float32
    assert all(block.attn.packs == block.mlp.packs == {} for block in (*body, last))
    encoder.to(torch.float32)  # back: packed again on its next run, for the weights where they now are
    if torch.backends.mkldnn.is_available():
        with torch.no_grad():
            assert np.abs(twin(clips).double().numpy() - fast).max() < 1e-6
            assert last.attn.packs["in"].fits(torch.zeros(1), last.attn.in_proj_weight[width:])
        comfy = load_audio_encoder(files["full"], device="cpu")
        with torch.inference_mode():  # ComfyUI builds and runs the copy under inference mode: packed all the same
            assert np.abs(comfy.runner(clips).double().numpy() - fast).max() < 1e-6
            comfy_last = comfy.runner.modality_trunks["audio"].blocks[-1]
            assert comfy_last.mlp.packs["fc1"].fits(clips, comfy_last.mlp.fc1.weight)
