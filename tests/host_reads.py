"""Count the values a computation reads back to the host (each a device sync on CUDA), on any device.

`.item()`, `bool(tensor)`, `float(tensor)` and `if tensor:` all end in one of the aten ops below; a
dispatch mode sees them on the CPU exactly as on CUDA, so a CPU test proves a loop free of them. One
read is not counted: torch's optimizers keep their step count on the host on purpose (capturable=False)
and read it there, which costs no GPU sync; on the CPU it cannot be told apart by device, so it is told
apart by who reads it."""

from __future__ import annotations

import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

HOST_READS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default,
              torch.ops.aten.equal.default}


class HostReads(TorchDispatchMode):
    """with HostReads() as reads: ...; reads.count, reads.ops (the op names, in order)."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    @property
    def count(self) -> int:
        return len(self.ops)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in HOST_READS and not _optimizer_step_count():
            self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def _optimizer_step_count() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if "/torch/optim/" in frame.f_code.co_filename.replace("\\", "/"):
            return True
        frame = frame.f_back
    return False
