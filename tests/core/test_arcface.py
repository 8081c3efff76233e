"""ArcFace IR-SE50: the official file layout loads strictly; preprocessing is the official crop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from devices import TEST_DEVICE

from soundclip_core.arcface import build_arcface, crop_face, identity_loss, load_arcface
from soundclip_core.errors import CheckpointError


def test_official_layout_round_trip(tmp_path):
    encoder = build_arcface(device=TEST_DEVICE)
    state = encoder.model.state_dict()
    assert state["input_layer.0.weight"].shape == (64, 3, 3, 3)
    assert state["body.3.shortcut_layer.0.weight"].shape == (128, 64, 1, 1)
    assert state["body.23.res_layer.5.fc2.weight"].shape == (512, 32, 1, 1)
    assert state["output_layer.3.weight"].shape == (512, 25088) and "input_layer.1.running_var" in state
    assert not any(k.startswith("body.0.shortcut_layer") for k in state)  # MaxPool shortcut, no weights
    torch.save(state, tmp_path / "model_ir_se50.pth")
    loaded = load_arcface(tmp_path / "model_ir_se50.pth", device=TEST_DEVICE)
    images = (torch.rand(2, 3, 64, 64) * 2 - 1).to(TEST_DEVICE)
    features = loaded.features(images)
    assert features.shape == (2, 512) and torch.allclose(features.norm(dim=1).cpu(), torch.ones(2), atol=1e-5)
    assert torch.allclose(features, encoder.features(images))
    assert float(identity_loss(loaded, images, images)) == pytest.approx(0.0, abs=1e-5)


def test_crop_is_the_official_pool_crop_pool():
    images = torch.randn(1, 3, 512, 512)
    pooled = torch.nn.AdaptiveAvgPool2d((256, 256))(images)[:, :, 35:223, 32:220]
    assert torch.allclose(crop_face(images), torch.nn.AdaptiveAvgPool2d((112, 112))(pooled), atol=1e-6)
    exact = torch.randn(1, 3, 256, 256)
    assert torch.allclose(crop_face(exact), F.adaptive_avg_pool2d(exact[:, :, 35:223, 32:220], 112), atol=1e-6)


def test_wrong_file_is_refused(tmp_path):
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="IR-SE50"):
        load_arcface(tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="not found"):
        load_arcface(tmp_path / "missing.pth")
