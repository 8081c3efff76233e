"""Training: loss terms against direct formulas, SpecAugment bands, EDA, zero-shot accuracy that rises
with a short run, DDP = one process, exact resume, the exported checkpoint, and every bad input."""

from __future__ import annotations

import json
import math
import random
import shutil
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from devices import TEST_DEVICE
from sound_datasets import CLASSES, write_esc50, write_manifest
from train_helpers import FRONTEND, ddp_worker, small_net, text_clip

from soundclip_core.audio import Audio
from soundclip_core.checkpoints import read_checkpoint, read_state_dict
from soundclip_core.cli import main
from soundclip_core.clip import save_clip
from soundclip_core.datasets import open_dataset
from soundclip_core.encoders import build_audio_encoder, load_audio_encoder
from soundclip_core.encoders.registry import metadata_path
from soundclip_core.errors import CheckpointError, DatasetError, SoundClipError
from soundclip_core.evaluate.metrics import topk_accuracy
from soundclip_core.evaluate.zeroshot import class_embeddings
from soundclip_core.train import TrainConfig, train
from soundclip_core.train.augment import crop_or_pad, sample_bands, spec_augment
from soundclip_core.train.features import FeatureCache
from soundclip_core.train.loss import contrastive_loss, info_nce
from soundclip_core.train.network import build_network
from soundclip_core.train.text_augment import eda, random_insertion, random_swap, synonym_table
from soundclip_core.train.validate import embed_features


@pytest.fixture(autouse=True)
def one_thread():
    """Small convolutions on a shared 2-core machine run ~50x faster on one thread than on two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def esc(tmp_path_factory):
    return write_esc50(tmp_path_factory.mktemp("esc") / "ESC-50", per_fold=4)


def config(data, out, **kw) -> TrainConfig:
    settings = {"epochs": 2, "batch_size": 16, "recipe": "modern", "lr": 3e-3, "frontend": FRONTEND,
                "workers": 0, "progress": False, "prompt": "{}", "text_augment": False}
    settings.update(kw)
    return TrainConfig(data=str(data), out=str(out), **settings)


# ----- the objective against direct formulas --------------------------------------------------------

def direct_nce(x, y, scale):
    """-1/N sum_i log softmax_j(scale <x_i, y_j>)[i], in float64 loops."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    total = 0.0
    for i in range(len(x)):
        logits = [scale * float(x[i] @ y[j]) for j in range(len(y))]
        total -= logits[i] - math.log(sum(math.exp(v) for v in logits))
    return total / len(x)


def unit(t):
    return t / t.norm(dim=-1, keepdim=True)


def test_loss_terms_match_direct_formulas():
    g = torch.Generator().manual_seed(0)
    a, t, a2, v = (unit(torch.randn(6, 5, generator=g)) for _ in range(4))
    scale = math.exp(0.07)
    forward, backward = info_nce(a, t, scale)
    assert float(forward) == pytest.approx(direct_nce(a, t, scale), abs=1e-6)
    assert float(backward) == pytest.approx(direct_nce(t, a, scale), abs=1e-6)
    official = contrastive_loss(3 * a, t, scale, augmented=a2)  # un-normalised inputs are normalised
    at = direct_nce(a, t, scale) + direct_nce(t, a, scale)
    aa = direct_nce(a, a2, scale) + direct_nce(a2, a, scale)
    assert float(official["audio_text"]) == pytest.approx(at, abs=1e-5)
    assert float(official["audio_audio"]) == pytest.approx(aa, abs=1e-5)
    assert float(official["total"]) == pytest.approx((at + aa) / 4, abs=1e-5)  # the official /4
    has = torch.tensor([True, False, True, True, False, True])
    rows = has.numpy()
    full = contrastive_loss(a, t, 14.0, augmented=a2, image=v, has_image=has)
    ai = direct_nce(a[rows], v[rows], 14.0) + direct_nce(v[rows], a[rows], 14.0)
    assert float(full["audio_image"]) == pytest.approx(ai, abs=1e-5)
    at14 = direct_nce(a, t, 14.0) + direct_nce(t, a, 14.0)
    aa14 = direct_nce(a, a2, 14.0) + direct_nce(a2, a, 14.0)
    assert float(full["total"]) == pytest.approx((at14 + aa14 + ai) / 6, abs=1e-5)
    assert "audio_image" not in contrastive_loss(a, t, 1.0, image=v, has_image=torch.eye(6)[0].bool())


