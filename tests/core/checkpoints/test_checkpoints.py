"""The checkpoint home: one reader and one set of checks for every model file, each refusal naming
the file, what it was meant to be, and the fix."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from devices import TEST_DEVICE
from paths import ROOT
from safetensors.torch import save_file

from soundclip_core.checkpoints import check_finite, check_shapes, load_storage_bytes, read_state_dict
from soundclip_core.errors import CheckpointError


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_finite_names_the_file_and_the_tensors(tmp_path, bad):
    state = {"ok": torch.ones(3), "steps": torch.tensor([1, 2]), "nested": {"w": torch.tensor([0.0, bad])}}
    with pytest.raises(CheckpointError, match=r"a test model holds NaN or infinite weights \(in 'nested.w'\)") as e:
        check_finite(state, tmp_path / "m.pt", "a test model")
    assert str(tmp_path / "m.pt") in str(e.value) and "Fix:" in str(e.value)
    check_finite({"ok": torch.ones(3), "ints": torch.tensor([1, 2])}, tmp_path / "m.pt", "a test model")
    big = torch.full((10,), 60000.0, dtype=torch.float16)  # finite values whose float16 sum overflows
    check_finite({"big": big}, tmp_path / "m.pt", "a test model")
    causal = torch.full((3, 3), float("-inf")).triu(1)  # CLIP's attention mask: -inf by design
    check_finite({"transformer.attn_mask": causal}, tmp_path / "m.pt", "a test model")
    with pytest.raises(CheckpointError, match="'attn_mask'"):
        check_finite({"attn_mask": causal.fill_diagonal_(float("nan"))}, tmp_path / "m.pt", "a test model")


def test_check_shapes_names_missing_unexpected_and_misshapen_keys(tmp_path):
    expected = {"a": (2, 3), "b": (3,)}
    check_shapes({"a": torch.zeros(2, 3), "b": torch.zeros(3)}, expected, tmp_path / "m.pt", "a net", "fix it")
    with pytest.raises(CheckpointError) as e:
        check_shapes({"a": torch.zeros(2, 4), "c": torch.zeros(1)}, expected, tmp_path / "m.pt", "a net", "fix it")
    message = str(e.value)
    assert "missing 'b'" in message and "unexpected 'c'" in message and "'a' [2, 4] (expected [2, 3])" in message
    assert message.startswith(str(tmp_path / "m.pt")) and message.endswith("Fix: fix it")
    with pytest.raises(CheckpointError, match=r"wrong shapes: 'b' list \(expected \[3\]\)"):
        check_shapes({"a": torch.zeros(2, 3), "b": [0, 0, 0]}, expected, tmp_path / "m.pt", "a net", "fix it")


# -- the one reader -----------------------------------------------------------------------------------
def test_read_state_dict_unwraps_strips_and_reads_every_container(tmp_path):
    weight = torch.randn(3, 2)
    torch.save({"state_dict": {"module.fc.weight": weight, "step": 7}, "opts": {"lr": 1}}, tmp_path / "w.pt")
    state = read_state_dict(tmp_path / "w.pt", "a test net", "fix it", nested=("model", "state_dict"))
    assert list(state) == ["fc.weight"] and torch.equal(state["fc.weight"], weight)
    save_file({"fc.weight": weight}, str(tmp_path / "w.safetensors"))
    assert torch.equal(read_state_dict(tmp_path / "w.safetensors", "a test net", "fix")["fc.weight"], weight)
    linear = torch.nn.Linear(2, 3)
    torch.jit.script(linear).save(str(tmp_path / "ts.pt"))
    assert torch.equal(read_state_dict(tmp_path / "ts.pt", "a test net", "fix")["weight"], linear.weight)
    torch.save([weight], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint of a test net: it holds a list"):
        read_state_dict(tmp_path / "list.pt", "a test net", "fix it")


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _truncated(path: Path, legacy: bool) -> Path:
    torch.save({"w": torch.randn(500)}, path, _use_new_zipfile_serialization=not legacy)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize("make, reason", [
    (lambda p, m: _truncated(p, legacy=False), "damaged zip archive"),
    (lambda p, m: _truncated(p, legacy=True), "ends early or is damaged"),
    (lambda p, m: torch.save({"w": _Payload(m)}, p), r"refers to '(posix|nt).system', code that is unsafe"),
    (lambda p, m: p.write_bytes(pickle.dumps({"w": _Payload(m)}, protocol=4)), "unsafe"),
    (lambda p, m: p.write_text("<html>404</html>"), "unknown file content"),
    (lambda p, m: p.write_bytes(b""), "empty"),
])
def test_unreadable_truncated_and_refused_files_get_one_wording_on_one_line(tmp_path, make, reason):
    marker, path = tmp_path / "payload-ran", tmp_path / "model.pt"
    make(path, marker)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's notices would be a second line on the console
        with pytest.raises(CheckpointError, match=reason) as error:
            read_state_dict(path, "a test net", "download it again")
    message = str(error.value)
    assert message.startswith(f"{path}: not a readable PyTorch checkpoint of a test net: ")
    assert message.endswith("Fix: download it again") and "\n" not in message and not marker.exists()


def test_a_refused_torchscript_archive_gets_the_same_wording(tmp_path):
    linear = torch.nn.Linear(2, 3)
    torch.jit.script(linear).save(str(tmp_path / "ts.pt"))
    with zipfile.ZipFile(tmp_path / "ts.pt") as source, zipfile.ZipFile(tmp_path / "evil.pt", "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            target.writestr(entry, b"cos\nsystem\n(S'true'\ntR." if entry.filename.endswith("/data.pkl") else data)
    with pytest.raises(CheckpointError) as error:
        read_state_dict(tmp_path / "evil.pt", "a CLIP model", "use OpenAI's file")
    assert str(error.value) == (f"{tmp_path / 'evil.pt'}: not a readable PyTorch checkpoint of a CLIP model: unsafe or "
                                "unreadable TorchScript archive: refusing global 'os.system'; nothing in the file was "
                                "run Fix: use OpenAI's file")


def test_a_missing_file_names_what_was_expected(tmp_path):
    with pytest.raises(CheckpointError, match=r"none.pt: file not found \(expected a test net\) Fix: get it"):
        read_state_dict(tmp_path / "none.pt", "a test net", "get it")


class _Unknown:
    """A class the weights-only reader does not know (torch's refusal is then a paragraph with ANSI codes)."""


def test_refused_payload_is_one_line_on_the_command_line(tmp_path):
    marker = tmp_path / "payload-ran"
    torch.save({"g_ema": _Payload(marker)}, tmp_path / "evil.pt")
    torch.save({"g_ema": {"style.1.weight": _Unknown()}}, tmp_path / "unknown.pt")
    for source, named in ((tmp_path / "evil.pt", "system"), (tmp_path / "unknown.pt", "test_checkpoints._Unknown")):
        result = subprocess.run([sys.executable, "-m", "soundclip_core", "convert", str(source),
                                 str(tmp_path / "out.safetensors")], capture_output=True, text=True,
                                cwd=ROOT, timeout=300)
        assert result.returncode == 2 and not marker.exists()
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"soundclip: error: {source}: not a readable PyTorch checkpoint of a StyleGAN2 ")
        assert named in lines[0] and "Fix:" in lines[0] and "\x1b" not in lines[0]


