"""Teaching it your own sounds (issue 28): the auto recipe on the synthetic set and on a harder one built like real
recordings, the best epoch exported and named by the log, Cancel keeping the best epoch, captions that keep
their class names, the held-out split, and every bad collection."""

from __future__ import annotations

import json
import os
import random
import tracemalloc

import numpy as np
import pytest
import soundfile
import torch
from devices import TEST_DEVICE
from sound_datasets import CLASSES, RATE, synth, write_folder, write_hard_folder
from train_helpers import FRONTEND, small_net, text_clip

from soundclip_core.checkpoints import read_state_dict
from soundclip_core.cli import main
from soundclip_core.clip import save_clip
from soundclip_core.datasets import open_dataset
from soundclip_core.encoders import encoder_config
from soundclip_core.encoders.registry import metadata_path
from soundclip_core.errors import Cancelled, DatasetError
from soundclip_core.train import TrainConfig, train
from soundclip_core.train.auto import resolve
from soundclip_core.train.checkpoint import export_encoder
from soundclip_core.train.collection import MAX_LABELS, stratified_split, training_warnings
from soundclip_core.train.data import TrainSet
from soundclip_core.train.features import MAX_SECONDS, compute_features
from soundclip_core.train.loss import contrastive_loss, grouped_info_nce, info_nce
from soundclip_core.train.text_augment import eda_keeping


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def teach(data, out, **kw) -> TrainConfig:
    """The auto recipe as `--data FOLDER` gets it, on the tests' reduced front end; the tests' small network is
    random (not pretrained), so its trunk learns at the head's rate, as it would from scratch."""
    settings = {"frontend": FRONTEND, "workers": 0, "progress": False, "prompt": "{}", "lr": 1e-2, "trunk_lr": 1e-2}
    settings.update(kw)
    return TrainConfig(data=str(data), out=str(out), **settings)


def snapshots() -> tuple[dict, callable]:
    """An on_epoch hook keeping a copy of the network's weights after every epoch."""
    kept: dict[int, dict] = {}

    def hook(row, net, epochs):
        kept[row["epoch"]] = {k: v.detach().clone() for k, v in net.state_dict().items()}

    return kept, hook


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----- learning -------------------------------------------------------------------------------------------------

def test_auto_recipe_lifts_held_out_accuracy_on_the_hard_set_and_exports_the_best_epoch(tmp_path):
    data = write_hard_folder(tmp_path / "hard", per_class=24)
    kept, hook = snapshots()
    result = train(teach(data, tmp_path / "run", epochs=20), clip=text_clip(), net=small_net(), on_epoch=hook)
    config = result.config
    assert (config.recipe, config.batch_size, config.holdout, config.export) == ("auto", 16, 0.2, "best")
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    before = log[0]
    assert before["epoch"] == 0 and before["val_zero_shot"] <= 0.4  # 4 labels: chance is 0.25
    assert sorted(before["val_per_class"]) == sorted(CLASSES)  # 5 of every label's 24 clips held out
    assert sum(sum(row.values()) for row in before["val_confusion"].values()) == 20
    best = log[-1]["best_epoch"]
    best_row = log[best]
    assert best_row["val_zero_shot"] == max(row["val_zero_shot"] for row in log)
    assert best_row["val_zero_shot"] >= 0.5  # at least twice chance
    confusion = best_row["val_confusion"]
    correct = sum(confusion.get(label, {}).get(label, 0) for label in CLASSES)
    assert correct / 20 == pytest.approx(best_row["val_zero_shot"])
    for label in CLASSES:  # each label's accuracy is its row of the confusion table: right / its 5 held-out clips
        assert sum(confusion[label].values()) == 5
        assert best_row["val_per_class"][label] == pytest.approx(confusion[label].get(label, 0) / 5)
    assert np.mean(list(best_row["val_per_class"].values())) == pytest.approx(best_row["val_zero_shot"])
    exported = read_state_dict(result.encoder, "an encoder", "export it")
    assert same_weights(exported, kept[best])  # the file is the epoch the log names
    assert json.loads(metadata_path(result.encoder).read_text())["epoch"] == best
    if best != log[-1]["epoch"]:
        assert not same_weights(exported, kept[log[-1]["epoch"]])


