"""The Swin audio encoder: a tiny one trains above chance on the synthetic dataset, its export loads back with
its size and gives the trained network's outputs, ImageNet --init weights, and checkpoints for another input
size refused with one clear error."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from sound_datasets import synth, write_esc50
from train_helpers import FRONTEND, text_clip

from soundclip_core.audio import Audio
from soundclip_core.encoders import build_audio_encoder, load_audio_encoder
from soundclip_core.encoders.registry import metadata_path
from soundclip_core.encoders.swin import SwinAudioNet
from soundclip_core.errors import CheckpointError, SoundClipError
from soundclip_core.train import TrainConfig, train
from soundclip_core.train.network import build_network

TINY = {"img_size": 56, "window_size": 7, "width": 16, "depths": (1, 1), "num_heads": (1, 2)}
SWIN_FRONTEND = {**FRONTEND, "resize": [56, 56]}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_swin(seed: int = 0) -> SwinAudioNet:
    torch.manual_seed(seed)
    return SwinAudioNet(64, **TINY)


def settings(data, out, **kw) -> TrainConfig:
    values = {"kind": "swin", "epochs": 30, "batch_size": 16, "recipe": "modern", "lr": 1e-3,
              "frontend": SWIN_FRONTEND, "workers": 0, "progress": False, "prompt": "{}", "text_augment": False}
    return TrainConfig(data=str(data), out=str(out), **{**values, **kw})


def test_a_tiny_swin_trains_above_chance_and_its_export_loads_back_equal(tmp_path):
    esc = write_esc50(tmp_path / "ESC-50", per_fold=4)
    net = tiny_swin()
    result = train(settings(esc, tmp_path / "run"), clip=text_clip(), net=net)
    log = result.log
    assert log[0]["epoch"] == 0 and log[0]["val_zero_shot"] <= 0.5  # before training; 4 classes: chance is 0.25
    assert max(row["val_zero_shot"] for row in log[-3:]) >= 0.75
    assert log[-1]["loss"] < 0.9 * log[1]["loss"]
    meta = json.loads(metadata_path(result.encoder).read_text())
    assert meta["kind"] == "swin" and meta["network"]["width"] == 16 and meta["frontend"]["resize"] == [56, 56]
    encoder = load_audio_encoder(result.encoder, device="cpu")
    assert encoder.kind == "swin" and encoder.dim == 64 and encoder.net.settings == net.settings
    sound = Audio(torch.from_numpy(synth("bird", 5))[None], 8000)
    inputs = encoder.prepare(sound)
    assert inputs.shape == (1, 1, 32, 98)  # the 56 x 56 image, flattened as the paper's front end does
    with torch.no_grad():
        expected = F.normalize(net.eval()(inputs), dim=-1)
    assert torch.allclose(encoder.encode(sound).vectors, expected, atol=1e-5)
    tuned, origin = build_network("swin", 64, result.encoder, text_clip().space)  # --init: fine-tune it
    assert origin.startswith("fine-tuned") and tuned.settings == net.settings and tuned.training


def test_the_default_swin_takes_224_pixel_images():
    encoder = build_audio_encoder("swin", device="cpu")
    assert encoder.config["resize"] == [224, 224] and encoder.dim == 512 and encoder.net.swin.num_features == 768
    inputs = encoder.prepare(Audio(torch.from_numpy(synth("snore", 1, rate=44100, seconds=2.0))[None], 44100))
    assert inputs.shape == (1, 1, 128, 392)
    assert encoder.embed_inputs([inputs]).shape == (1, 512)


def timm_swin(window: int = 7, img_size: int = 224):
    import timm

    torch.manual_seed(1)
    return timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, window_size=window, img_size=img_size)


def test_init_from_imagenet_swin_sums_the_rgb_stem_and_starts_the_projection_fresh(tmp_path):
    imagenet = timm_swin()
    path = tmp_path / "swin_tiny.pth"
    torch.save({"model": imagenet.state_dict()}, path)  # Microsoft's release nests it under "model"
    net, origin = build_network("swin", 64, path, "any")
    assert origin.startswith("ImageNet backbone")
    stem = imagenet.state_dict()["patch_embed.proj.weight"]
    assert torch.equal(net.swin.patch_embed.proj.weight, stem.sum(1, keepdim=True))
    assert torch.equal(net.swin.layers[2].blocks[5].mlp.fc2.weight, imagenet.layers[2].blocks[5].mlp.fc2.weight)
    assert net.proj.weight.shape == (64, 768)


def test_swin_checkpoints_for_another_input_size_are_refused(tmp_path):
    hts = tmp_path / "window8.pth"
    torch.save(timm_swin(window=8, img_size=256).state_dict(), hts)
    with pytest.raises(CheckpointError, match="attention windows of 8") as caught:
        build_network("swin", 64, hts, "any")
    assert caught.value.path == str(hts)
    encoder = tmp_path / "encoder.pth"
    torch.save(SwinAudioNet(64, **{**TINY, "img_size": 64, "window_size": 8}).state_dict(), encoder)
    small = {"resize": [56, 56], "n_mels": 32}
    metadata_path(encoder).write_text(json.dumps({"kind": "swin", "space": "x", "network": TINY, "frontend": small}))
    with pytest.raises(CheckpointError, match="attention windows of 8"):
        load_audio_encoder(encoder)
    metadata_path(encoder).write_text(json.dumps({"kind": "swin", "space": "x", "network": {**TINY, "img_size": 64},
                                                  "frontend": small}))
    with pytest.raises(CheckpointError, match=r"resizes to \[56, 56\], the network takes 64 x 64") as caught:
        load_audio_encoder(encoder)
    assert caught.value.path == str(metadata_path(encoder))
    metadata_path(encoder).write_text(json.dumps({"kind": "swin", "space": "x", "network": {"depth": 3}}))
    with pytest.raises(CheckpointError, match="'depth' is not a network setting"):
        load_audio_encoder(encoder)
    metadata_path(encoder).write_text(json.dumps({"kind": "swin", "space": "x", "network": [1, 2]}))
    with pytest.raises(CheckpointError, match="'network' must be a JSON object") as caught:
        load_audio_encoder(encoder)
    assert caught.value.path == str(metadata_path(encoder)) and caught.value.fix
    metadata_path(encoder).write_text(json.dumps({"kind": "swin", "space": "x", "frontend": {"resize": [56, 56]}}))
    with pytest.raises(CheckpointError, match=r"\[56, 56\] image cannot be laid out in 128 mel rows"):
        load_audio_encoder(encoder)


def test_a_front_end_that_does_not_match_the_swin_is_refused_before_caching(tmp_path):
    esc = write_esc50(tmp_path / "ESC-50", per_fold=1, folds=2)
    with pytest.raises(SoundClipError, match=r"resized to \[64, 32\], the swin network takes 56 x 56"):
        train(settings(esc, tmp_path / "run", frontend=FRONTEND, batch_size=2), clip=text_clip(), net=tiny_swin())
    assert not (tmp_path / "run" / "cache").exists()