def test_spec_augment_masks_exactly_the_bands():
    resized = torch.rand(2, 64, 32) + 0.5
    bands = torch.tensor([[[3, 4, 10, 6], [20, 0, 50, 2]], [[0, 1, 0, 0], [31, 1, 63, 1]]])
    out = spec_augment(resized, bands)
    expected = resized.clone()
    expected[0, :, 3:7] = 0
    expected[0, 10:16] = 0
    expected[0, 50:52] = 0
    expected[1, :, 0] = 0
    expected[1, :, 31] = 0
    expected[1, 63] = 0
    assert torch.equal(out, expected)
    rng = np.random.default_rng(0)
    drawn = np.stack([sample_bands(rng, 512, 128) for _ in range(2000)])  # the official (512 x 128) array
    assert drawn.shape == (2000, 2, 4)
    assert drawn[..., 1].max() <= int(0.15 * 128) and drawn[..., 3].max() <= int(0.30 * 512)
    assert drawn[..., 1].max() >= 17 and drawn[..., 3].max() >= 145  # the whole range is used
    assert ((drawn[..., 0] + drawn[..., 1]) <= 128).all() and ((drawn[..., 2] + drawn[..., 3]) <= 512).all()


def test_crop_or_pad_follows_the_official_offsets():
    mel = np.ones((4, 10), np.float16)
    assert np.array_equal(crop_or_pad(mel, 16, None)[:, :10], mel) and crop_or_pad(mel, 16, None)[:, 10:].sum() == 0
    offsets = {int(np.argmax(crop_or_pad(mel, 13, np.random.default_rng(s))[0])) for s in range(200)}
    assert offsets == {0, 1, 2}  # randint(0, frames - w - 1), inclusive
    long = np.arange(40, dtype=np.float32)[None].repeat(2, 0)
    starts = {int(crop_or_pad(long, 16, np.random.default_rng(s))[0, 0]) for s in range(300)}
    assert starts == set(range(25))


def test_eda_uses_the_synonym_table():
    table = synonym_table()
    assert "hound" in table["dog"] and "dog" in table["hound"]  # groups are symmetric
    rng = random.Random(3)
    words = "a dog barking loudly".split()
    swapped = random_swap(words, rng)
    assert sorted(swapped) == sorted(words)
    inserted = random_insertion(["dog"], random.Random(1))
    assert len(inserted) == 2 and set(inserted) - {"dog"} <= set(table["dog"])
    assert eda("dog barking", random.Random(5)) == eda("dog barking", random.Random(5))
    variants = {eda("dog barking", random.Random(s)) for s in range(30)}
    assert len(variants) > 5 and all(set(v.split()) <= {"dog", "barking", *table["dog"], *table["barking"]}
                                     for v in variants)
    assert eda("zzz", random.Random(0)) == "zzz"


# ----- training runs ----------------------------------------------------------------------------------

def held_out_accuracy(net, data, cache_root, fold=5):
    dataset = open_dataset("esc50", data)
    held = dataset.select([fold])
    cache = FeatureCache(cache_root, "soundclip", {**FRONTEND, "top_db": 80.0})
    net.eval()
    audio = embed_features(net, [cache.load(c) for c in held.clips], {**FRONTEND}, torch.device("cpu"))
    texts = class_embeddings(text_clip(), dataset.classes, ["{}"]).vectors
    return topk_accuracy(audio @ texts.t(), torch.as_tensor(list(held.targets())))


