"""Multi-label evaluation (AudioSet): mAP against hand-computed values with a class without positives, the
one-vs-rest probe, `soundclip evaluate` on a tiny AudioSet folder beside ESC-50 (the supplement's table shape,
per-class AP, `mAP` in the JSON), and embeddings that resume after an interruption."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch
from sound_datasets import write_audioset, write_esc50
from tiny_models import TINY_DIM, stand_in_clip

from soundclip_core.cli import main
from soundclip_core.cli.progress import LabelledBars
from soundclip_core.clip import save_clip
from soundclip_core.datasets import open_dataset
from soundclip_core.encoders import build_audio_encoder
from soundclip_core.errors import DatasetError
from soundclip_core.evaluate import embed_clips, plan
from soundclip_core.evaluate.metrics import class_average_precisions, macro_average_precision, mean_average_precision
from soundclip_core.evaluate.probe import multi_label_probe
from soundclip_core.evaluate.resume import EmbeddingStore

SCORES = torch.tensor([[0.9, 0.1, 0.5], [0.8, 0.7, 0.2], [0.3, 0.6, 0.4], [0.1, 0.2, 0.9]])
TARGETS = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]]).bool()


def test_map_by_hand_leaves_out_the_class_without_positives():
    # class 0 ranks clips 0 (+), 1, 2 (+), 3: AP = (1/1 + 2/3) / 2; class 1 ranks 1 (+), 2 (+): AP = 1;
    # class 2 has no positive: undefined, left out (sklearn would count it as 0 and give 0.611)
    per_class = class_average_precisions(SCORES, TARGETS)
    assert per_class[:2].tolist() == pytest.approx([5 / 6, 1.0]) and per_class[2].isnan()
    assert macro_average_precision(SCORES, TARGETS) == pytest.approx((5 / 6 + 1) / 2)
    assert np.isnan(macro_average_precision(SCORES, torch.zeros_like(TARGETS)))
    single = torch.tensor([0, 1, 1, 0])  # the single-label mAP is the same metric on one-hot targets:
    # class 0 ranks clips 0 (+), 1, 2, 3 (+): AP = (1/1 + 2/4) / 2; class 1 as above; class 2 left out
    assert mean_average_precision(SCORES, single) == pytest.approx(((1 + 2 / 4) / 2 + 1) / 2)


def test_one_vs_rest_probe_separates_labels_the_embeddings_carry():
    g = torch.Generator().manual_seed(0)
    targets = torch.rand(90, 4, generator=g) < 0.4
    targets[:, 3] = False  # a class nobody has: no AP, left out of the mAP
    x = torch.nn.functional.normalize(targets.float() @ torch.randn(4, 16, generator=g)
                                      + 0.05 * torch.randn(90, 16, generator=g), dim=-1)
    result = multi_label_probe(x[:60], targets[:60], x[60:], targets[60:])
    assert result["mAP"] > 0.95 and result["clips"] == 30
    assert np.isnan(result["per_class_AP"][3]) and result["l2"] > 0


def test_plans_hold_out_the_eval_segments(tmp_path):
    ds = open_dataset("audioset", write_audioset(tmp_path / "as"))
    zero_shot = plan(ds)
    assert zero_shot.folds is None and {c.split for c in zero_shot.dataset.clips} == {"eval"}
    probe = plan(ds, linear_probe=True)
    assert probe.folds == (2,) and "trained on balanced_train" in probe.description
    with pytest.raises(DatasetError, match="no folds to choose"):
        plan(ds, folds=[1])
    (tmp_path / "as" / "balanced_train_segments.csv").unlink()
    with pytest.raises(DatasetError, match="has \\['eval'\\]"):
        plan(open_dataset("audioset", tmp_path / "as"), linear_probe=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("as_eval")
    write_audioset(root / "AudioSet")
    write_esc50(root / "esc50", per_fold=1, folds=2, seconds=0.5)
    encoder = build_audio_encoder("soundclip", embed_dim=TINY_DIM, device="cpu", seed=2)
    torch.save(encoder.net.state_dict(), root / "resnet18_57.pth")
    save_clip(stand_in_clip(), root / "ViT-B-32.safetensors")
    return root


def test_cli_prints_the_supplement_table_and_per_class_ap_and_names_map_in_json(files, capsys):
    out = files / "table.json"
    assert main(["evaluate", "--dataset", "esc50", str(files / "esc50"), "--dataset", "audioset",
                 str(files / "AudioSet"), "--encoder", str(files / "resnet18_57.pth"), "--clip",
                 str(files / "ViT-B-32.safetensors"), "--linear-probe", "--per-class", "--json", str(out),
                 "--cache", str(files / "cache"), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "2 listed clips not found (not downloaded?), left out: Ye00abcdefg, -e01abcdefg" in printed
    report = json.loads(out.read_text())
    result = report["results"]["resnet18_57"]["audioset"]
    zero_shot = next(iter(result["zero_shot"]["folds"].values()))
    per_class = zero_shot["per_class_AP"]
    assert per_class[4] is None and zero_shot["classes_scored"] == 4  # "Speech": no positives, left out
    assert result["zero_shot"]["mean"]["mAP"] == pytest.approx(np.mean(per_class[:4]))
    assert 0 < result["linear_probe"]["mean"]["mAP"] <= 1 and zero_shot["clips"] == 10
    classification = printed[printed.index("Classification"):].splitlines()
    columns = list(zip([c.strip() for c in classification[1].split("|")], [c.strip() for c in
                                                                           classification[2].split("|")], strict=True))
    assert [m for d, m in columns if d == "AudioSet"] == ["ZS mAP", "LR mAP"]  # no accuracy for multi-label
    supplement = printed[printed.index("supplement shape"):].splitlines()
    assert supplement[1].split("|")[0].strip() == "dataset"
    assert [c.strip() for c in supplement[2].split("|")[1:]] == ["acc", "mAP"]
    rows = {line.split("|")[0].strip(): line.split("|")[1:] for line in supplement[4:8]}
    assert set(rows) == {"ESC-50 zero-shot", "ESC-50 linear probe", "AudioSet zero-shot", "AudioSet linear probe"}
    assert rows["AudioSet zero-shot"][0].strip() == "-"  # multi-label: mAP only
    assert float(rows["AudioSet zero-shot"][1]) == pytest.approx(100 * result["zero_shot"]["mean"]["mAP"], abs=0.06)
    per_class_lines = printed[printed.index("Per-class AP on audioset"):].splitlines()
    assert [line.split("|")[0].strip() for line in per_class_lines[4:8]] == ["Bird", "Clock tick", "Crickets",
                                                                            "Snore"]
    assert float(per_class_lines[4].split("|")[1]) == pytest.approx(100 * per_class[0], abs=0.06)
    assert len(list((files / "cache").glob("soundclip-*.npz"))) == 2  # one per dataset


class CountingEncoder:
    """An encoder that counts the clips it prepares and can stop the run after `stop_after` of them."""

    def __init__(self, encoder, stop_after=None):
        self.encoder, self.prepared, self.stop_after = encoder, 0, stop_after

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def prepare(self, audio):
        if self.stop_after is not None and self.prepared >= self.stop_after:
            raise KeyboardInterrupt
        self.prepared += 1
        return self.encoder.prepare(audio)


def test_an_interrupted_embedding_run_resumes_where_it_stopped(tmp_path):
    paths = sorted(write_esc50(tmp_path / "esc", per_fold=1, folds=2, seconds=0.5).glob("audio/*.wav"))
    paths.insert(3, tmp_path / "absent.wav")  # a skipped clip is remembered too
    encoder = build_audio_encoder("wav2clip", device="cpu", seed=2)
    whole = embed_clips(encoder, paths, batch_size=2, workers=0)
    stopping = CountingEncoder(encoder, stop_after=5)
    with pytest.raises(KeyboardInterrupt):
        embed_clips(stopping, paths, batch_size=2, workers=0, cache=tmp_path / "cache", save_seconds=0)
    resumed_by = CountingEncoder(encoder)
    bars = LabelledBars("clip")
    resumed = embed_clips(resumed_by, paths, batch_size=2, workers=0, cache=tmp_path / "cache", save_seconds=0,
                          progress=lambda done, total: bars("esc", done, total))
    assert bars.bars["esc"].format_dict["initial"] == 5  # the bar starts at the saved clips: a true rate
    assert resumed.resumed == 5 and resumed.clips_per_second == pytest.approx(
        int(resumed.ok[5:].sum()) / resumed.seconds["wall"])
    assert resumed_by.prepared == len(paths) - 1 - 5 + 1  # the clips after the last saved batch (5 = 2 + 2 + 1)
    assert torch.allclose(resumed.vectors, whole.vectors, atol=1e-6) and torch.equal(resumed.ok, whole.ok)
    assert resumed.skipped == whole.skipped and len(whole.skipped) == 1
    again = CountingEncoder(encoder)
    embed_clips(again, paths, batch_size=2, workers=0, cache=tmp_path / "cache")
    assert again.prepared == 0  # all saved
    soundfile.write(paths[0], np.zeros(4000, np.float32) + 0.1, 8000)  # a clip downloaded again
    assert EmbeddingStore(tmp_path / "cache", encoder, paths).load() is None


def test_a_damaged_embedding_cache_is_recomputed(tmp_path):
    paths = sorted(write_esc50(tmp_path / "esc", per_fold=1, folds=2, seconds=0.5).glob("audio/*.wav"))
    encoder = build_audio_encoder("wav2clip", device="cpu", seed=2)
    whole = embed_clips(encoder, paths, batch_size=2, workers=0, cache=tmp_path / "cache")
    store = EmbeddingStore(tmp_path / "cache", encoder, paths)
    assert store.load().done == len(paths)
    store.path.write_bytes(store.path.read_bytes()[: store.path.stat().st_size // 2])  # a copy cut short
    assert store.load() is None
    again = CountingEncoder(encoder)
    redone = embed_clips(again, paths, batch_size=2, workers=0, cache=tmp_path / "cache")
    assert again.prepared == len(paths) and torch.allclose(redone.vectors, whole.vectors, atol=1e-6)
    assert store.load().done == len(paths)  # and saved whole again
