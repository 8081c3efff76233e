"""Evaluation (Table 1): metrics against hand-computed values, prompt ensembling, the linear probe, batched
embedding, `soundclip evaluate` end to end on synthetic datasets in the published layouts, the zero-shot
node under inference mode, and every bad input."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import open_clip
import pytest
import soundfile
import torch
import torch.nn.functional as F
from devices import TEST_DEVICE
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from pack_loading import import_pack
from sound_datasets import write_esc50, write_folder, write_vggsound
from tiny_models import stand_in_clip, write_audioclip

from soundclip_core.audio import Audio, load_audio
from soundclip_core.cli import main
from soundclip_core.clip import ClipModel, save_clip
from soundclip_core.datasets import open_dataset
from soundclip_core.embedding import Embedding
from soundclip_core.encoders import AudioEncoder, build_audio_encoder
from soundclip_core.errors import EmbeddingSpaceError, SoundClipError
from soundclip_core.evaluate import class_embeddings, embed_clips, evaluate_pair, fit_logistic, linear_probe, plan
from soundclip_core.evaluate.metrics import (
    average_precisions,
    mean_average_precision,
    ndcg,
    retrieval_metrics,
    topk_accuracy,
)

TINY = 64
WIDE = 512  # Wav2CLIP's MLP is square on ResNet18's 512 features: its space needs a 512-d CLIP
TONES = tuple(f"tone_{i}" for i in range(10))  # ten classes: chance is 10 %


def wide_clip() -> ClipModel:
    """A tiny random CLIP with 512-d embeddings, tagged as ViT-B-32 (Wav2CLIP's and the paper's space)."""
    torch.manual_seed(5)
    model = CLIP(WIDE, CLIPVisionCfg(layers=1, width=64, patch_size=8, image_size=32),
                 CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1), quick_gelu=True)
    return ClipModel(model.eval().requires_grad_(False), "openai/ViT-B-32", "tiny 512-d CLIP")


# ---------------------------------------------------------------- metrics on small fixed matrices

SCORES = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.6, 0.25, 0.15]])
TARGETS = torch.tensor([0, 2, 2, 1])


def test_topk_accuracy_by_hand():
    assert topk_accuracy(SCORES, TARGETS, 1) == 0.5  # rows 0 and 2 right, 1 and 3 wrong
    assert topk_accuracy(SCORES, TARGETS, 2) == 1.0  # row 1: {1, 2}; row 3: {0, 1}
    assert topk_accuracy(SCORES, TARGETS, 5) == 1.0  # k capped at the 3 classes


def test_classification_map_by_hand():
    # class 0: clip 0 ranked 1st -> AP 1; class 1: clip 3 ranked 3rd (0.5, 0.3, 0.25) -> 1/3;
    # class 2: clips 2 and 1 ranked 1st and 2nd -> 1
    assert mean_average_precision(SCORES, TARGETS) == pytest.approx((1 + 1 / 3 + 1) / 3)
    # a class without clips is left out of the mean, not counted as 0
    assert mean_average_precision(SCORES[[0, 2]], TARGETS[[0, 2]]) == pytest.approx(1.0)
    ap = average_precisions(torch.tensor([[0.1, 0.9, 0.3, 0.5]]), torch.tensor([[True, False, True, False]]))
    assert float(ap[0]) == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_retrieval_metrics_by_hand():
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.5], [0.8, 0.2, 0.1, 0.4], [0.3, 0.2, 0.1, 0.0]])
    relevant = torch.tensor([[True, False, True, False], [True, False, False, False], [False] * 4])
    # query 0: relevant at ranks 3 and 4; query 1 at rank 1; query 2 has none and is left out
    ndcg0 = (1 / math.log2(4) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    result = retrieval_metrics(scores, relevant, ks=(1, 3, 10))
    assert result["R@1"] == 0.5 and result["R@3"] == 1.0 and result["R@10"] == 1.0 and result["queries"] == 2
    assert result["mAP"] == pytest.approx(((1 / 3 + 2 / 4) / 2 + 1) / 2)
    assert result["nDCG"] == pytest.approx((ndcg0 + 1) / 2)
    at2 = ndcg(scores[:2], relevant[:2], k=2)
    assert float(at2[0]) == 0.0 and float(at2[1]) == pytest.approx(1.0)


# ---------------------------------------------------------------- prompt ensembling

def test_prompt_ensembling_is_the_mean_of_unit_text_embeddings():
    clip = stand_in_clip()
    templates = ["{}", "the sound of {}", "a recording of a {}"]
    got = class_embeddings(clip, ["car_horn", "dog"], templates)
    with torch.no_grad():
        expected = []
        for words in ("car horn", "dog"):  # class names cleaned: underscores become spaces
            text = clip.model.encode_text(open_clip.tokenize([t.format(words) for t in templates]))
            expected.append(F.normalize(F.normalize(text, dim=-1).mean(0), dim=0))
    assert got.space == clip.space and got.vectors.shape == (2, clip.dim)
    assert torch.allclose(got.vectors, torch.stack(expected), atol=1e-6)
    single = class_embeddings(clip, ["car_horn", "dog"], ["{}"])
    assert not torch.allclose(single.vectors, got.vectors, atol=1e-3)  # the ensemble is not one prompt


# ---------------------------------------------------------------- linear probe

def _clusters(n_per_class: int, classes: int, dim: int, seed: int, spread: float = 0.3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g)
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = F.normalize(centres[y] + spread * torch.randn(len(y), dim, generator=g), dim=-1)
    return x, y


def test_fit_logistic_reaches_the_penalised_optimum():
    x, y = _clusters(20, 3, 8, seed=0, spread=1.5)
    probe = fit_logistic(x, y, 3, l2=1e-2)
    weight, bias = probe.weight.clone().requires_grad_(True), probe.bias.clone().requires_grad_(True)
    loss = F.cross_entropy(x @ weight + bias, y) + 1e-2 * weight.square().sum()
    loss.backward()
    assert float(weight.grad.abs().max()) < 1e-4 and float(bias.grad.abs().max()) < 1e-4


def test_linear_probe_separates_separable_embeddings_and_is_near_chance_on_random_labels():
    x, y = _clusters(40, 4, 16, seed=1)
    groups = torch.arange(len(y)) % 4 + 1
    test, train = groups == 1, groups != 1
    result = linear_probe(x[train], y[train], groups[train], x[test], y[test], 4)
    assert result["top1"] == 1.0 and result["mAP"] == pytest.approx(1.0)
    g = torch.Generator().manual_seed(2)
    noise = F.normalize(torch.randn(800, 16, generator=g), dim=-1)
    labels = torch.randint(0, 4, (800,), generator=g)
    groups = torch.arange(800) % 4 + 1
    test, train = groups == 1, groups != 1
    random = linear_probe(noise[train], labels[train], groups[train], noise[test], labels[test], 4)
    assert abs(random["top1"] - 0.25) < 0.1 and random["clips"] == 200


# ---------------------------------------------------------------- batched embedding

def test_batched_embedding_equals_one_clip_at_a_time(tmp_path):
    full = build_audio_encoder("wav2clip", device=TEST_DEVICE)  # half-second windows keep the test fast
    encoder = AudioEncoder("wav2clip", full.net, full.space, "test", {**full.config, "window_seconds": 0.5})
    rng = np.random.default_rng(3)
    sounds = [rng.normal(0, 0.1, int(16000 * s)).astype(np.float32) for s in (0.5, 0.25, 0.5, 1.2, 0.5)]
    inputs = [encoder.prepare(Audio(torch.from_numpy(y)[None], 16000)) for y in sounds]
    assert [len(x) for x in inputs] == [1, 1, 1, 3, 1]  # the 1.2 s clip: three evenly spaced 0.5 s windows
    batched = encoder.embed_inputs(inputs, batch_size=2)  # windows of mixed lengths, grouped by shape
    single = torch.cat([encoder.encode(Audio(torch.from_numpy(y)[None], 16000)).vectors for y in sounds])
    assert torch.allclose(batched, single, atol=1e-5)
    paths = []
    for i, y in enumerate(sounds[:3]):
        paths.append(tmp_path / f"{i}.wav")
        soundfile.write(paths[-1], y, 16000, subtype="FLOAT")
    paths.insert(1, tmp_path / "broken.wav")
    paths[1].write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    threaded = embed_clips(encoder, paths, batch_size=2, workers=2)
    inline = embed_clips(encoder, paths, batch_size=3, workers=0)
    assert threaded.ok.tolist() == [True, False, True, True] and inline.ok.tolist() == threaded.ok.tolist()
    assert torch.allclose(threaded.vectors[threaded.ok], single[:3], atol=1e-5)
    assert torch.allclose(inline.vectors, threaded.vectors, atol=1e-5)
    assert threaded.skipped[0][0] == str(paths[1]) and "cannot decode" in threaded.skipped[0][1]
    assert set(threaded.seconds) == {"decode", "frontend", "network", "wall"} and threaded.clips_per_second > 0


# ---------------------------------------------------------------- the CLI end to end

def _write_tones(root, per_class: int = 3, rate: int = 16000):
    """A label folder of ten classes, each a pure tone of its own pitch (with a little noise)."""
    rng = np.random.default_rng(4)
    t = np.arange(rate // 2) / rate
    for c, label in enumerate(TONES):
        (root / label).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            y = 0.3 * np.sin(2 * math.pi * 150 * 1.4 ** c * t) + rng.normal(0, 0.01, t.shape)
            soundfile.write(root / label / f"{k}.wav", y.astype(np.float32), rate)
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    write_esc50(root / "esc50", per_fold=1, seconds=0.5)
    _write_tones(root / "tones")
    models = root / "models"
    models.mkdir()
    soundclip = build_audio_encoder("soundclip", device="cpu", seed=1)
    torch.save({f"module.{k}": v for k, v in soundclip.net.state_dict().items()}, models / "resnet18_57.pth")
    torch.save(build_audio_encoder("wav2clip", device="cpu", seed=2).net.state_dict(), models / "Wav2CLIP.pt")
    save_clip(wide_clip(), models / "ViT-B-32.safetensors")
    write_audioclip(models / "AudioCLIP-Full-Training.pt")
    return root


def _run(files, *args: str) -> int:
    return main(["evaluate", *args, "--device", str(TEST_DEVICE), "--no-cache"])


def test_cli_table_one_for_three_encoders_paired_by_space(files, capsys):
    m = files / "models"
    out = files / "out" / "table1.json"
    code = _run(files, "--dataset", "esc50", str(files / "esc50"),
                "--encoder", str(m / "resnet18_57.pth"), "--encoder", str(m / "Wav2CLIP.pt"),
                "--encoder", str(m / "AudioCLIP-Full-Training.pt"),
                "--clip", str(m / "AudioCLIP-Full-Training.pt"), "--clip", str(m / "ViT-B-32.safetensors"),
                "--template", "{}", "--template", "the sound of {}", "--json", str(out))
    assert code == 0
    printed = capsys.readouterr().out
    table = printed[printed.index("Classification"):]
    lines = table.splitlines()
    assert "ESC-50" in lines[1] and "ZS top-1" in lines[2] and "ZS mAP" in lines[2]
    assert [line.split("|")[0].strip() for line in lines[4:7]] == ["resnet18_57", "Wav2CLIP",
                                                                   "AudioCLIP-Full-Training"]
    assert "T->A nDCG" in printed and "clips/s" in printed
    report = json.loads(out.read_text())
    assert [e["clip"].endswith(c) for e, c in zip(report["encoders"], ("ViT-B-32.safetensors",) * 2
                                                   + ("AudioCLIP-Full-Training.pt",), strict=True)] == [True] * 3
    assert report["templates"] == ["{}", "the sound of {}"] and "by class" in report["relevance"]
    dataset = report["datasets"][0]
    assert dataset["clips"] == dataset["evaluated"] == 20 and dataset["skipped"] == []
    for name in ("resnet18_57", "Wav2CLIP", "AudioCLIP-Full-Training"):
        result = report["results"][name]["esc50"]
        assert set(result) == {"zero_shot", "audio_to_text", "text_to_audio", "timing"}
        folds = result["zero_shot"]["folds"]
        assert sorted(folds) == ["1", "2", "3", "4", "5"] and all(f["clips"] == 4 for f in folds.values())
        mean = sum(f["top1"] for f in folds.values()) / 5
        assert result["zero_shot"]["mean"]["top1"] == pytest.approx(mean)
        assert result["text_to_audio"]["folds"]["3"]["queries"] == 4
        assert result["timing"]["clips_per_second"] > 0
    row = lines[4].split("|")
    assert float(row[1]) == pytest.approx(100 * report["results"]["resnet18_57"]["esc50"]["zero_shot"]["mean"]["top1"],
                                          abs=0.06)


def test_cli_untrained_encoder_is_near_chance_on_ten_classes_and_the_probe_is_not(files, capsys):
    out = files / "out" / "tones.json"
    assert _run(files, "--dataset", "folder", str(files / "tones"), "--folds", "1-3", "--linear-probe", "--encoder",
                str(files / "models" / "resnet18_57.pth"), "--clip", str(files / "models" / "ViT-B-32.safetensors"),
                "--json", str(out)) == 0
    result = json.loads(out.read_text())["results"]["resnet18_57"]["folder"]
    assert list(result["zero_shot"]["folds"]) == ["1", "2", "3"]  # a folder split into 3 stratified folds
    zero_shot = result["zero_shot"]["mean"]
    assert zero_shot["clips"] == 30 and zero_shot["top1"] <= 0.3  # chance: 0.1
    # the same random features, read by a linear probe trained on the other folds, tell the pitches apart
    assert result["linear_probe"]["mean"]["top1"] >= 0.4  # 57 % measured, four times chance
    assert all(f["clips"] == 10 for f in result["linear_probe"]["folds"].values())
    printed = capsys.readouterr().out
    assert "LR top-1" in printed and "3 folds [1, 2, 3]" in printed


def test_protocols(files, tmp_path):
    esc50 = open_dataset("esc50", files / "esc50")
    assert plan(esc50).folds == (1, 2, 3, 4, 5) and plan(esc50, folds=(1, 2)).folds == (1, 2)
    assert plan(esc50, folds=(5,)).folds == (5,) and plan(esc50).note == ""
    whole = plan(open_dataset("folder", files / "tones"))
    assert whole.folds is None and whole.description == "whole set (30 clips)"
    split = plan(open_dataset("folder", files / "tones"), folds=(1, 2, 3))
    per_class_fold = {(c.label, c.fold) for c in split.dataset.clips}
    assert len(per_class_fold) == 30  # each class's three clips land in three different folds
    vggsound = plan(open_dataset("vggsound", write_vggsound(tmp_path / "vgg")))
    assert {c.split for c in vggsound.dataset.clips} == {"test"} and vggsound.folds is None


def test_a_perfect_encoder_scores_one_everywhere(files):
    """The same pipeline is not stuck at chance: audio embeddings equal to their class's text embedding."""
    planned = plan(open_dataset("esc50", files / "esc50"))
    texts = class_embeddings(stand_in_clip(), planned.dataset.classes, ["{}"])
    vectors = texts.vectors[torch.tensor(planned.dataset.targets())]
    result = evaluate_pair(planned, vectors, torch.ones(len(vectors), dtype=torch.bool), texts)
    assert result["zero_shot"]["mean"]["top1"] == 1.0 and result["zero_shot"]["mean"]["mAP"] == 1.0
    assert result["audio_to_text"]["mean"]["R@1"] == 1.0 and result["text_to_audio"]["mean"]["nDCG"] == 1.0


