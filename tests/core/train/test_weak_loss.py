"""The weakly-paired audio-visual loss: its KL term against a float64 loop, its place in the total, the
same-text frame sampler, and a short training run with it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sound_datasets import write_manifest
from train_helpers import FRONTEND, small_net, text_clip

from soundclip_core.errors import SoundClipError
from soundclip_core.train import TrainConfig, train
from soundclip_core.train.checkpoint import config_differences
from soundclip_core.train.loss import contrastive_loss, info_nce, weakly_paired_kl
from soundclip_core.train.weak import SameTextFrames


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def loop_kl(audio, text, visual, scale):
    """mean_i sum_j p_ij (log p_ij - log q_ij), p = softmax_j(scale v_i.t_j), q = softmax_j(scale v_i.a_j)."""
    a, t, v = (unit(np.asarray(x, np.float64)) for x in (audio, text, visual))
    total = 0.0
    for i in range(len(v)):
        pt = [math.exp(scale * float(v[i] @ t[j])) for j in range(len(t))]
        qa = [math.exp(scale * float(v[i] @ a[j])) for j in range(len(a))]
        for j in range(len(t)):
            p, q = pt[j] / sum(pt), qa[j] / sum(qa)
            total += p * (math.log(p) - math.log(q))
    return total / len(v)


def test_kl_term_and_total_match_a_float64_loop():
    g = torch.Generator().manual_seed(1)
    audio, text = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    visual = torch.randn(7, 8, generator=g)  # 5 paired frames + 2 extra frames
    for scale in (math.exp(0.07), 14.0):
        assert float(weakly_paired_kl(2 * audio, text, visual, scale)) == pytest.approx(
            loop_kl(audio, text, visual, scale), abs=1e-6)
    terms = contrastive_loss(audio, text, 14.0, weak_visual=visual)
    a, t = (x / x.norm(dim=-1, keepdim=True) for x in (audio, text))
    nce = torch.stack(info_nce(a, t, 14.0)).mean()
    assert float(terms["weak_kl"]) == pytest.approx(loop_kl(audio, text, visual, 14.0), abs=1e-6)
    assert float(terms["total"]) == pytest.approx(float(nce) + loop_kl(audio, text, visual, 14.0), abs=1e-5)
    assert "weak_kl" not in contrastive_loss(audio, text, 14.0)


def test_kl_is_zero_when_sounds_sit_where_their_texts_are_and_its_gradient_reaches_only_the_audio():
    g = torch.Generator().manual_seed(2)
    text, visual = torch.randn(4, 6, generator=g), torch.randn(6, 6, generator=g)
    assert float(weakly_paired_kl(text.clone(), text, visual, 10.0)) == pytest.approx(0.0, abs=1e-6)
    audio = torch.randn(4, 6, generator=g, requires_grad=True)
    text.requires_grad_(True)
    weakly_paired_kl(audio, text, visual, 10.0).backward()
    assert audio.grad.abs().sum() > 0 and text.grad is None  # the frozen visual-text side is the target


def test_same_text_frames_draw_partners_of_the_same_text_deterministically():
    texts = ["dog", "dog", "cat", "cat", "cat", "owl", "bee"]
    has = torch.tensor([True, True, True, False, True, True, False])
    sampler = SameTextFrames(texts, has, seed=3)
    index = torch.tensor([0, 2, 3, 5, 6])
    drawn = sampler.draw(index, epoch=0, step=0)
    assert drawn.tolist()[:2] == [1, 4]  # dog 0 -> the other dog; cat 2 -> cat 4 (cat 3 has no frame)
    assert drawn.tolist()[2] in (2, 4) and drawn.tolist()[3] == 5  # owl alone: itself; bee: no frame, none
    assert len(drawn) == 4
    assert torch.equal(drawn, sampler.draw(index, epoch=0, step=0))


def test_a_short_run_with_the_weakly_paired_loss_logs_the_term_and_refuses_it_without_frames(tmp_path):
    manifest = write_manifest(tmp_path / "data")
    settings = {"epochs": 2, "batch_size": 4, "recipe": "modern", "lr": 3e-3, "frontend": FRONTEND, "workers": 0,
                "progress": False, "prompt": "{}", "text_augment": False}
    result = train(TrainConfig(data=str(manifest), out=str(tmp_path / "run"), loss="weakly_paired", **settings),
                   clip=text_clip(), net=small_net())
    assert all(row["weak_kl"] > 0 for row in result.log)
    assert "weak_kl" in (tmp_path / "run" / "log.csv").read_text().splitlines()[0]
    with pytest.raises(SoundClipError, match="frames are switched off"):
        train(TrainConfig(data=str(manifest), out=str(tmp_path / "r2"), loss="weakly_paired", image_term=False,
                          **settings), clip=text_clip(), net=small_net())


def test_a_run_saved_before_the_loss_setting_existed_resumes_as_infonce():
    before = {"epochs": 2, "recipe": "modern"}  # a state saved before `loss` was a setting
    assert config_differences(before, {**before, "loss": "infonce"}) == []
    assert config_differences(before, {**before, "loss": "weakly_paired"}) == ["loss: None -> 'weakly_paired'"]