def test_auto_recipe_on_the_synthetic_set_and_early_stopping(tmp_path):
    data = write_folder(tmp_path / "easy", per_class=12)
    result = train(teach(data, tmp_path / "run", epochs=30, patience=4), clip=text_clip(), net=small_net())
    log = result.log
    best = log[-1]["best_epoch"]
    assert log[best]["val_zero_shot"] >= 0.85 and log[0]["val_zero_shot"] <= 0.5
    # a plateau (nothing learns at rate 0): the first trained epoch stays the best, and the run stops exactly
    # `patience` epochs after it, long before its 30
    flat = train(teach(write_folder(tmp_path / "flat", per_class=4), tmp_path / "flat_run", epochs=30, patience=3,
                       lr=0.0, trunk_lr=0.0), clip=text_clip(), net=small_net()).log
    assert [row["epoch"] for row in flat] == [0, 1, 2, 3, 4] and flat[-1]["best_epoch"] == 1


def test_cancel_keeps_the_best_epoch(tmp_path):
    """The hook cancels at the first epoch that is not a new best: the saved encoder is the best epoch before it."""
    data = write_folder(tmp_path / "easy", per_class=8)
    kept, keep = snapshots()
    seen = []

    def hook(row, net, epochs):
        keep(row, net, epochs)
        seen.append(row)
        if len(seen) > 1 and row["best_epoch"] != row["epoch"]:
            raise Cancelled(f"cancelled after epoch {row['epoch']}")

    with pytest.raises(Cancelled):
        train(teach(data, tmp_path / "run", epochs=25, patience=25), clip=text_clip(), net=small_net(),
              on_epoch=hook)
    stopped, best = seen[-1]["epoch"], seen[-1]["best_epoch"]
    assert best < stopped
    saved = read_state_dict(tmp_path / "run" / "encoder.pth", "an encoder", "export it")
    assert same_weights(saved, kept[best]) and not same_weights(saved, kept[stopped])
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert log[-1]["epoch"] == stopped and log[-1]["best_epoch"] == best


# ----- captions, split, objective -------------------------------------------------------------------------------

def test_caption_augmentation_never_alters_the_class_name():
    for name in ("dog barking", "clock tick", "rain", "car horn"):
        for caption in (name, f"a {name} heard from far away", f"the loud sound of {name} outside"):
            variants = {eda_keeping(caption, name, random.Random(seed)) for seed in range(200)}
            assert all(name in v for v in variants), [v for v in variants if name not in v]
            assert len(variants) >= 5
    names = ["dog barking", "rain"] * 3
    items = TrainSet(lambda i: np.zeros((4, 8), np.float16), names, {"frames": 8, "resize": [8, 4]}, seed=1,
                     names=names)
    for epoch in range(20):
        items.epoch = epoch
        for i in range(len(items)):
            item = items[i]
            assert names[i] in item["caption"] and item["group"] == i % 2


def test_grouped_objective_treats_a_class_as_positives():
    g = torch.Generator().manual_seed(0)
    a, t = (torch.nn.functional.normalize(torch.randn(6, 5, generator=g), dim=-1) for _ in range(2))
    distinct = grouped_info_nce(a, t, torch.arange(6), 3.0)
    assert torch.allclose(torch.stack(distinct), torch.stack(info_nce(a, t, 3.0)))  # one clip per class: InfoNCE
    groups = torch.tensor([0, 0, 0, 1, 1, 1])
    logits = 3.0 * a @ t.t()
    expected = 0.0
    for i in range(6):
        positives = [j for j in range(6) if groups[j] == groups[i]]
        expected -= sum(torch.log_softmax(logits[i], 0)[j] for j in positives) / len(positives)
    assert float(grouped_info_nce(a, t, groups, 3.0)[0]) == pytest.approx(float(expected) / 6, abs=1e-5)
    terms = contrastive_loss(a, t, 3.0, groups=groups)
    assert float(terms["audio_text"]) == pytest.approx(float(sum(grouped_info_nce(a, t, groups, 3.0))), abs=1e-6)


def labelled_folder(root, counts: dict[str, int]):
    for label, count in counts.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            soundfile.write(root / label / f"c{k}.wav", synth(CLASSES[k % 4], 100 * len(label) + k), RATE)
    return root