# -- zip archives: sizes checked before inflating -------------------------------------------------------
def _zip_bomb(path: Path, torchscript: bool) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if torchscript:
            archive.writestr("archive/constants.pkl", pickle.dumps(()))
        archive.writestr("archive/data.pkl", bytes(64 << 20))  # 64 MiB of zeros deflate to ~64 KiB
    return path


def _lying_sizes(path: Path) -> Path:
    """A real torch zip whose central directory declares 2 GiB for data.pkl (stored, so it holds far less)."""
    torch.save({"w": torch.randn(10)}, path)
    raw = bytearray(path.read_bytes())
    central = -1
    while True:  # the central directory header of data.pkl
        central = raw.index(b"PK\x01\x02", central + 1)
        name_length = int.from_bytes(raw[central + 28:central + 30], "little")
        if raw[central + 46:central + 46 + name_length].endswith(b"data.pkl"):
            break
    raw[central + 24:central + 28] = (0x7FFFFFFF).to_bytes(4, "little")  # uncompressed size
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("make", [lambda p: _zip_bomb(p, torchscript=False), lambda p: _zip_bomb(p, torchscript=True),
                                  _lying_sizes])
def test_zip_bombs_are_refused_before_anything_is_inflated(tmp_path, make):
    path = make(tmp_path / "bomb.pt")
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="a zip bomb.*nothing was inflated") as error:
            read_state_dict(path, "a test net", "use the released file")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(error.value) and "Fix:" in str(error.value)
    assert peak < 4 << 20  # the 64 MiB / 2 GiB were never allocated


