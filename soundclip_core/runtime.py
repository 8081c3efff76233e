"""Where and how numbers are computed: device choice and precision.

Users run on CUDA when they have it and on CPU otherwise; precision is an explicit
choice (fp32 default, bf16 on CUDA or CPUs with native bf16, fp16 on CUDA only),
applied by autocast so that every model in a loop follows the same setting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from .errors import SoundClipError

PRECISIONS = ("fp32", "bf16", "fp16")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def precision_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype for `precision` on `device`, refusing unsupported pairs."""
    if precision not in PRECISIONS:
        raise SoundClipError(f"unknown precision '{precision}'", fix=f"use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return torch.float32
    if precision == "fp16":
        if device.type != "cuda":
            raise SoundClipError("fp16 needs a CUDA device", fix="use bf16 or fp32 on CPU")
        return torch.float16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise SoundClipError("this GPU has no bf16 support", fix="use fp16 or fp32")
    if device.type == "cpu" and not cpu_has_fast_bf16():
        raise SoundClipError("this CPU has no bf16 instructions (AVX512-BF16, AMX or oneDNN bf16): bf16 would be "
                             "emulated, ~40x slower than fp32", fix="use fp32")
    return torch.bfloat16


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16, AMX, or oneDNN's bf16 path)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
                    or torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # the private probes are gone in some later torch: do not block
        return True


@contextlib.contextmanager
def autocast(device: torch.device, precision: str = "fp32") -> Iterator[None]:
    """Run the enclosed code at `precision` (a no-op for fp32)."""
    dtype = precision_dtype(precision, device)
    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def compute_dtype(device: torch.device) -> torch.dtype:
    """The dtype autocast computes in on `device` right now (float32 when autocast is off)."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32
