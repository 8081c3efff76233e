"""torchrun / DDP plumbing: process group from torchrun's environment, a gather and a sum that carry
gradients, and batch norms whose statistics are those of the global batch.

The contrastive loss must see every process's embeddings (the negatives of the global batch), and a
single process with the same global batch must give the same numbers. `all_gather_with_grad` sums the
gradient of the gathered tensor over processes before taking this process's slice: every process
computes the same global loss L, so the gradient that reaches this process's rows is W * dL/dx, and
DDP's gradient *average* over W processes brings the parameters' gradient back to dL/dtheta.
`GlobalBatchNorm2d` (a BatchNorm2d with the same state dict) normalises with the mean and variance of
the global batch, like torch's SyncBatchNorm, which only runs on GPUs; ours also runs on CPU (gloo).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .. import runtime


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def process_device(requested: torch.device, world: int, local_rank: int, current_index: int = 0) -> torch.device:
    """The device this process computes on: under torchrun each process takes its own GPU, cuda:LOCAL_RANK
    (an index given on the command line would put every rank on one GPU); alone, a bare "cuda" means the
    current GPU. Other devices are used as given."""
    if requested.type != "cuda":
        return requested
    if world > 1:
        return torch.device("cuda", local_rank)
    return torch.device("cuda", current_index if requested.index is None else requested.index)


def join(requested: str | torch.device | None = None) -> tuple[Dist, torch.device]:
    """This process's place in a run and its device, in the order NCCL needs: the device is chosen and made
    current before the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) is
    joined, so every later CUDA allocation (CLIP, the network, NCCL's own buffers) lands on this process's
    GPU. One process without torchrun. NCCL on GPUs, gloo on CPU. Calling it again returns the same."""
    world, local_rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))
    device = runtime.pick_device(requested)
    if device.type == "cuda":
        device = process_device(device, world, local_rank, torch.cuda.current_device())
        torch.cuda.set_device(device)
    if world <= 1:
        return Dist(), device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank), device


def leave() -> None:
    """Close the process group a torchrun run opened (no-op otherwise)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def current() -> Dist:
    if dist.is_available() and dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return Dist()


def barrier() -> None:
    if current().active:
        dist.barrier()


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rows = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


class _SumWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """[n, ...] on each of W processes (same n) -> [W * n, ...] in rank order; gradients flow back."""
    return _GatherWithGrad.apply(x) if current().active else x


def all_sum_with_grad(x: torch.Tensor) -> torch.Tensor:
    return _SumWithGrad.apply(x) if current().active else x


def all_gather_plain(x: torch.Tensor) -> torch.Tensor:
    """A gather without gradients (frozen text/image embeddings, masks)."""
    if not current().active:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the batch over all processes (one process: a
    plain batch norm). Same parameters, buffers and state dict as nn.BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and current().active):
            return super().forward(x)
        count = x.new_full((1,), x.numel() / x.shape[1], dtype=torch.float32)  # a fill, not a host copy
        sums = torch.cat([x.float().sum(dim=(0, 2, 3)), x.float().square().sum(dim=(0, 2, 3)), count])
        sums = all_sum_with_grad(sums)
        c = x.shape[1]
        n = sums[-1]
        mean = sums[:c] / n
        var = (sums[c:2 * c] / n - mean.square()).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp_min(1), alpha=m)
        shape = (1, c, 1, 1)
        y = (x.float() - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def globalize_batch_norms(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in `module` by a GlobalBatchNorm2d holding the same tensors (in place)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                            child.track_running_stats)
            replacement.load_state_dict(child.state_dict())
            replacement.to(next(iter(child.state_dict().values())).device)
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            globalize_batch_norms(child)
    return module
