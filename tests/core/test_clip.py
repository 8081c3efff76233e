"""CLIP loading from every layout, preprocessing paths, and embedding arithmetic."""

from __future__ import annotations

import pytest
import torch
from devices import TEST_DEVICE

from soundclip_core.clip import load_clip, official_resize, save_clip, tiny_clip
from soundclip_core.embedding import Embedding, combine, stack
from soundclip_core.errors import CheckpointError, EmbeddingSpaceError


def test_official_resize_equals_the_materialised_research_path():
    images = torch.randn(2, 3, 64, 64)
    literal = torch.nn.AvgPool2d(64 // 32)(torch.nn.Upsample(scale_factor=7)(images))
    assert torch.allclose(official_resize(images), literal, atol=1e-5)
    images = torch.randn(1, 3, 256, 256)
    assert torch.allclose(official_resize(images), torch.nn.AvgPool2d(8)(torch.nn.Upsample(scale_factor=7)(images)),
                          atol=1e-5)


def test_area_preparation_is_box_average_plus_clip_normalisation():
    clip = tiny_clip(device=TEST_DEVICE)
    images = torch.rand(1, 3, 64, 64) * 2 - 1
    pixels = clip.prepare_images(images.to(TEST_DEVICE)).cpu()
    box = images.reshape(1, 3, 32, 2, 32, 2).mean((3, 5))
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])[None, :, None, None]
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])[None, :, None, None]
    assert torch.allclose(pixels, ((box + 1) / 2 - mean) / std, atol=1e-5)


@pytest.mark.parametrize("layout", ["state_dict", "module_prefixed", "audioclip", "safetensors"])
def test_loads_every_layout(tmp_path, layout):
    clip = tiny_clip(device=TEST_DEVICE)
    state = clip.model.state_dict()
    path = tmp_path / "clip.pt"
    if layout == "state_dict":
        torch.save(state, path)
    elif layout == "module_prefixed":
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    elif layout == "audioclip":  # AudioCLIP: the CLIP towers plus audio.* and logit_scale_a* entries
        torch.save({**state, "audio.conv.weight": torch.zeros(2), "logit_scale_ai": torch.ones(())}, path)
    else:
        save_clip(clip, path)
    if layout == "safetensors":
        loaded = load_clip("ViT-B-32", path, device=TEST_DEVICE)
        assert loaded.space == clip.space  # the space travels in the metadata
    else:
        with pytest.raises(CheckpointError, match="64-d embeddings"):
            load_clip("ViT-B-32", path, device=TEST_DEVICE)  # a 64-d model is not ViT-B-32
        return
    images = (torch.rand(2, 3, 32, 32) * 2 - 1).to(TEST_DEVICE)
    assert torch.allclose(loaded.encode_image(images).vectors, clip.encode_image(images).vectors, atol=1e-2)
    assert torch.allclose(loaded.encode_text(["rain"]).vectors, clip.encode_text(["rain"]).vectors, atol=1e-2)


def test_bad_clip_files(tmp_path):
    with pytest.raises(CheckpointError, match="no weights file"):
        load_clip("ViT-B-32", None)
    with pytest.raises(CheckpointError, match="file not found"):
        load_clip("ViT-B-32", tmp_path / "none.pt")
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a CLIP checkpoint"):
        load_clip("ViT-B-32", tmp_path / "other.pt")


def test_image_features_are_differentiable():
    clip = tiny_clip(device=TEST_DEVICE)
    images = (torch.rand(1, 3, 16, 16) * 2 - 1).to(TEST_DEVICE).requires_grad_(True)
    clip.image_features(clip.prepare_images(images)).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_embedding_arithmetic_checks_spaces():
    a = Embedding(torch.tensor([[3.0, 4.0]]), "openai/ViT-B-32", "a")
    b = Embedding(torch.tensor([[0.0, 2.0]]), "openai/ViT-B-32", "b")
    assert torch.allclose(a.vectors, torch.tensor([[0.6, 0.8]]))
    mixed = combine([(a, 1.0), (b, 1.0)])
    assert torch.allclose(mixed.vectors, torch.nn.functional.normalize(torch.tensor([[0.6, 1.8]]), dim=-1))
    assert stack([a, b]).batch_size == 2
    other = Embedding(torch.ones(1, 2), "openai/RN50", "audioclip")
    with pytest.raises(EmbeddingSpaceError, match="openai/RN50.*openai/ViT-B-32"):
        combine([(a, 1.0), (other, 1.0)])
    with pytest.raises(EmbeddingSpaceError, match="cancel out"):
        combine([(a, 1.0), (a, -1.0)])
    with pytest.raises(EmbeddingSpaceError, match="NaN"):
        Embedding(torch.tensor([[float("nan"), 1.0]]), "x")