def test_stratified_split_is_seeded_and_labels_with_one_clip_train_only(tmp_path):
    dataset = open_dataset("folder", labelled_folder(tmp_path / "d", {"alone": 1, "pair": 2, "three": 3,
                                                                      "many": 10}))
    train_set, held = stratified_split(dataset, 0.2, seed=5)
    held_counts = {label: sum(c.label == label for c in held.clips) for label in dataset.classes}
    assert held_counts == {"alone": 0, "pair": 0, "three": 1, "many": 2}
    assert len(train_set) + len(held) == len(dataset) and held.classes == dataset.classes
    assert stratified_split(dataset, 0.2, seed=5)[1].clips == held.clips
    assert any(stratified_split(dataset, 0.2, seed=s)[1].clips != held.clips for s in range(6, 10))
    warnings = training_warnings(list(train_set.clips), dataset.classes)
    assert any("'alone' has only 1 training clip:" in w for w in warnings)
    assert any("'three' has only 2 training clips" in w for w in warnings)
    assert not any("'many'" in w for w in warnings)


def test_auto_sizes_batch_epochs_and_learning_rates_to_the_data():
    small, _ = resolve(TrainConfig(data="x"), 76, 1, "space", 64, given_network=False)
    assert (small.batch_size, small.epochs, small.lr, small.trunk_lr, small.patience) == (16, 60, 5e-3, 5e-3, 15)
    large, notes = resolve(TrainConfig(data="x"), 150_000, 2, "space", 64, given_network=False)
    assert large.batch_size == 256 and large.epochs == 10 and "from scratch" in notes[0]
    tuned, _ = resolve(TrainConfig(data="x"), 76, 1, "space", 64, given_network=True)
    assert (tuned.lr, tuned.trunk_lr) == (1e-3, pytest.approx(1e-4))
    official, _ = resolve(TrainConfig(data="x", recipe="official"), 76, 1, "space", 64, given_network=False)
    assert (official.batch_size, official.epochs, official.export, official.patience) == (320, 50, "last", None)


# ----- bad collections -------------------------------------------------------------------------------------------

def test_ten_thousand_labels_are_refused_before_any_audio_is_read(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    for k in range(10_000):
        os.mkdir(root / f"label{k}")
        (root / f"label{k}" / "x.wav").write_bytes(b"not audio: never decoded")
    with pytest.raises(DatasetError, match=f"10000 labels, over the {MAX_LABELS}") as error:
        train(teach(root, tmp_path / "run"), clip=text_clip(), net=small_net())
    assert error.value.fix and not (tmp_path / "run" / "cache").exists()


def test_a_label_folder_of_silent_files_is_refused_naming_the_folder(tmp_path):
    data = write_folder(tmp_path / "d", per_class=4)
    for clip in (data / "snore").iterdir():
        soundfile.write(clip, np.zeros(RATE, np.float32), RATE)
    with pytest.raises(DatasetError, match=r"none of the 4 clips of label 'snore' can be used \(the sound is silent"
                       ) as error:
        train(teach(data, tmp_path / "run"), clip=text_clip(), net=small_net())
    assert str(data / "snore") in str(error.value)
    assert not (tmp_path / "run" / "train_state.pt").exists()


def test_mixed_rates_are_resampled_and_short_clips_padded(tmp_path):
    data = tmp_path / "d"
    for c, label in enumerate(CLASSES):
        (data / label).mkdir(parents=True)
        for k, rate in enumerate((8000, 16000, 22050, 44100)):
            sound = synth(label, 300 + 10 * c + k, rate=rate, seconds=0.1 if k == 3 else 1.0)
            soundfile.write(data / label / f"c{k}.wav", sound, rate)
    cfg = {**FRONTEND, "top_db": 80.0}
    same = synth("bird", 1, rate=16000)
    soundfile.write(tmp_path / "a16.wav", same, 16000)
    soundfile.write(tmp_path / "a8.wav", same[::2], 8000)
    high, low = compute_features(tmp_path / "a16.wav", cfg), compute_features(tmp_path / "a8.wav", cfg)
    assert high.shape == low.shape == (32, 126)  # both at the front end's 8 kHz
    assert np.abs(high.astype(np.float32) - low.astype(np.float32)).mean() < 0.05
    result = train(teach(data, tmp_path / "run", epochs=2, batch_size=4, holdout=0.25), clip=text_clip(),
                   net=small_net())
    assert len(result.log) == 3 and result.encoder.is_file()
    short = compute_features(data / "bird" / "c3.wav", cfg)
    assert short.shape[1] < FRONTEND["frames"]  # 0.1 s: padded to the window when trained on


def test_an_hour_long_clip_is_read_in_bounded_segments(tmp_path):
    path = tmp_path / "hour.wav"
    rate = 8000
    with soundfile.SoundFile(path, "w", rate, 1, "PCM_16") as f:
        for minute in range(60):  # silence for 59 minutes, then a tone: the first minute alone would be silent
            t = np.arange(60 * rate) / rate
            f.write((0.3 * np.sin(2 * np.pi * 440 * t) if minute == 59 else np.zeros_like(t)).astype(np.float32))
    cfg = {**FRONTEND, "top_db": 80.0}
    tracemalloc.start()
    features = compute_features(path, cfg)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert features.shape == (32, int(MAX_SECONDS * rate) // FRONTEND["hop_length"] + 1)
    assert peak < 40e6  # the whole hour as float32 would be 115 MB
    assert features[:, -100:].max() > 0.5  # the last segment, from the last minute, has the tone


def test_cli_with_only_data_and_clip_runs_the_auto_recipe_and_reports(tmp_path, capsys):
    data = write_folder(tmp_path / "d", per_class=4)
    clip_file = tmp_path / "clip.safetensors"
    save_clip(text_clip(), clip_file)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--clip", str(clip_file), "--epochs", "1", "--out", str(out),
                 "--workers", "0", "--device", str(TEST_DEVICE)]) == 0
    printed = capsys.readouterr().out
    assert "training from scratch" in printed and "held-out zero-shot accuracy" in printed
    assert "warning: label 'bird' has only 3 training clips" in printed
    assert "confusion at the best epoch" in printed and "bird" in printed
    log = json.loads((out / "log.json").read_text())
    assert log[0]["epoch"] == 0 and log[-1]["best_epoch"] == 1