def test_unreadable_clips_are_skipped_and_listed(files, tmp_path, capsys):
    import shutil

    copy = shutil.copytree(files / "esc50", tmp_path / "esc50")
    broken = sorted((copy / "audio").iterdir())[0]
    broken.write_bytes(b"not a sound at all")
    out = tmp_path / "r.json"
    assert _run(files, "--dataset", "esc50", str(copy), "--encoder", str(files / "models" / "Wav2CLIP.pt"),
                "--clip", str(files / "models" / "ViT-B-32.safetensors"), "--json", str(out)) == 0
    assert f"skipped {broken.resolve()}: " in capsys.readouterr().out
    dataset = json.loads(out.read_text())["datasets"][0]
    assert dataset["evaluated"] == 19 and dataset["skipped"][0]["path"] == str(broken.resolve())


# ---------------------------------------------------------------- bad input: one clear error, nothing written

def _esc50_variant(files, tmp_path, edit):
    import shutil

    root = shutil.copytree(files / "esc50", tmp_path / "variant")
    with open(root / "meta" / "esc50.csv", newline="") as f:
        rows = list(csv.reader(f))
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        csv.writer(f).writerows(edit(rows))
    return root


@pytest.mark.parametrize("case, expected", [
    ("missing column", "missing column(s) ['category']"),
    ("bad fold", "column 'fold' must be a number"),
    ("one class", "single class"),
])
def test_bad_metadata_is_one_error_before_any_work(files, tmp_path, capsys, case, expected):
    edits = {
        "missing column": lambda rows: [[c for i, c in enumerate(r) if i != 3] for r in rows],
        "bad fold": lambda rows: [rows[0], [rows[1][0], "x", *rows[1][2:]], *rows[2:]],
        "one class": lambda rows: [rows[0]] + [r for r in rows[1:] if r[3] == rows[1][3]],
    }
    root = _esc50_variant(files, tmp_path, edits[case])
    out = tmp_path / "never.json"
    code = _run(files, "--dataset", "esc50", str(root), "--encoder", str(files / "models" / "nothing-loaded.pth"),
                "--clip", "x", "--json", str(out))
    assert code == 2 and expected in capsys.readouterr().err  # raised before the (missing) models are loaded
    assert not out.exists()