def test_a_zip_bomb_inside_a_pickle_storage_is_refused(tmp_path):
    bomb = _zip_bomb(tmp_path / "storage.zip", torchscript=False).read_bytes()
    with pytest.raises(ValueError, match="zip bomb"):
        load_storage_bytes(bomb)
    buffer = io.BytesIO()
    torch.save(torch.arange(4.0).untyped_storage(), buffer)
    storage = load_storage_bytes(buffer.getvalue())  # what NVIDIA pickles hold: the raw bytes of a storage
    assert torch.equal(torch.tensor(list(storage), dtype=torch.uint8).view(torch.float32), torch.arange(4.0))


# -- NaN / Inf weights: refused at load, for every model kind read through the shared reader ----------------
def _poison(state: dict, key: str) -> dict:
    state = dict(state)
    state[key] = state[key].clone().float()
    state[key].view(-1)[0] = float("nan")
    return state


def _encoder_file(kind: str, path: Path) -> Path:
    from tiny_models import write_audioclip

    from soundclip_core.encoders import build_audio_encoder

    if kind == "audioclip":
        write_audioclip(path)
        torch.save(_poison(torch.load(path, weights_only=True), "audio.fc.weight"), path)
    else:
        net = build_audio_encoder(kind, embed_dim=64, device="cpu").net
        torch.save(_poison(net.state_dict(), next(iter(net.state_dict()))), path)
    return path


def _clip_file(layout: str, path: Path) -> Path:
    from soundclip_core.clip import ClipModel, save_clip, tiny_clip

    clip = tiny_clip(device="cpu")
    with torch.no_grad():
        clip.model.text_projection[0, 0] = float("inf")
    if layout == "torchscript":  # OpenAI's .pt layout: a TorchScript archive
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.script(clip.model).save(str(path))
    else:
        save_clip(ClipModel(clip.model, clip.space, ""), path)
    return path


def _vgg_files(layout: str, tmp_path: Path) -> tuple[Path, Path | None]:
    from tiny_models import tiny_vgg, write_lpips_weights, write_nvidia_vgg_archive, write_torchvision_vgg

    net = tiny_vgg()
    if layout == "lpips":  # a good VGG16, NaN in the LPIPS channel weights
        lpips = write_lpips_weights(net, tmp_path / "vgg.pth")
        torch.save(_poison(torch.load(lpips, weights_only=True), "lin2.model.1.weight"), lpips)
        return write_torchvision_vgg(net, tmp_path / "vgg16-397923af.pth"), lpips
    with torch.no_grad():
        net.convs[3].bias[1] = float("nan")
    if layout == "archive":
        return write_nvidia_vgg_archive(net, tmp_path / "vgg16.pt"), None
    return write_torchvision_vgg(net, tmp_path / "vgg16-397923af.pth"), None


