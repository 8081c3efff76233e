"""`read_state_dict`: the one way a model file's tensors are read, with one error wording.

Every loader names what the file should be and how to get a good one; the reader picks the container by
its bytes (`sniff`): safetensors, a TorchScript archive (tensors read as data, its program never run),
or a torch zip / legacy pickle through `torch.load(weights_only=True)`, which rebuilds tensors and plain
containers only (plus the classes a caller explicitly allows, such as rosinality's argparse.Namespace).
Zip archives have their declared sizes checked before anything is inflated. An unreadable, truncated
or refused file gives `<file>: not a readable PyTorch checkpoint of <what>: <one-line reason> Fix: <fix>`.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch

from ..errors import CheckpointError
from .formats import sniff
from .torchscript_archive import is_torchscript_archive, read_torchscript_tensors
from .validate import check_finite
from .zip_limits import zip_problem

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# torch zip files at least this large are memory-mapped, not read into memory: a loader keeps a part of some
# (ImageBind's 4.8 GB file gives a 0.35 GB audio encoder), and copies into its modules what it keeps
MMAP_BYTES = 1 << 30


def _reason(error: Exception) -> str:
    """One line saying why torch could not read a file (its own messages span paragraphs)."""
    text = _ANSI.sub("", str(error))
    named = re.search(r"GLOBAL ([\w.]+)", text)
    if named:
        return f"it refers to '{named.group(1)}', code that is unsafe to load; nothing in the file was run"
    if "Weights only load failed" in text:
        detail = text.split("WeightsUnpickler error:", 1)[-1] if "WeightsUnpickler error:" in text else ""
        lines = [line.strip() for line in detail.splitlines() if line.strip()]
        return "unsafe content refused by the weights-only reader" + (f" ({lines[0][:120]})" if lines else "") + \
            "; nothing in the file was run"
    if isinstance(error, EOFError) or re.search(r"EOF|central directory|unpack requires|truncated", text):
        return "the file ends early or is damaged (an interrupted download? re-download it)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:160] if lines else 'no details'}"


def _torch_load(source, allow: Iterable[type], mmap: bool = False) -> object:
    with warnings.catch_warnings(), torch.serialization.safe_globals(list(allow)):
        warnings.simplefilter("ignore")  # torch's pickle-protocol notices would add lines to a one-line error
        return torch.load(source, map_location="cpu", weights_only=True, mmap=mmap)


def _unreadable(path: Path, what: str, reason: str, fix: str) -> CheckpointError:
    """The one wording for a file that cannot be read as the model it should be."""
    return CheckpointError(f"not a readable PyTorch checkpoint of {what}: {reason}", path=path, fix=fix)


def read_checkpoint(path: str | os.PathLike, what: str, fix: str, *, allow: Iterable[type] = ()) -> object:
    """The whole content of a model file (a dict of tensors for safetensors and TorchScript archives,
    whatever containers `torch.save` wrote otherwise), read without running anything from it."""
    path = Path(path)
    try:
        container = sniff(path)
    except CheckpointError as error:  # missing, empty, an HTML page: said in the same words
        raise (CheckpointError(f"file not found (expected {what})", path=path, fix=fix) if not path.is_file()
               else _unreadable(path, what, error.problem, fix)) from None
    problem = zip_problem(path, path.stat().st_size) if container == "torch-zip" else None
    if problem:  # truncated, or declaring more than it holds: refused before anything is inflated
        raise _unreadable(path, what, problem, fix)
    if container == "torch-zip":
        try:
            if is_torchscript_archive(path):
                return read_torchscript_tensors(path)  # tensors read as data; the archive's program is never run
        except CheckpointError as error:  # the archive reader's own problem, in the same words as the others
            raise _unreadable(path, what, f"{error.problem}; nothing in the file was run", fix) from error
    try:
        if container == "safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return _torch_load(path, allow, mmap=container == "torch-zip" and path.stat().st_size >= MMAP_BYTES)
    except CheckpointError:
        raise
    except Exception as error:  # torch and safetensors raise many types for bad, unsafe or truncated files
        raise _unreadable(path, what, _reason(error), fix) from error


def read_state_dict(path: str | os.PathLike, what: str, fix: str, *, nested: Iterable[str] = (),
                    allow: Iterable[type] = (), finite: bool = True) -> dict[str, torch.Tensor]:
    """The tensors of a model file as a flat state dict: the first of the `nested` wrappers present
    (e.g. "state_dict", "model") is unwrapped, non-tensor entries dropped, `module.` prefixes (from
    DataParallel) stripped, and, unless `finite` is False, NaN or infinite weights refused."""
    path = Path(path)
    state = read_checkpoint(path, what, fix, allow=allow)
    for key in nested:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise _unreadable(path, what, f"it holds a {type(state).__name__}, not a state dict", fix)
    tensors = {str(k).removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if finite:
        check_finite(tensors, path, what)
    return tensors


def load_storage_bytes(data: bytes) -> object:
    """`torch.storage._load_from_bytes` for the restricted unpickler of NVIDIA pickles: one storage
    serialised by `torch.save`, read weights-only (and, when it is a zip, size-checked first)."""
    if data[:2] == b"PK":
        problem = zip_problem(io.BytesIO(data), len(data))
        if problem:
            raise ValueError(f"tensor storage: {problem}")
    return _torch_load(io.BytesIO(data), ())