def test_a_copy_with_some_folds_is_evaluated_on_the_folds_it_has(files, tmp_path, capsys):
    root = _esc50_variant(files, tmp_path, lambda rows: [rows[0]] + [r for r in rows[1:] if int(r[1]) == 5])
    models = ["--encoder", str(files / "models" / "resnet18_57.pth"), "--clip",
              str(files / "models" / "ViT-B-32.safetensors")]
    out = tmp_path / "fold5.json"
    assert _run(files, "--dataset", "esc50", str(root), *models, "--json", str(out)) == 0
    assert "esc50's protocol has 5 folds, this copy has 1: evaluated on the folds it has" in capsys.readouterr().out
    assert list(json.loads(out.read_text())["results"]["resnet18_57"]["esc50"]["zero_shot"]["folds"]) == ["5"]
    # --folds are fold ids, as in train: fold 5 of the complete dataset alone
    assert _run(files, "--dataset", "esc50", str(files / "esc50"), "--folds", "5", *models, "--json", str(out)) == 0
    folds = json.loads(out.read_text())["results"]["resnet18_57"]["esc50"]["zero_shot"]["folds"]
    assert list(folds) == ["5"] and folds["5"]["clips"] == 4


def test_other_bad_inputs(files, tmp_path, capsys):
    m = files / "models"
    esc50 = ["--dataset", "esc50", str(files / "esc50")]
    sound = ["--encoder", str(m / "resnet18_57.pth")]
    vit = ["--clip", str(m / "ViT-B-32.safetensors")]
    empty = write_folder(tmp_path / "folder")
    (empty / "silence").mkdir()
    cases = [
        (["--dataset", "esc50", str(tmp_path / "nowhere"), *sound, *vit], "dataset path does not exist"),
        (["--dataset", "folder", str(empty), *sound, *vit], "class 'silence' has no sound files"),
        ([*esc50, *sound, "--clip", str(m / "AudioCLIP-Full-Training.pt")],
         "encoder resnet18_57 (" + str(m / "resnet18_57.pth") + ") lives in CLIP space 'openai/ViT-B-32', but CLIP"),
        ([*esc50, *sound, "--encoder", str(m / "AudioCLIP-Full-Training.pt"), *vit],
         "no CLIP of encoder AudioCLIP-Full-Training's space"),
        ([*esc50, "--folds", "7", *sound, *vit],
         "fold 7 asked for, but this copy of the dataset has folds [1, 2, 3, 4, 5]"),
        (["--dataset", "folder", str(files / "tones"), "--linear-probe", *sound, *vit],
         "the linear probe trains on some folds"),
        ([*esc50, *sound, *vit, "--template", "the sound of"], "must contain '{}' exactly once"),
    ]
    for args, expected in cases:
        assert _run(files, *args) == 2, expected
        assert expected in capsys.readouterr().err