def _e4e_file(part: str, path: Path) -> Path:
    from tiny_models import write_e4e_checkpoint

    write_e4e_checkpoint(path, num_ws=8, w_dim=32)
    ckpt = torch.load(path, weights_only=True)
    if part == "latent_avg":
        ckpt["latent_avg"] = _poison(ckpt, "latent_avg")["latent_avg"]
    else:
        ckpt["state_dict"] = _poison(ckpt["state_dict"], "encoder.styles.3.linear.weight")
    torch.save(ckpt, path)
    return path


def _load_any(kind: str, variant: str, tmp_path: Path) -> Path:
    """Write a model of `kind` with a NaN or Inf weight, load it, return its path (the load must raise)."""
    from soundclip_core.arcface import build_arcface, load_arcface
    from soundclip_core.clip import load_clip
    from soundclip_core.encoders import load_audio_encoder
    from soundclip_core.invert import load_e4e, load_perceptual

    if kind == "encoder":
        path = _encoder_file(variant, tmp_path / f"{variant}.pth")
        load_audio_encoder(path, device=TEST_DEVICE)
    elif kind == "clip":
        path = _clip_file(variant, tmp_path / ("ViT-B-32.pt" if variant == "torchscript" else "clip.safetensors"))
        load_clip("ViT-B-32", path, device=TEST_DEVICE)
    elif kind == "arcface":
        path = tmp_path / "model_ir_se50.pth"
        torch.save(_poison(build_arcface(device="cpu").model.state_dict(), "output_layer.3.weight"), path)
        load_arcface(path, device=TEST_DEVICE)
    elif kind == "vgg":
        vgg, lpips = _vgg_files(variant, tmp_path)
        path = lpips or vgg
        load_perceptual(vgg, lpips, device=TEST_DEVICE, notify=lambda _: None)
    else:
        path = _e4e_file(variant, tmp_path / "e4e_ffhq_encode.pt")
        load_e4e(path, device=TEST_DEVICE)
    return path


@pytest.mark.parametrize("kind, variant", [
    ("encoder", "soundclip"), ("encoder", "wav2clip"), ("encoder", "audioclip"), ("clip", "safetensors"),
    ("clip", "torchscript"), ("arcface", ""), ("vgg", "torchvision"), ("vgg", "archive"), ("vgg", "lpips"),
    ("e4e", "state_dict"), ("e4e", "latent_avg"),
])
def test_nan_or_inf_weights_are_refused_at_load_naming_the_file(tmp_path, kind, variant):
    with pytest.raises(CheckpointError, match="holds NaN or infinite weights") as error:
        _load_any(kind, variant, tmp_path)
    files = [p for p in tmp_path.iterdir() if p.suffix != ".json"]
    named = [p for p in files if str(error.value).startswith(f"{p}: ")]
    assert len(named) == 1 and "Fix:" in str(error.value)
    if variant == "lpips":  # the LPIPS file, not the VGG16 beside it, and not as a size mismatch
        assert named[0].name == "vgg.pth" and "values" not in str(error.value)


# -- shapes checked before building or loading ----------------------------------------------------------------
def _torchvision_vgg(tmp_path: Path, change) -> Path:
    from tiny_models import tiny_vgg, write_torchvision_vgg

    path = write_torchvision_vgg(tiny_vgg(), tmp_path / "vgg16-397923af.pth")
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"features.2.bias": torch.zeros(5)}),
     r"wrong shapes: 'features.2.bias' \[5\] \(expected \[4\]\)"),
    (lambda s: s.update({"features.30.weight": torch.zeros(16, 16, 3, 3), "features.30.bias": torch.zeros(16)}),
     "unexpected 'features.30.weight', 'features.30.bias'"),
    (lambda s: s.pop("features.28.bias"), "missing 'features.28.bias'"),
])
def test_a_torchvision_vgg16_must_be_exactly_vgg16(tmp_path, change, message):
    from soundclip_core.invert import load_perceptual

    path = _torchvision_vgg(tmp_path, change)
    with pytest.raises(CheckpointError, match=message) as error:
        load_perceptual(path, device=TEST_DEVICE, notify=lambda _: None)
    assert str(error.value).startswith(f"{path}: does not match torchvision's VGG16") and "Fix:" in str(error.value)