def test_zero_shot_accuracy_rises_from_chance(esc, tmp_path):
    result = train(config(esc, tmp_path / "run", epochs=10), clip=text_clip(), net=small_net())
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert log == json.loads(json.dumps(result.log)) and [row["epoch"] for row in log] == list(range(11))
    assert log[0]["val_zero_shot"] <= 0.5 and "loss" not in log[0]  # before training; 4 classes: chance is 0.25
    assert max(row["val_zero_shot"] for row in log[-3:]) >= 0.85
    assert log[-1]["loss"] < 0.75 * log[1]["loss"]
    assert (tmp_path / "run" / "log.csv").read_text().startswith("epoch,loss,audio_text")
    untrained = small_net(seed=1)
    assert held_out_accuracy(untrained, esc, tmp_path / "run" / "cache") <= 0.5
    trained = small_net()
    trained.load_state_dict(read_state_dict(result.encoder, "an encoder", "export it"))
    assert held_out_accuracy(trained, esc, tmp_path / "run" / "cache") >= 0.85


def test_resume_reproduces_an_uninterrupted_run(esc, tmp_path):
    whole = train(config(esc, tmp_path / "whole", epochs=3, recipe="official", lr=1e-3, text_augment=True),
                  clip=text_clip(), net=small_net())
    part = config(esc, tmp_path / "part", epochs=3, recipe="official", lr=1e-3, text_augment=True)
    stopped = train(part, clip=text_clip(), net=small_net(), stop_after=2)
    assert stopped.encoder is None and [row["epoch"] for row in stopped.log] == [0, 1, 2]
    part.resume = True
    resumed = train(part, clip=text_clip(), net=small_net(seed=7))  # the state, not the new init, is used
    assert [r.get("loss") for r in resumed.log] == [r.get("loss") for r in whole.log]
    a = read_state_dict(whole.encoder, "an encoder", "export it")
    b = read_state_dict(resumed.encoder, "an encoder", "export it")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(SoundClipError, match=r"different configuration: batch_size: 16 -> 8"):
        train(config(esc, tmp_path / "part", epochs=3, recipe="official", lr=1e-3, text_augment=True,
                     batch_size=8, resume=True), clip=text_clip(), net=small_net())
    with pytest.raises(SoundClipError, match="already holds a training run"):
        train(config(esc, tmp_path / "part"), clip=text_clip(), net=small_net())
    with pytest.raises(CheckpointError, match="no training state to resume"):
        train(config(esc, tmp_path / "fresh", resume=True), clip=text_clip(), net=small_net())


