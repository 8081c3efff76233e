"""Count the values a computation reads back to the host (each a device sync on CUDA), on any device.

`.item()`, `bool(tensor)`, `float(tensor)` and `if tensor:` all end in one of the aten ops below; a
dispatch mode sees them on the CPU exactly as on CUDA, so a CPU test proves a loop free of them."""

from __future__ import annotations

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
        if func in HOST_READS:
            self.ops.append(str(func))
        return func(*args, **(kwargs or {}))