def test_a_bad_lpips_file_is_reported_under_its_own_name(tmp_path):
    from tiny_models import TINY_VGG_WIDTHS, tiny_vgg, write_lpips_weights

    from soundclip_core.invert import load_perceptual

    vgg = _torchvision_vgg(tmp_path, lambda s: None)
    lpips = tmp_path / "vgg.pth"
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, w + (k == 3), 1, 1) for k, w in enumerate(TINY_VGG_WIDTHS)},
               lpips)
    with pytest.raises(CheckpointError, match=f"^{lpips}: LPIPS weight lin3 has 17 values, the VGG16's stage 3 has 16"):
        load_perceptual(vgg, lpips, device=TEST_DEVICE)
    torch.save({"lin0.model.1.weight": torch.rand(1, 4, 1, 1)}, lpips)
    with pytest.raises(CheckpointError, match=f"^{lpips}: not LPIPS .*missing 'lin1.model.1.weight'"):
        load_perceptual(vgg, lpips, device=TEST_DEVICE)
    write_lpips_weights(tiny_vgg(), lpips)
    assert load_perceptual(vgg, lpips, device=TEST_DEVICE).weighted


def _e4e(tmp_path: Path, change) -> Path:
    from tiny_models import write_e4e_checkpoint

    path = tmp_path / "e4e_ffhq_encode.pt"
    write_e4e_checkpoint(path, num_ws=8, w_dim=32)
    ckpt = torch.load(path, weights_only=True)
    change(ckpt)
    torch.save(ckpt, path)
    return path


def _drop_unit(ckpt: dict, unit: int) -> None:
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith(f"encoder.body.{unit}.")}


@pytest.mark.parametrize("change, message", [
    (lambda c: _drop_unit(c, 21), r"not an e4e Encoder4Editing network: missing 'body.21.res_layer.1.weight'"),
    (lambda c: _drop_unit(c, 5), r"does not match an e4e Encoder4Editing network \(missing 'body.5.*"),
    (lambda c: c.update(latent_avg=torch.zeros(7)), r"latent_avg \[7\] fits neither one W \[32\] nor W\+ \[8, 32\]"),
    (lambda c: c.update(latent_avg=torch.zeros(3, 32)), r"latent_avg \[3, 32\] fits neither"),
    (lambda c: c["state_dict"].update({"encoder.latlayer1.weight": torch.zeros(32, 5, 1, 1)}),
     r"wrong shapes: 'latlayer1.weight' \[32, 5, 1, 1\]"),
])
def test_a_broken_e4e_file_is_refused_before_building(tmp_path, change, message):
    from soundclip_core.invert import load_e4e

    path = _e4e(tmp_path, change)
    with pytest.raises(CheckpointError, match=message) as error:
        load_e4e(path, device=TEST_DEVICE)
    assert str(error.value).startswith(f"{path}: ") and "Fix:" in str(error.value)


def test_an_arcface_of_another_shape_names_the_keys(tmp_path):
    from soundclip_core.arcface import build_arcface, load_arcface

    state = build_arcface(device="cpu").model.state_dict()
    state["output_layer.3.weight"] = torch.zeros(256, 512 * 7 * 7)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "model_ir_se50.pth")
    with pytest.raises(CheckpointError, match=r"does not match an IR-SE50 ArcFace network \(unexpected "
                                              r"'extra.weight'; wrong shapes: 'output_layer.3.weight' \[256, 25088\]"):
        load_arcface(tmp_path / "model_ir_se50.pth", device=TEST_DEVICE)


