"""How much memory an edit step needs per image, planned without allocating it.

The backward pass of an edit keeps every tensor the forward saved for it: that, not the weights, is what
grows with resolution and batch. `saved_bytes_per_image` runs the generator's forward on fake tensors
(shapes and dtypes only: no memory, no arithmetic) at batch 1 and 2 and takes the difference of what
autograd saves: the cost of one more image, with everything that does not grow with the batch (weights
and values derived from them) cancelled out. It runs in seconds on any machine, so the README's numbers
and the tests' ceilings need no GPU.
"""

from __future__ import annotations

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.autograd.graph import saved_tensors_hooks


def saved_bytes(generator: torch.nn.Module, batch: int, fake: bool = True) -> int:
    """Bytes autograd saves for the backward of `generator.synthesis` w.r.t. a W+ batch of `batch`."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    device = generator.w_avg.device
    with FakeTensorMode(allow_non_fake_inputs=True) if fake else torch.no_grad(), \
            torch.enable_grad(), saved_tensors_hooks(pack, lambda tensor: tensor):
        ws = torch.zeros(batch, generator.num_ws, generator.w_dim, device=device, requires_grad=True)
        generator.synthesis(ws)
    return total


def saved_bytes_per_image(generator: torch.nn.Module, fake: bool = True) -> int:
    """What one more image in the batch adds to an edit step's saved tensors (fake tensors by default)."""
    return saved_bytes(generator, 2, fake) - saved_bytes(generator, 1, fake)
