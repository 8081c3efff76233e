"""Bad generator files in every format get one CheckpointError naming the file (and what is wrong) before
anything is built; our export's tag names no architecture; `check_ws` is the one W+ shape check."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from devices import TEST_DEVICE
from safetensors import safe_open
from safetensors.torch import save_file
from stylegan3_formats import save_nvidia_sg3_pickle, tiny_sg3
from stylegan_formats import (
    save_nvidia_pickle,
    save_rosinality,
    save_tf_pickle,
    tf_generator_variables,
    tf_static_kwargs,
    tiny_generator,
)

from soundclip_core.clip import tiny_clip
from soundclip_core.errors import CheckpointError, LatentShapeError, SoundClipError
from soundclip_core.generators import load_generator, save_generator
from soundclip_core.generators.checks import check_finite
from soundclip_core.generators.loader import ARCHITECTURES, FORMAT_TAG
from soundclip_core.generators.stylegan3 import schedule
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
        load_generator(path, TEST_DEVICE)
    message = str(error.value)
    assert str(path) in message and all(word in message for word in words), message
    assert len(message) < 600  # one readable sentence, not a dump
    return message


# -- tensors a format needs ------------------------------------------------------------------------------------------

def test_rosinality_file_without_a_conv_weight_names_the_missing_tensor(tmp_path):
    checkpoint = torch.load(save_rosinality(tiny_generator(), tmp_path / "g.pt"), weights_only=True)
    del checkpoint["g_ema"]["conv1.conv.weight"], checkpoint["g_ema"]["convs.3.conv.weight"]
    torch.save(checkpoint, tmp_path / "bad.pt")
    _refused(tmp_path / "bad.pt", "'conv1.conv.weight'", "'convs.3.conv.weight'", "lacks")


@pytest.mark.parametrize("name", ["synthesis.b4.const", "mapping.w_avg", "synthesis.b8.conv0.affine.bias"])
def test_nvidia_pickle_without_a_tensor_names_it(tmp_path, name):
    path = save_nvidia_pickle(tiny_generator(), tmp_path / "bad.pkl", drop=name)
    _refused(path, f"'{name}'", "lacks")


def test_stylegan3_pickle_without_w_avg_names_it(tmp_path):
    path = save_nvidia_sg3_pickle(tiny_sg3(resolution=16), tmp_path / "bad.pkl", drop="mapping.w_avg")
    _refused(path, "'mapping.w_avg'")


@pytest.mark.parametrize("value", ["256px", None, 16.5, [16], 12, 2 ** 20])
def test_nvidia_pickle_whose_img_resolution_is_not_a_power_of_two_number(tmp_path, value):
    path = save_nvidia_pickle(tiny_generator(), tmp_path / "bad.pkl", img_resolution=value)
    _refused(path, "img_resolution")


# -- the average latent ----------------------------------------------------------------------------------------------

def test_average_latent_of_the_wrong_size_is_refused_in_every_format_that_carries_one(tmp_path):
    g = tiny_generator()
    torch.save({"g_ema": {k: v for k, v in g.state_dict().items() if k != "latent_avg"},
                "latent_avg": g.w_avg[:-1].clone()}, tmp_path / "short.pt")
    _refused(tmp_path / "short.pt", "average latent", "(31,)", "expected 32")
    torch.save({"g_ema": {k: v for k, v in g.state_dict().items() if k != "latent_avg"},
                "latent_avg": [0.0] * 32}, tmp_path / "list.pt")
    _refused(tmp_path / "list.pt", "average latent", "list")
    export = save_generator(g, tmp_path / "g.safetensors")
    _refused(_rewrite_export(export, tmp_path / "bad.safetensors", tensors={"latent_avg": torch.zeros(2, 32)}),
             "average latent", "(2, 32)")


# -- sizes, checked before anything is allocated ---------------------------------------------------------------------

@pytest.mark.parametrize("changes, words", [
    (dict(channels=[1048576, 24, 16]), ["channel count is 1048576", "2048"]),
    (dict(w_dim=10 ** 7), ["w_dim is 10000000"]),
    (dict(mapping_layers=10 ** 6), ["mapping_layers is 1000000"]),
    (dict(resolution=48), ["power of two"]),
    (dict(resolution=2 ** 20), ["resolution is 1048576"]),
    (dict(channels=[8, -3, 8]), ["channel count is -3"]),
    (dict(z_dim="512"), ["z_dim is '512'"]),
    (dict(mapping_lr_multiplier="fast"), ["mapping_lr_multiplier is 'fast'"]),
    (dict(conv_clamp=float("nan")), ["conv_clamp is nan"]),
    (dict(label_set="../../secrets"), ["unknown label set '../../secrets'"]),
    (dict(resolution=4096, channels=[2048] * 11), ["0.8 billion weights", "3 GiB"]),  # each size sane, not the total
])
def test_export_config_asking_for_a_huge_or_impossible_generator_is_refused_before_building(tmp_path, changes,
                                                                                             words):
    export = save_generator(tiny_generator(), tmp_path / "g.safetensors")
    path = _rewrite_export(export, tmp_path / "huge.safetensors", **changes)
    start = time.perf_counter()
    _refused(path, *words)
    assert time.perf_counter() - start < 5  # nothing was allocated (1M channels would be 39.6 TB)


def test_stylegan3_export_config_sizes_are_checked_too(tmp_path):
    export = save_generator(tiny_sg3(resolution=16), tmp_path / "g3.safetensors")
    _refused(_rewrite_export(export, tmp_path / "bad.safetensors", input_channels=10 ** 6), "input_channels")
    with safe_open(str(export), framework="pt") as f:
        layers = json.loads(f.metadata()["config"])["layers"]
    layers[2]["out_channels"] = layers[3]["in_channels"] = 10 ** 6
    _refused(_rewrite_export(export, tmp_path / "bad2.safetensors", layers=layers), "out_channels")


def test_config_sizes_are_bounded_in_total_too():
    with pytest.raises(ValueError, match="billion weights"):
        schedule(1024, "stylegan3-t", channel_base=2 ** 24, channel_max=2048)  # 15 layers of 3x3 2048-channel convs
    assert schedule(1024, "stylegan3-r")[0].num_ws == 16  # the paper's largest config is well inside


# -- NaN and infinity ------------------------------------------------------------------------------------------------

def _poisoned_file(kind, tmp_path):
    if kind == "tf":
        v = tf_generator_variables(resolution=8)
        v["synthesis"]["8x8/Conv1/weight"][0, 0, 0, 0] = np.inf
        return save_tf_pickle(v, tmp_path / "tf.pkl", tf_static_kwargs(v))
    g = tiny_sg3(resolution=16) if kind == "stylegan3" else tiny_generator()
    with torch.no_grad():
        if kind == "w_avg":
            g.latent_avg[3] = math.nan
        else:
            next(p for name, p in g.named_parameters() if name.endswith("weight") and "style" not in name)[0].fill_(
                math.nan)
    if kind in ("rosinality", "w_avg"):
        return save_rosinality(g, tmp_path / "g.pt")
    if kind == "nvidia":
        return save_nvidia_pickle(g, tmp_path / "g.pkl")
    if kind == "stylegan3":
        return save_nvidia_sg3_pickle(g, tmp_path / "g3.pkl")
    return save_generator(g, tmp_path / "g.safetensors")


@pytest.mark.parametrize("kind", ["rosinality", "nvidia", "tf", "stylegan3", "safetensors", "w_avg"])
def test_nan_or_infinite_weights_are_refused_in_every_format(tmp_path, kind):
    message = _refused(_poisoned_file(kind, tmp_path), "NaN or infinite")
    assert ("latent_avg" in message) == (kind == "w_avg")


def test_the_finite_check_is_exact_where_its_fast_sum_overflows():
    check_finite({"w": torch.full((4,), 3e38), "i": torch.arange(3)}, "g.pt", "this generator")  # sum is inf
    for bad in ([1.0, math.nan], [3e38, math.inf], [math.inf, -math.inf]):
        with pytest.raises(CheckpointError, match="g.pt: this generator has NaN or infinite values in 'w'"):
            check_finite({"w": torch.tensor(bad)}, "g.pt", "this generator")


def test_finite_files_still_load_and_draw_finite_images(tmp_path):
    g = tiny_generator()
    for path in (save_rosinality(g, tmp_path / "g.pt"), save_nvidia_pickle(g, tmp_path / "g.pkl")):
        loaded = load_generator(path, TEST_DEVICE)
        assert torch.isfinite(loaded.synthesis(loaded.ws_from_seed(1))).all()


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
    g, clip = tiny_generator().to(TEST_DEVICE), tiny_clip(device=TEST_DEVICE)
    with pytest.raises(LatentShapeError, match="source latent must be \\[B, 6, 32\\].*got 18 W\\+ layers of 512"):
        optimize(g, clip, clip.encode_text(["rain"]), torch.zeros(1, 18, 512), steps=2)
