"""TorchScript archives read as data: exactly `torch.jit.load(p).state_dict()`, nothing compiled or run."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Tuple  # noqa: UP035 (TorchScript annotations)

import numpy as np
import pytest
import torch
from devices import TEST_DEVICE
from open_clip import tokenize
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from tiny_models import tiny_rn_clip, tiny_vgg, write_nvidia_vgg_archive

from soundclip_core.checkpoints.torchscript_archive import read_torchscript_tensors
from soundclip_core.clip import load_clip, tiny_clip
from soundclip_core.errors import CheckpointError


class Assorted(torch.nn.Module):
    """Buffers of several dtypes, a non-persistent buffer, a None buffer, views sharing one storage, an
    unregistered tensor attribute, typed lists/dicts, containers, a shared submodule and a bias-free layer."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2, bias=False)
        self.seq = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.BatchNorm1d(2))
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Conv1d(2, 2, 1)])
        self.shared = self.blocks[0]
        self.scale = torch.nn.Parameter(torch.randn(3, 4)[:, 1])
        self.register_buffer("halves", torch.randn(3).half())
        self.register_buffer("bf16", torch.randn(3).bfloat16())
        self.register_buffer("flags", torch.tensor([True, False, True]))
        self.register_buffer("cplx", torch.randn(2, dtype=torch.complex64))
        self.register_buffer("steps", torch.arange(5))
        self.register_buffer("missing", None)
        self.register_buffer("scratch", torch.ones(2), persistent=False)
        base = torch.randn(4, 4)
        self.register_buffer("rows", base[1:3, ::2])
        self.register_buffer("transposed", base.t())
        self.plain = torch.zeros(2)  # not a buffer: not in state_dict
        self.lst = [1, 2]
        self.tensors = [torch.ones(2)]
        self.table = {"a": torch.ones(1)}
        self.name = "assorted"
        self.holder = Holder(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extras = self.tensors[0].sum() + self.table["a"].sum() + self.plain.sum() + self.holder.tensor.sum()
        return self.lin(x).sum() + extras


@torch.jit.script
class Holder:
    """A TorchScript class (not a module): its tensors are not part of the state."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor


class Tripwire(torch.nn.Module):
    """Every method would announce that it ran (and refuse to go on)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("TRIPWIRE forward ran")
        raise RuntimeError("the archive's program was run")


def _jit_state(path: Path) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location="cpu").state_dict()