# ---------------------------------------------------------------- the node

def test_zero_shot_node_under_inference_mode(files):
    node = import_pack().NODE_CLASS_MAPPINGS["SoundCLIP_ZeroShotClassify"]()
    encoder = build_audio_encoder("soundclip", embed_dim=TINY, device=TEST_DEVICE, seed=1, space="openai/ViT-B-32")
    clip = stand_in_clip()
    sound = load_audio(sorted((files / "tones" / "tone_3").iterdir())[0])
    audio = {"waveform": torch.stack([sound.waveform, sound.waveform * 0.5]), "sample_rate": sound.sample_rate}
    labels = "rain\ncar_horn\n\ndog barking\n"
    with torch.inference_mode():
        ranking, top = node.classify(audio, encoder, clip, labels, "{} | the sound of {}")
        single, _ = node.classify({"waveform": sound.waveform[None], "sample_rate": sound.sample_rate}, encoder,
                                  clip, labels, "{}")
    blocks = ranking.split("\n\n")
    assert len(blocks) == 2 and blocks[0].startswith("# sound 1")
    lines = blocks[0].splitlines()[1:]
    assert sorted(line.split(":")[0] for line in lines) == ["car_horn", "dog barking", "rain"]
    values = [float(line.split(": ")[1]) for line in lines]
    assert values == sorted(values, reverse=True) and sum(values) == pytest.approx(1.0, abs=2e-3)
    assert top.split(", ")[0] == lines[0].split(":")[0]
    # independently: softmax(100 * cosine) of the sound against the bare prompts
    audio_vector = encoder.encode(sound).vectors
    text = F.normalize(clip.model.encode_text(open_clip.tokenize(["rain", "car horn", "dog barking"])), dim=-1)
    expected = F.softmax(100 * audio_vector @ text.t(), dim=-1)[0]
    got = {line.split(": ")[0]: float(line.split(": ")[1]) for line in single.splitlines()}
    assert [got[k] for k in ("rain", "car_horn", "dog barking")] == pytest.approx(expected.tolist(), abs=6e-4)
    with torch.inference_mode():
        with pytest.raises(SoundClipError, match="at least two labels"):
            node.classify(audio, encoder, clip, "rain\n\n", "{}")
        with pytest.raises(SoundClipError, match="no labels given"):
            node.classify(audio, encoder, clip, "   \n\n", "{}")
        with pytest.raises(SoundClipError, match="given twice"):
            node.classify(audio, encoder, clip, "rain\nrain", "{}")
        with pytest.raises(SoundClipError, match="exactly once"):
            node.classify(audio, encoder, clip, "rain\ndog", "a sound")
        other = build_audio_encoder("soundclip", embed_dim=TINY, device=TEST_DEVICE, space="openai/RN50")
        with pytest.raises(EmbeddingSpaceError, match="'openai/RN50'.*'openai/ViT-B-32'"):
            node.classify(audio, other, clip, "rain\ndog", "{}")