# -- encoder sidecars -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_encoder(tmp_path_factory) -> Path:
    from soundclip_core.encoders import build_audio_encoder

    path = tmp_path_factory.mktemp("encoder") / "encoder.pth"
    torch.save(build_audio_encoder("soundclip", embed_dim=64, device="cpu").net.state_dict(), path)
    return path


@pytest.mark.parametrize("sidecar, message", [
    ({"frontend": {"sample_rate": 0}}, "front-end setting sample_rate=0 must be a positive whole number"),
    ({"frontend": {"sample_rate": -44100}}, "sample_rate=-44100 must be a positive whole number"),
    ({"frontend": {"sample_rate": 44100.5}}, "sample_rate=44100.5 must be a positive whole number"),
    ({"frontend": {"resize": [0, 0]}}, r"resize=\[0, 0\] must be a list of 2 positive whole numbers"),
    ({"frontend": {"resize": [512]}}, "must be a list of 2 positive whole numbers"),
    ({"frontend": {"n_mels": "128"}}, "n_mels='128' must be a positive whole number"),
    ({"frontend": {"top_db": float("nan")}}, "top_db=nan must be a positive number"),
    ({"frontend": {"hop_length": True}}, "hop_length=True must be a positive whole number"),
    ({"frontend": {"n_ftt": 1024}}, "'n_ftt' is not a front-end setting of the soundclip encoder"),
    ({"frontend": [1, 2]}, "'frontend' must be a JSON object"),
    ({"space": ""}, "'kind' and 'space' must be non-empty strings"),
    ([1, 2], "must be a JSON object"),
])
def test_encoder_sidecar_values_are_checked_naming_the_sidecar(trained_encoder, sidecar, message):
    from soundclip_core.encoders import load_audio_encoder
    from soundclip_core.encoders.registry import metadata_path

    json_path = metadata_path(trained_encoder)
    content = {"kind": "soundclip", "space": "openai/ViT-B-32", **sidecar} if isinstance(sidecar, dict) else sidecar
    json_path.write_text(json.dumps(content))
    try:
        with pytest.raises(CheckpointError, match=message) as error:
            load_audio_encoder(trained_encoder, device=TEST_DEVICE)
    finally:
        json_path.unlink()
    assert str(error.value).startswith(f"{json_path}: ") and "Fix:" in str(error.value)


def test_valid_sidecar_settings_still_apply(trained_encoder):
    from soundclip_core.encoders import load_audio_encoder
    from soundclip_core.encoders.registry import metadata_path

    json_path = metadata_path(trained_encoder)
    json_path.write_text(json.dumps({"kind": "soundclip", "space": "mine/x", "frontend": {"resize": [256, 128],
                                                                                         "top_db": 60}}))
    try:
        encoder = load_audio_encoder(trained_encoder, device=TEST_DEVICE)
    finally:
        json_path.unlink()
    assert encoder.config["resize"] == [256, 128] and encoder.config["top_db"] == 60 and encoder.space == "mine/x"


def test_training_state_and_init_weights_with_nan_are_refused(tmp_path):
    from soundclip_core.train.checkpoint import load_state
    from soundclip_core.train.network import build_network

    weights = {"trainee": {"net.fc.weight": torch.tensor([1.0, float("nan")])}, "optimizer": {}}
    torch.save({"config": {}, "epoch": 3, **weights}, tmp_path / "train_state.pt")
    with pytest.raises(CheckpointError, match=r"train_state.pt: the training state's network holds NaN or infinite "
                                              r"weights \(in 'trainee.net.fc.weight'\).*Fix: start again"):
        load_state(tmp_path / "train_state.pt")
    torch.save({"state_dict": {"module.conv1.weight": torch.full((2,), float("inf"))}}, tmp_path / "init.pth")
    with pytest.raises(CheckpointError, match=r"init.pth: a soundclip audio encoder or ImageNet weights "
                                              r"\(--init\) holds NaN or infinite weights \(in 'conv1.weight'\)"):
        build_network("soundclip", 64, tmp_path / "init.pth", "any")
