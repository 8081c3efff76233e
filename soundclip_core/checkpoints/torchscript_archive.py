"""TorchScript archives (`torch.jit.save` files such as OpenAI's CLIP `.pt`) read as data.

`torch.jit.load` compiles the archive's `code/` and runs its `__setstate__` methods; here nothing
is compiled or run. The archive is a zip with one top folder holding `data.pkl` (the module tree:
`__torch__.<class>` objects built with NEWOBJ + BUILD of their attribute dict, tensors as
`torch._utils._rebuild_tensor_v2` over persistent ids `('storage', torch.FloatStorage, key,
location, numel)` whose bytes are the entry `data/<key>`), `constants.pkl`, `code/`, `version`
and, from newer torch versions, `byteorder`. `data.pkl` goes through the shared restricted unpickler
(`safe_pickle`): `__torch__` classes become inert `ScriptObject`s, storages are read from the zip,
any other global is refused before anything runs.

Which attributes are parameters and buffers is not in `data.pkl` (they are plain attributes next
to `training`, ints and unregistered tensors). The archive records it only in each class header
of `code/`: `__parameters__ = ["weight", "bias", ]` and `__buffers__ = [...]`, which is what
`torch.jit.load` reads too. Those two list literals (and the `class Name(Module):` line) are read
as text; the code itself is never parsed as a program.
"""

from __future__ import annotations

import ast
import io
import os
import pickle
import re
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import CheckpointError
from .safe_pickle import UNPICKLING_ERRORS, RestrictedUnpickler
from .zip_limits import zip_problem

FIX = "use the archive as released (e.g. OpenAI's CLIP .pt); nothing in the file was run"
# storage classes the TorchScript pickler names (torch.<ScalarType>Storage) and the dtypes they hold
STORAGE_DTYPES = {"Double": torch.float64, "Float": torch.float32, "Half": torch.float16,
                  "BFloat16": torch.bfloat16, "Long": torch.int64, "Int": torch.int32, "Short": torch.int16,
                  "Char": torch.int8, "Byte": torch.uint8, "Bool": torch.bool, "ComplexDouble": torch.complex128,
                  "ComplexFloat": torch.complex64}
_QUALIFIED = re.compile(r"__torch__(\.[A-Za-z_]\w*)*")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


class ScriptObject:
    """A `__torch__.<qualified name>` object: its class name and pickled state, nothing callable."""

    qualified_name = ""

    def __setstate__(self, state) -> None:
        self.state = state


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """`_rebuild_tensor_v2`: a view of `storage` (1-d, its dtype), bounds checked; views may share a storage."""
    if not isinstance(storage, torch.Tensor) or storage.ndim != 1:
        raise pickle.UnpicklingError("tensor without a storage")
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) and all(isinstance(n, int) and n >= 0 for n in (offset, *size, *stride))):
        raise pickle.UnpicklingError(f"malformed tensor view (offset {offset!r}, size {size!r}, stride {stride!r})")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) if all(size) else offset - 1
    if last >= storage.numel() or offset > storage.numel():
        raise pickle.UnpicklingError(f"tensor of size {size} at offset {offset} runs past its storage "
                                     f"of {storage.numel()} values")
    return storage.as_strided(size, stride, offset)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    return data


def _same(value, *type_tag):
    """`torch.jit._pickle.build_intlist(list)`, `restore_type_tag(value, 'Dict[str, Tensor]')`: the value."""
    return value


ALLOWED: dict[tuple[str, str], Callable] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch", "device"): torch.device,
    **{("torch.jit._pickle", name): _same for name in ("build_intlist", "build_tensorlist", "build_doublelist",
                                                       "build_boollist", "restore_type_tag")},
    **{("torch", f"{name}Storage"): dtype for name, dtype in STORAGE_DTYPES.items()},
    **{("torch", str(dtype).removeprefix("torch.")): dtype for dtype in STORAGE_DTYPES.values()},
}


