"""Our export's tag names no architecture (old exports still load); `check_ws` is the one W+ shape check."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from stylegan3_formats import tiny_sg3
from stylegan_formats import tiny_generator

from soundclip_core.clip import tiny_clip
from soundclip_core.errors import CheckpointError, LatentShapeError, SoundClipError
from soundclip_core.generators import load_generator, save_generator
from soundclip_core.generators.loader import ARCHITECTURES, FORMAT_TAG
from soundclip_core.manipulate import optimize


def _rewrite_export(source, target, metadata=None, tensors=None, **config):
    """Our export with its metadata, config JSON fields or tensors replaced."""
    with safe_open(str(source), framework="pt") as f:
        meta, state = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    meta["config"] = json.dumps({**json.loads(meta["config"]), **config})
    save_file({**state, **(tensors or {})}, str(target), metadata={**meta, **(metadata or {})})
    return target


def _refused(path, *words):
    with pytest.raises(CheckpointError) as error:
        load_generator(path, "cpu")
    message = str(error.value)
    assert str(path) in message and all(word in message for word in words), message
    assert len(message) < 600  # one readable sentence, not a dump
    return message


# -- our export's tag ------------------------------------------------------------------------------------------------

def test_export_tag_names_no_architecture_and_old_exports_still_load(tmp_path):
    assert FORMAT_TAG == "soundclip-generator"
    for g in (tiny_generator(), tiny_sg3(resolution=16)):
        export = save_generator(g, tmp_path / f"{g.kind}.safetensors")
        with safe_open(str(export), framework="pt") as f:
            assert f.metadata()["format"] == "soundclip-generator" and f.metadata()["kind"] == g.kind
        old = _rewrite_export(export, tmp_path / f"old-{g.kind}.safetensors",
                              metadata={"format": "soundclip-stylegan2"})
        back = load_generator(old, "cpu")
        ws = g.ws_from_seed(4)
        assert back.kind == g.kind and torch.equal(back.synthesis(ws), g.synthesis(ws))
    _refused(_rewrite_export(export, tmp_path / "x.safetensors", metadata={"kind": "stylegan9"}),
             "unknown generator kind 'stylegan9'", "stylegan2, stylegan3-t, stylegan3-r")
    assert {k for a in ARCHITECTURES for k in a.kinds} == {"stylegan2", "stylegan3-t", "stylegan3-r"}


# -- check_ws --------------------------------------------------------------------------------------------------------

def test_check_ws_is_the_one_w_plus_shape_check():
    g = tiny_generator()
    ws = g.ws_from_seed(0, batch_size=2)
    assert g.check_ws(ws) is ws
    for bad, got in [(ws[:, :5], "5 W+ layers of 32 values"), (ws[0], "a tensor of shape (6, 32)"),
                     (ws.tolist(), "a list")]:
        with pytest.raises(LatentShapeError) as error:
            g.check_ws(bad, "the keyframes", path="k.safetensors", fix="render with their generator")
        assert isinstance(error.value, SoundClipError) and isinstance(error.value, ValueError)
        assert str(error.value) == (f"k.safetensors: the keyframes must be [B, 6, 32] for {g.source}, got {got} "
                                    "Fix: render with their generator")


def test_an_edit_from_another_generators_latent_is_refused_before_optimising():
    g, clip = tiny_generator(), tiny_clip(device="cpu")
    with pytest.raises(LatentShapeError, match="source latent must be \\[B, 6, 32\\].*got 18 W\\+ layers of 512"):
        optimize(g, clip, clip.encode_text(["rain"]), torch.zeros(1, 18, 512), steps=2)
