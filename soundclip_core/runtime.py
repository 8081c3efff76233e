"""Where and how numbers are computed: device choice and precision.

Users run on CUDA when they have it, on Apple silicon's MPS, and on CPU otherwise; precision is an
explicit choice (fp32 default, bf16 on GPUs and CPUs that compute it natively, fp16 on GPUs: CUDA or MPS),
applied by autocast so that every model in a loop follows the same setting. A CUDA device gets the fast
defaults once: cuDNN picks the fastest algorithm for each (fixed) shape of an optimisation loop, and
fp32 matmuls and convolutions use TF32 tensor cores (10-bit mantissa products, fp32 sums: far below what
an image edit can show; SOUNDCLIP_TF32=0 turns it off for bit-exact comparisons). fp16 losses are scaled
by a static power of two before backward (see `backward`): without it the gradients of a 1024 px image fall
below fp16's normal range.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

import torch

from .errors import SoundClipError

PRECISIONS = ("fp32", "bf16", "fp16")
# static fp16 loss scale: lifts image gradients (~1e-8 and below at 1024 px) into fp16's normal range while
# the largest stay far below its maximum (65504); a power of two, so scaling and unscaling are exact
FP16_LOSS_SCALE = 2.0**12


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, else CUDA when available, else MPS (Apple silicon) when available, else CPU.
    A requested GPU that is not there is one clear error, before any model is loaded."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError:
        raise SoundClipError(f"unknown device '{device}'", fix="use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SoundClipError(f"--device {device}: this machine has no CUDA GPU that torch can use (or torch was "
                                 "installed without CUDA)", fix="leave --device out to use what is there, or "
                                 "install the CUDA build of torch (https://pytorch.org/get-started/locally/)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SoundClipError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)",
                                 fix=f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        use_fast_cuda_defaults()
    elif device.type == "mps" and not mps_available():
        raise SoundClipError(f"--device {device}: MPS (Apple silicon) is not available here",
                             fix="leave --device out to use what is there")
    return device


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def use_fast_cuda_defaults() -> None:
    """cuDNN autotuning, and TF32 for fp32 matmuls and convolutions unless SOUNDCLIP_TF32=0 (see above)."""
    torch.backends.cudnn.benchmark = True
    tf32 = os.environ.get("SOUNDCLIP_TF32", "1") != "0"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def precision_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype for `precision` on `device`, refusing unsupported pairs."""
    if precision not in PRECISIONS:
        raise SoundClipError(f"unknown precision '{precision}'", fix=f"use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return torch.float32
    if precision == "fp16":
        if device.type not in ("cuda", "mps"):
            raise SoundClipError("fp16 needs a CUDA device (or Apple silicon's MPS)", fix="use bf16 or fp32 on CPU")
        return torch.float16
    if device.type == "mps":
        raise SoundClipError("bf16 is not supported on MPS here", fix="use fp16 or fp32")
    if device.type == "cuda" and not cuda_has_native_bf16(device):
        raise SoundClipError("this GPU has no native bf16 (before Ampere it is emulated, slower than fp32)",
                             fix="use fp16 or fp32")
    if device.type == "cpu" and not cpu_has_fast_bf16():
        raise SoundClipError("this CPU has no bf16 instructions (AVX512-BF16, AMX or oneDNN bf16): bf16 would be "
                             "emulated, ~40x slower than fp32", fix="use fp32")
    return torch.bfloat16


def cuda_has_native_bf16(device: torch.device) -> bool:
    """bf16 in hardware (compute capability 8.0, Ampere, and later); torch's own check also counts the
    emulation older GPUs run."""
    return torch.cuda.get_device_capability(device)[0] >= 8


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


def backward(loss: torch.Tensor, precision: str, params: Iterable[torch.Tensor] = ()) -> None:
    """loss.backward(); under fp16 the loss is scaled by FP16_LOSS_SCALE first and the gradients of `params`
    are then unscaled on the device, non-finite entries (an fp16 overflow) set to 0, with no read back to the
    host (no GradScaler: its step reads found_inf every step). When several backward passes add up to one
    optimizer step, give `params` with the last one only. fp32 and bf16: exactly loss.backward()."""
    if precision != "fp16":
        loss.backward()
        return
    (loss * FP16_LOSS_SCALE).backward()
    for param in params:
        if param.grad is not None:
            torch.nan_to_num_(param.grad.mul_(1 / FP16_LOSS_SCALE), nan=0.0, posinf=0.0, neginf=0.0)


class LateValues:
    """Numbers a loop produces on the device (a loss, a similarity), shown once they have arrived, never waited
    for: reading a CUDA tensor from the host waits for the GPU to finish the step (a sync per step). `push`
    starts a non-blocking copy into pinned host memory and marks it with an event; `latest()` takes what has
    arrived, so a progress bar shows values a step or two late; `wait()` (after the loop) takes all. CPU
    values are read as they come: there is no device to wait for."""

    def __init__(self) -> None:
        self._pending: list[tuple[tuple[str, ...], torch.Tensor, object]] = []
        self._latest: dict[str, float] = {}

    def push(self, values: dict[str, torch.Tensor | float]) -> None:
        names = tuple(values)
        stacked = torch.stack([torch.as_tensor(v, dtype=torch.float32).reshape(()) for v in values.values()])
        if stacked.device.type != "cuda":
            self._latest = dict(zip(names, stacked.tolist(), strict=True))
            return
        host = torch.empty(stacked.shape, dtype=stacked.dtype, pin_memory=True)
        host.copy_(stacked, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._pending.append((names, host, event))

    def latest(self) -> dict[str, float]:
        while self._pending and self._pending[0][2].query():
            names, host, _ = self._pending.pop(0)
            self._latest = dict(zip(names, host.tolist(), strict=True))
        return self._latest

    def wait(self) -> dict[str, float]:
        if self._pending:
            self._pending[-1][2].synchronize()
        return self.latest()