def _save(module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module.save(str(path))
    return path


def _script(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return _save(torch.jit.script(module.eval()), path)


def _trace_clip(model: CLIP, path: Path, image_size: int) -> Path:
    inputs = {"encode_image": torch.zeros(1, 3, image_size, image_size),
              "encode_text": torch.zeros(1, 77, dtype=torch.long)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _save(torch.jit.trace_module(model.eval(), inputs), path)


def _assert_same(ours: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> None:
    assert list(ours) == list(reference)
    for name, tensor in reference.items():
        mine = ours[name]
        assert (mine.dtype, mine.shape, mine.stride(), mine.storage_offset()) == \
            (tensor.dtype, tensor.shape, tensor.stride(), tensor.storage_offset()), name
        assert torch.equal(mine, tensor), name
        assert not mine.requires_grad


def _rewrite(source: Path, target: Path, replace: dict[str, bytes | None]) -> Path:
    """A copy of the archive with entries replaced (suffix match) or, for None, dropped."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            suffix = next((s for s in replace if name.endswith(s)), None)
            if suffix is None:
                new.writestr(name, old.read(name))
            elif replace[suffix] is not None:
                new.writestr(name, replace[suffix])
    return target


@pytest.fixture(scope="module")
def assorted(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return _script(Assorted(), tmp_path_factory.mktemp("ts") / "assorted.pt")


def test_scripted_module_with_every_kind_of_attribute(assorted):
    ours = read_torchscript_tensors(assorted)
    _assert_same(ours, _jit_state(assorted))
    assert "scratch" in ours and "plain" not in ours and "missing" not in ours and "lin.bias" not in ours \
        and not any("holder" in name for name in ours)
    assert ours["rows"].untyped_storage().data_ptr() == ours["transposed"].untyped_storage().data_ptr()


@pytest.mark.parametrize("kind", ["scripted", "traced"])
def test_open_clip_and_resnet_archives(tmp_path, kind):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18(num_classes=4).eval()
    clip = tiny_clip(device="cpu").model
    if kind == "scripted":
        paths = [_script(net, tmp_path / "resnet.pt"), _script(clip, tmp_path / "clip.pt")]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            paths = [_save(torch.jit.trace(net, torch.zeros(1, 3, 32, 32)), tmp_path / "resnet.pt"),
                     _trace_clip(clip, tmp_path / "clip.pt", 32)]
    for path in paths:
        _assert_same(read_torchscript_tensors(path), _jit_state(path))


def test_nvidia_vgg_archive_helper(tmp_path):
    path = write_nvidia_vgg_archive(tiny_vgg(), tmp_path / "vgg16.pt")
    _assert_same(read_torchscript_tensors(path), _jit_state(path))


def test_nothing_in_the_archive_is_compiled_or_run(tmp_path, monkeypatch, capsys):
    path = _script(Tripwire(), tmp_path / "tripwire.pt")
    expected = _jit_state(path)
    # code/ gets a payload next to the class declaration: executing or compiling it would leave a file
    marker = tmp_path / "payload-ran"
    with zipfile.ZipFile(path) as archive:
        entry = next(n for n in archive.namelist() if b"class Tripwire(" in archive.read(n))
        code = archive.read(entry).decode()
    payload = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
    hostile = _rewrite(path, tmp_path / "hostile.pt", {entry: (payload + code + payload).encode()})

    def forbidden(*args, **kwargs):
        raise AssertionError("the TorchScript importer was called")

    monkeypatch.setattr(torch.jit, "load", forbidden)
    monkeypatch.setattr(torch._C, "import_ir_module", forbidden)
    monkeypatch.setattr(torch._C, "import_ir_module_from_buffer", forbidden)
    for archive in (path, hostile):
        _assert_same(read_torchscript_tensors(archive), expected)
    assert not marker.exists() and "TRIPWIRE" not in capsys.readouterr().out


def test_module_restoring_itself_with_its_own_code_is_refused(tmp_path, capsys):
    class Restoring(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(2))

        @torch.jit.export
        def __getstate__(self):
            return (self.weight, self.training)

        @torch.jit.export
        def __setstate__(self, state: Tuple[torch.Tensor, bool]):  # noqa: UP006
            print("TRIPWIRE setstate ran")
            self.weight = state[0]
            self.training = state[1]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    path = _script(Restoring(), tmp_path / "restoring.pt")
    _jit_state(path)
    assert "TRIPWIRE setstate ran" in capsys.readouterr().out  # jit.load does run it
    with pytest.raises(CheckpointError, match="__setstate__"):
        read_torchscript_tensors(path)
    assert "TRIPWIRE" not in capsys.readouterr().out


@pytest.mark.parametrize("payload, name", [
    (b"cos\nsystem\n(S'touch {marker}'\ntR.", "os.system"),
    (b"cbuiltins\neval\n(S'open(\"{marker}\", \"w\")'\ntR.", "builtins.eval"),
    (b"c__builtin__\nexec\n(S'open(\"{marker}\", \"w\")'\ntR.", "__builtin__.exec"),
])
def test_hostile_data_pickle_is_refused_before_running(assorted, tmp_path, payload, name):
    marker = tmp_path / "payload-ran"
    hostile = _rewrite(assorted, tmp_path / "hostile.pt",
                       {"/data.pkl": payload.replace(b"{marker}", str(marker).encode())})
    with pytest.raises(CheckpointError, match=f"refusing global '{name}'") as error:
        read_torchscript_tensors(hostile)
    assert str(hostile) in str(error.value) and "nothing in the file was run" in str(error.value)
    assert not marker.exists()


def test_odd_class_names_and_foreign_pickles_are_refused(assorted, tmp_path):
    traversal = b"\x80\x02c__torch__.a\nb/../x\n)\x81}b."
    with pytest.raises(CheckpointError, match="malformed TorchScript class name"):
        read_torchscript_tensors(_rewrite(assorted, tmp_path / "t.pt", {"/data.pkl": traversal}))
    not_module = pickle.dumps({"weight": 1}, protocol=2)
    with pytest.raises(CheckpointError, match="not a TorchScript module"):
        read_torchscript_tensors(_rewrite(assorted, tmp_path / "d.pt", {"/data.pkl": not_module}))


def test_damaged_archives_give_clear_errors(assorted, tmp_path):
    raw = assorted.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="damaged .*re-download"):
        read_torchscript_tensors(tmp_path / "truncated.pt")
    with pytest.raises(CheckpointError, match="no data.pkl"):
        read_torchscript_tensors(_rewrite(assorted, tmp_path / "nodata.pt", {"/data.pkl": None}))
    with pytest.raises(CheckpointError, match="storage entry '.*/data/0' is missing"):
        read_torchscript_tensors(_rewrite(assorted, tmp_path / "nostorage.pt", {"/data/0": None}))
    with pytest.raises(CheckpointError, match="storage entry '.*/data/1' holds 2 bytes"):
        read_torchscript_tensors(_rewrite(assorted, tmp_path / "short.pt", {"/data/1": b"ab"}))
    with zipfile.ZipFile(assorted) as archive:  # (class names get mangled per process: find it by content)
        declaring = next(n for n in archive.namelist() if n.endswith(".py") and b"class Assorted(" in archive.read(n))
    with pytest.raises(CheckpointError, match="class .*Assorted has no declaration"):
        read_torchscript_tensors(_rewrite(assorted, tmp_path / "nocode.pt", {declaring: None}))
    with pytest.raises(CheckpointError, match="damaged zip archive .*re-download"):
        load_clip("ViT-B-32", tmp_path / "truncated.pt", device=TEST_DEVICE)
    with zipfile.ZipFile(assorted) as archive:
        code = archive.read(declaring).replace(b'__buffers__ = ["', b'__buffers__ = [+"')
    with pytest.raises(CheckpointError, match="malformed __buffers__ declaration"):
        read_torchscript_tensors(_rewrite(assorted, tmp_path / "badcode.pt", {declaring: code}))
    (tmp_path / "text.pt").write_text("<html>not found</html>")
    with pytest.raises(CheckpointError, match="damaged"):
        read_torchscript_tensors(tmp_path / "text.pt")
    with pytest.raises(CheckpointError, match="not found"):
        read_torchscript_tensors(tmp_path / "absent.pt")


def test_storages_saved_on_a_gpu_load_on_the_cpu(assorted, tmp_path):
    """OpenAI's archives were saved from CUDA: persistent ids name 'cuda:0' (a location, not a device to use)."""
    with zipfile.ZipFile(assorted) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("/data.pkl")))
    cpu = b"X\x03\x00\x00\x00cpu"
    assert cpu in data
    moved = _rewrite(assorted, tmp_path / "cuda.pt", {"/data.pkl": data.replace(cpu, b"X\x06\x00\x00\x00cuda:0")})
    ours = read_torchscript_tensors(moved)
    _assert_same(ours, _jit_state(assorted))
    assert all(t.device.type == "cpu" for t in ours.values())


def test_big_endian_archive(tmp_path):
    torch.manual_seed(0)
    path = _script(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)), tmp_path / "little.pt")
    with zipfile.ZipFile(path) as archive:
        swapped = {name[name.index("/"):]: np.frombuffer(archive.read(name), "<f4").astype(">f4").tobytes()
                   for name in archive.namelist() if "/data/" in name}
    big = _rewrite(path, tmp_path / "big.pt", {**swapped, "/byteorder": b"big"})
    _assert_same(read_torchscript_tensors(big), _jit_state(path))