def test_auto_fine_tunes_the_papers_encoder_when_it_is_on_this_machine(tmp_path, monkeypatch):
    from soundclip_core.encoders import build_audio_encoder

    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path))
    config = TrainConfig(data="x")
    fresh, notes = resolve(config, 400, 1, "openai/ViT-B-32", 512, given_network=False)
    assert fresh.init is None and "training from scratch" in notes[0] and fresh.lr == 5e-3
    paper = tmp_path / "soundclip_audio_encoders" / "resnet18_57.pth"
    paper.parent.mkdir()
    torch.save(build_audio_encoder("soundclip", device="cpu").net.state_dict(), paper)
    tuned, notes = resolve(config, 400, 1, "openai/ViT-B-32", 512, given_network=False)
    assert tuned.init == str(paper) and notes == [f"fine-tuning the paper's encoder {paper}"]
    assert (tuned.lr, tuned.trunk_lr) == (1e-3, pytest.approx(1e-4))
    other, _ = resolve(config, 400, 1, "openai/RN50", 1024, given_network=False)  # not the paper's CLIP
    assert other.init is None
    given, _ = resolve(TrainConfig(data="x", init=str(tmp_path / "mine.pth")), 400, 1, "openai/ViT-B-32", 512,
                       given_network=False)
    assert given.init == str(tmp_path / "mine.pth") and given.trunk_lr == pytest.approx(1e-4)


@pytest.mark.parametrize("failing", ["weights", "sidecar"])
def test_an_export_that_fails_midway_keeps_the_old_encoder_and_sidecar_together(tmp_path, monkeypatch, failing):
    path = tmp_path / "encoder.pth"
    export_encoder(small_net(), path, "soundclip", "x", encoder_config("soundclip"), {"epoch": 1})
    old = path.read_bytes(), metadata_path(path).read_text()

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    if failing == "weights":
        monkeypatch.setattr(torch, "save", full_disk)
    else:
        monkeypatch.setattr(json, "dumps", full_disk)
    with pytest.raises(OSError, match="No space"):
        export_encoder(small_net(seed=3), path, "soundclip", "y", encoder_config("soundclip"), {"epoch": 2})
    assert (path.read_bytes(), metadata_path(path).read_text()) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder.pth", "encoder.pth.json"]