class _ArchiveUnpickler(RestrictedUnpickler):
    """`data.pkl` of one archive: `__torch__` classes become `ScriptObject`s, storages come from the zip."""

    def __init__(self, file, archive: zipfile.ZipFile, root: str, big_endian: bool):
        super().__init__(file, ALLOWED)
        self.archive, self.root, self.big_endian = archive, root, big_endian
        self.classes: dict[str, type] = {}
        self.storages: dict[tuple[str, torch.dtype], torch.Tensor] = {}

    def find_class(self, module: str, name: str):
        if not module.startswith("__torch__"):
            return super().find_class(module, name)
        if not (_QUALIFIED.fullmatch(module) and _IDENTIFIER.fullmatch(name)):
            raise pickle.UnpicklingError(f"malformed TorchScript class name '{module}.{name}'")
        qualified = f"{module}.{name}"
        if qualified not in self.classes:
            self.classes[qualified] = type(name, (ScriptObject,), {"qualified_name": qualified})
        return self.classes[qualified]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"refusing persistent id {str(pid)[:80]}")
        _, dtype, key, _location, numel = pid
        if not (isinstance(dtype, torch.dtype) and isinstance(key, str) and isinstance(numel, int) and numel >= 0):
            raise pickle.UnpicklingError(f"malformed storage reference {str(pid)[:80]}")
        if (key, dtype) not in self.storages:
            self.storages[key, dtype] = self._read_storage(key, dtype, numel)
        return self.storages[key, dtype]

    def _read_storage(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        name = f"{self.root}/data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise pickle.UnpicklingError(f"storage entry '{name}' is missing") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        nbytes = numel * itemsize
        if info.file_size < nbytes:
            raise pickle.UnpicklingError(f"storage entry '{name}' holds {info.file_size} bytes, "
                                         f"expected {nbytes} ({numel} x {dtype})")
        if nbytes == 0:
            return torch.empty(0, dtype=dtype)
        raw = torch.frombuffer(bytearray(self.archive.read(name)[:nbytes]), dtype=torch.uint8)
        if self.big_endian and itemsize > 1:  # complex values swap each of their two parts
            unit = itemsize // 2 if dtype.is_complex else itemsize
            raw = raw.view(-1, unit).flip(1).reshape(-1)
        return raw.view(dtype)


def _archive_error(problem: str, path: Path) -> CheckpointError:
    return CheckpointError(problem, path=path, fix=FIX)


def is_torchscript_archive(path: str | os.PathLike) -> bool:
    """A zip with `constants.pkl` (what `torch.jit.save` writes; `torch.save` zips have none)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("constants.pkl") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(f"damaged zip archive ({error})", path=path,
                              fix="re-download the file (it is probably truncated)") from error


def _root(archive: zipfile.ZipFile, path: Path) -> str:
    roots = [n[: -len("/data.pkl")] for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
    if len(roots) != 1:
        legacy = any(n.endswith("model.json") for n in archive.namelist())
        raise _archive_error("no data.pkl in the archive" + (" (a TorchScript archive from torch < 1.4, whose "
                             "model.json layout is not read)" if legacy else ": not a TorchScript archive"), path)
    return roots[0]


class _Declarations:
    """Per class: is it a Module, and its `__parameters__` / `__buffers__` lists, read from `code/` as text
    (each class is printed to `code/<qualifier as folders>.py`, e.g. `code/__torch__/torch/nn/modules/linear.py`)."""

    def __init__(self, archive: zipfile.ZipFile, root: str, path: Path):
        self.archive, self.root, self.path = archive, root, path
        self.cache: dict[str, tuple[bool, list[str], list[str]]] = {}

    def __call__(self, qualified: str) -> tuple[bool, list[str], list[str]]:
        if qualified not in self.cache:
            self.cache[qualified] = self._read(qualified)
        return self.cache[qualified]

    def _read(self, qualified: str) -> tuple[bool, list[str], list[str]]:
        if qualified.startswith("__torch__.torch.classes."):  # C++ custom classes: never modules
            return False, [], []
        module, name = qualified.rsplit(".", 1)
        entry = f"{self.root}/code/{module.replace('.', '/')}.py"
        try:
            text = self.archive.read(entry).decode("utf-8")
        except KeyError:
            raise _archive_error(f"class {qualified} has no declaration ({entry} is missing)", self.path) from None
        # `class Name(Module):` for modules, `class Name:` for script classes (not part of the state)
        header = re.search(rf"^class {re.escape(name)}(?:\((\w+)\))?:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", text, re.M)
        if header is None:
            raise _archive_error(f"class {qualified} is not declared in {entry}", self.path)
        body = header.group(2)
        return header.group(1) == "Module", self._names(body, "__parameters__"), self._names(body, "__buffers__")

    def _names(self, body: str, field: str) -> list[str]:
        match = re.search(rf"^[ \t]+{field} = (\[[^\[\]\n]*\])[ \t]*$", body, re.M)
        if match is None:
            return []
        try:
            names = ast.literal_eval(match.group(1))  # a flat list literal of strings, nothing evaluated
        except (ValueError, SyntaxError):
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _archive_error(f"malformed {field} declaration", self.path)
        return names


def _collect(obj: ScriptObject, prefix: str, declarations: _Declarations, out: dict, path: Path,
             parents: tuple[int, ...] = ()) -> None:
    """`nn.Module.state_dict` order: own parameters, own buffers, then each submodule, recursively."""
    if id(obj) in parents:
        raise _archive_error(f"module '{prefix.rstrip('.')}' contains itself", path)
    attributes = getattr(obj, "state", None)
    if not isinstance(attributes, dict):
        raise _archive_error(f"module {obj.qualified_name} restores its state with its own code (__setstate__), "
                             "which is not run", path)
    _, parameters, buffers = declarations(obj.qualified_name)
    for names in (parameters, buffers):
        for name in names:
            if isinstance(attributes.get(name), torch.Tensor):
                out[prefix + name] = attributes[name]
    for name, value in attributes.items():
        if isinstance(value, ScriptObject) and declarations(value.qualified_name)[0]:
            _collect(value, f"{prefix}{name}.", declarations, out, path, (*parents, id(obj)))


def read_torchscript_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """What `torch.jit.load(path, map_location="cpu").state_dict()` returns, without compiling or running
    anything: the parameters and buffers of the module tree under dotted names, CPU tensors in their dtypes
    (views of one storage keep sharing it)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("file not found", path=path, fix="check the path, or download the model first")
    problem = zip_problem(path, path.stat().st_size)  # declared sizes checked before anything is inflated
    if problem:
        raise CheckpointError(f"not a readable TorchScript archive: {problem}", path=path,
                              fix="re-download the file from its original source")
    try:
        with zipfile.ZipFile(path) as archive:
            root = _root(archive, path)
            big_endian = f"{root}/byteorder" in archive.namelist() and \
                archive.read(f"{root}/byteorder").strip() == b"big"
            unpickler = _ArchiveUnpickler(io.BytesIO(archive.read(f"{root}/data.pkl")), archive, root, big_endian)
            module = unpickler.load()
            if not isinstance(module, ScriptObject):
                raise _archive_error(f"data.pkl holds a {type(module).__name__}, not a TorchScript module "
                                     "(a torch.save file? it is read with torch.load)", path)
            state: dict[str, torch.Tensor] = OrderedDict()
            _collect(module, "", _Declarations(archive, root, path), state, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RecursionError) as error:
        raise CheckpointError(f"damaged TorchScript archive ({type(error).__name__}: {error})", path=path,
                              fix="re-download the file (it is probably truncated)") from error
    except UNPICKLING_ERRORS as error:
        raise _archive_error(f"unsafe or unreadable TorchScript archive: {error}", path) from error
    return state