def test_load_clip_reads_openai_style_archives(tmp_path):
    """A traced RN CLIP (AudioCLIP's 1024-d) and a scripted 512-d ViT load as OpenAI's RN50 / ViT-B-32, giving
    the same model as their plain state dicts."""
    torch.manual_seed(0)
    vit = CLIP(512, CLIPVisionCfg(layers=1, width=64, patch_size=8, image_size=32),
               CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1), quick_gelu=True)
    cases = [("RN50", tiny_rn_clip(), _trace_clip(tiny_rn_clip(), tmp_path / "RN50.pt", 64)),
             ("ViT-B-32", vit, _script(vit, tmp_path / "ViT-B-32.pt"))]
    for arch, model, path in cases:
        torch.save(model.state_dict(), tmp_path / f"{arch}-state.pt")
        clip = load_clip(arch, path, device=TEST_DEVICE)
        reference = load_clip(arch, tmp_path / f"{arch}-state.pt", TEST_DEVICE)
        assert clip.space == f"openai/{arch}"
        _assert_same(clip.model.state_dict(), reference.model.state_dict())
        images = torch.rand(1, 3, clip.image_size, clip.image_size).to(TEST_DEVICE)
        torch.testing.assert_close(clip.encode_image(images).vectors, reference.encode_image(images).vectors)
        with torch.no_grad():  # and the weights are the trained model's (open_clip keeps fp16-rounded copies)
            expected = torch.nn.functional.normalize(model.eval().encode_text(tokenize(["rain"])), dim=-1)
        torch.testing.assert_close(clip.encode_text(["rain"]).vectors.cpu(), expected, atol=2e-3, rtol=0)