def test_resume_of_the_modern_recipe_with_accumulation_reproduces_an_uninterrupted_run(esc, tmp_path):
    """AdamW's moments, the per-step schedule part-way through its cosine, the learnable logit scale and the
    RNGs all come back through the trainer's one restore: bit for bit the uninterrupted run."""
    settings = {"epochs": 2, "batch_size": 8, "accumulate": 3, "text_augment": True}
    whole = train(config(esc, tmp_path / "whole", **settings), clip=text_clip(), net=small_net())
    part = config(esc, tmp_path / "part", **settings)
    assert len(train(part, clip=text_clip(), net=small_net(), stop_after=1).log) == 2  # epoch 0 (before) and 1
    part.resume = True
    resumed = train(part, clip=text_clip(), net=small_net(seed=7))
    assert whole.log[1]["lr"] != whole.log[2]["lr"] and whole.log[1]["logit_scale"] != whole.log[2]["logit_scale"]
    keys = ("loss", "audio_text", "audio_audio", "lr", "logit_scale", "val_zero_shot", "val_per_class")
    assert [[r.get(k) for k in keys] for r in resumed.log] == [[r.get(k) for k in keys] for r in whole.log]
    a = read_checkpoint(whole.state, "a state", "train again")
    b = read_checkpoint(resumed.state, "a state", "train again")
    assert all(torch.equal(a["trainee"][k], b["trainee"][k]) for k in a["trainee"])
    assert a["optimizer"]["state"] and a["scheduler"] == b["scheduler"] and a["epoch"] == b["epoch"] == 2
    assert all(torch.equal(x["exp_avg"], y["exp_avg"]) and torch.equal(x["exp_avg_sq"], y["exp_avg_sq"])
               for x, y in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("recipe", ["modern", "auto"])  # auto: the class groups and per-label scores gathered too
def test_two_process_ddp_matches_one_process(esc, tmp_path, recipe):
    kwargs = {"data": str(esc), "out": str(tmp_path / "ddp"), "epochs": 2, "batch_size": 16, "recipe": recipe,
              "lr": 3e-3, "frontend": FRONTEND, "workers": 0, "progress": False, "prompt": "{}"}
    single = train(TrainConfig(**{**kwargs, "out": str(tmp_path / "one")}), clip=text_clip(), net=small_net())
    results = mp.get_context("fork").SimpleQueue()  # fork: the children start without re-importing torch
    mp.start_processes(ddp_worker, args=(2, free_port(), kwargs, results), nprocs=2, start_method="fork")
    losses = results.get()
    assert losses == pytest.approx([row["loss"] for row in single.log if row["epoch"]], rel=1e-4, abs=1e-5)
    a = read_state_dict(single.encoder, "an encoder", "export it")
    b = read_state_dict(tmp_path / "ddp" / "encoder.pth", "an encoder", "export it")
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-3


def test_exported_checkpoint_loads_and_image_term_is_used(tmp_path):
    manifest = write_manifest(tmp_path / "data")
    (tmp_path / "data" / "clips" / "snore.png").write_bytes(b"\x89PNG broken")
    clip = text_clip()
    result = train(config(manifest, tmp_path / "run", epochs=1, batch_size=4, frontend={**FRONTEND}),
                   clip=clip)  # the real resnet18 (default network) on the reduced front end
    assert result.log[0]["audio_image"] > 0  # three of the four pictures are readable
    listed = (tmp_path / "run" / "cache" / "unreadable_frames.txt").read_text()
    assert listed.startswith(str(tmp_path / "data" / "clips" / "snore.png")) and len(listed.splitlines()) == 1
    state = read_checkpoint(result.encoder, "an encoder", "export it")
    assert all(isinstance(v, torch.Tensor) for v in state.values())  # a plain state dict, as resnet18_57.pth
    meta = json.loads(metadata_path(result.encoder).read_text())
    assert meta["kind"] == "soundclip" and meta["space"] == clip.space and meta["frontend"]["n_mels"] == 32
    encoder = load_audio_encoder(result.encoder, device=TEST_DEVICE)
    assert encoder.space == clip.space and encoder.dim == clip.dim and encoder.config["sample_rate"] == 8000
    from sound_datasets import synth

    embedding = encoder.encode(Audio(torch.from_numpy(synth("bird", 1))[None], 8000))
    assert embedding.vectors.shape == (1, clip.dim) and embedding.space == clip.space


# ----- bad input --------------------------------------------------------------------------------------

def test_init_checks_kind_space_and_imagenet_weights(tmp_path):
    wav2clip = tmp_path / "wav2clip.pt"
    torch.save(build_audio_encoder("wav2clip", device="cpu").net.state_dict(), wav2clip)
    with pytest.raises(CheckpointError, match="is a wav2clip encoder checkpoint"):
        build_network("soundclip", 64, wav2clip, "soundclip-selftest/tiny")
    other = tmp_path / "other.pth"
    torch.save(build_audio_encoder("soundclip", embed_dim=64, device="cpu").net.state_dict(), other)
    metadata_path(other).write_text(json.dumps({"kind": "soundclip", "space": "openai/RN50"}))
    with pytest.raises(CheckpointError, match="lives in CLIP space 'openai/RN50'"):
        build_network("soundclip", 64, other, "soundclip-selftest/tiny")
    metadata_path(other).unlink()  # no sidecar: the kind's space, ViT-B-32
    net, origin = build_network("soundclip", 64, other, "openai/ViT-B-32")
    assert origin.startswith("fine-tuned") and net.training
    with pytest.raises(CheckpointError, match="64-d embeddings, the CLIP 512-d"):
        build_network("soundclip", 512, other, "openai/ViT-B-32")
    import timm

    imagenet = timm.create_model("resnet18", num_classes=1000)
    torch.save(imagenet.state_dict(), tmp_path / "resnet18_imagenet.pth")
    net, origin = build_network("soundclip", 64, tmp_path / "resnet18_imagenet.pth", "any")
    assert torch.equal(net.feature_extractor.layer3[0].conv1.weight, imagenet.layer3[0].conv1.weight)
    assert net.feature_extractor.fc.weight.shape == (64, 512) and origin.startswith("ImageNet")
    (tmp_path / "junk.pth").write_bytes(b"\x80\x02junk")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        build_network("soundclip", 64, tmp_path / "junk.pth", "any")


def test_bad_runs_fail_early_with_clear_errors(esc, tmp_path):
    clip, net = text_clip(), small_net()
    for kwargs, error, message in (
        ({"batch_size": 500}, DatasetError, "fewer than one batch of 500"),
        ({"folds": (1, 9)}, DatasetError, r"folds \[9\]"),
        ({"precision": "fp16"}, SoundClipError, "fp16 needs a CUDA device"),
        ({"recipe": "adam"}, SoundClipError, "unknown recipe"),
        ({"prompt": "a sound"}, SoundClipError, "has no {}"),
        ({"frontend": {**FRONTEND, "resize": [63, 31]}}, SoundClipError, "cannot be reshaped to 32 mel rows"),
    ):
        with pytest.raises(error, match=message):
            train(config(esc, tmp_path / "bad"), clip=clip, net=net) if not kwargs else \
                train(config(esc, tmp_path / "bad", **kwargs), clip=clip, net=net)
    with pytest.raises(DatasetError, match="has no folds"):
        train(config(write_manifest(tmp_path / "m"), tmp_path / "bad2", folds=(1,)), clip=clip, net=net)


def test_unreadable_clips_are_listed_and_skipped_and_corrupt_cache_refused(esc, tmp_path):
    data = shutil.copytree(esc, tmp_path / "esc")
    broken = sorted((data / "audio").glob("1-*.wav"))[0]
    broken.write_bytes(b"RIFF\x00\x00not really a wave file")
    result = train(config(data, tmp_path / "run", epochs=1), clip=text_clip(), net=small_net())
    listing = next((tmp_path / "run" / "cache").glob("*/unreadable.txt")).read_text()
    assert listing.startswith(str(broken.resolve())) and len(listing.splitlines()) == 1
    assert result.encoder.is_file()
    cached = sorted(next((tmp_path / "run" / "cache").glob("soundclip-*")).glob("*.npy"))[3]
    cached.write_bytes(cached.read_bytes()[:40])
    with pytest.raises(DatasetError, match="corrupt feature cache file"):
        train(config(data, tmp_path / "run2", epochs=1, cache=str(tmp_path / "run" / "cache")), clip=text_clip(),
              net=small_net())


def test_cli_trains_and_reports_bad_folds(tmp_path, capsys):
    manifest = write_manifest(tmp_path / "data", with_images=False)
    clip_file = tmp_path / "clip.safetensors"
    save_clip(text_clip(), clip_file)
    common = ["train", "--data", str(manifest), "--clip", str(clip_file), "--device", str(TEST_DEVICE),
              "--workers", "0"]
    assert main([*common, "--folds", "one"]) == 2
    assert "argument --folds: 'one' is not a list of fold ids" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main([*common, "--epochs", "1", "--batch-size", "4", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    encoder = load_audio_encoder(out / "encoder.pth", device=TEST_DEVICE)
    assert encoder.space == text_clip().space and encoder.config["frames"] == 864  # the real front end
    assert len(CLASSES) == 4


def test_gradient_accumulation_steps_once_per_group(esc, tmp_path):
    result = train(config(esc, tmp_path / "acc", epochs=1, batch_size=8, accumulate=3), clip=text_clip(),
                   net=small_net())
    state = read_checkpoint(result.state, "a state", "train again")
    assert state["scheduler"]["last_epoch"] == 3  # 8 batches of 8 clips in groups of 3: steps after 3, 6 and 8
    assert state["epoch"] == 1 and state["config"]["accumulate"] == 3