def test_embedding_space_guard_in_scores():
    from soundclip_core.evaluate import class_scores

    with pytest.raises(EmbeddingSpaceError):
        class_scores(Embedding(torch.randn(2, 4), "a"), Embedding(torch.randn(3, 4), "b"))


def test_a_trained_encoder_pairs_with_the_clip_its_sidecar_names(files, tmp_path):
    from soundclip_core.clip import load_clip, tiny_clip
    from soundclip_core.encoders import load_audio_encoder
    from soundclip_core.encoders.registry import metadata_path
    from soundclip_core.evaluate import pair_models

    trained = tmp_path / "mine.pth"
    torch.save(build_audio_encoder("soundclip", embed_dim=TINY, device="cpu").net.state_dict(), trained)
    metadata_path(trained).write_text(json.dumps({"kind": "soundclip", "space": "mine/tiny"}))
    own = tiny_clip(device="cpu")
    save_clip(ClipModel(own.model, "mine/tiny", "tiny"), tmp_path / "mine-clip.safetensors")
    encoders = [("paper", load_audio_encoder(files / "models" / "resnet18_57.pth", device=TEST_DEVICE)),
                ("mine", load_audio_encoder(trained, device=TEST_DEVICE))]
    clips = [load_clip(None, tmp_path / "mine-clip.safetensors", TEST_DEVICE),
             load_clip(None, files / "models" / "ViT-B-32.safetensors", TEST_DEVICE)]
    pairs = pair_models(encoders, clips[:1] + clips)  # three CLIPs for two encoders: paired by space
    assert [(p.name, p.clip.space) for p in pairs] == [("paper", "openai/ViT-B-32"), ("mine", "mine/tiny")]
    with pytest.raises(EmbeddingSpaceError, match="encoder paper .* 'openai/ViT-B-32', but CLIP .* 'mine/tiny'"):
        pair_models(encoders, clips)  # as many CLIPs as encoders: paired in order, and this order is wrong
