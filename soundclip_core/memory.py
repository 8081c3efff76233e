"""How much memory an edit step needs per image, planned without allocating it.

The backward pass of an edit keeps every tensor the forward saved for it: that, not the weights, is what
grows with resolution and batch. `saved_bytes_per_image` runs the generator's forward on fake tensors
(shapes and dtypes only: no memory, no arithmetic) at batch 1 and 2 and takes the difference of what
autograd saves: the cost of one more image, with everything that does not grow with the batch (weights
and values derived from them) cancelled out. It plans what a GPU keeps (StyleGAN3's lean backward, which
the CPU trades for speed) and runs in seconds on any machine, so the README's numbers and the tests'
ceilings need no GPU.

What a node's work needs on the device, asked for before it starts (ComfyUI then unloads its own models to
make room): `edit_step_bytes` for an optimisation step, `decode_bytes` for a decode without gradients, and
`model_bytes` for the weights moved there. The plans of a generator are made once, on a weightless copy of it
(each tensor one CPU value broadcast to its shape: no memory, and no inference-mode tensor of ComfyUI's
loaders, which autograd refuses), and kept on the generator.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.autograd.graph import saved_tensors_hooks
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .generators.stylegan3.ops import lean_backward

# While the backward runs, the gradient of the activation at hand and of its input are live besides what the
# forward saved: each at most the largest activation.
BACKWARD_LIVE_ACTIVATIONS = 2
# A layer without gradients holds its input, its output and a temporary at once; everything before is freed.
DECODE_LIVE_ACTIVATIONS = 3


def saved_bytes(generator: torch.nn.Module, batch: int, fake: bool = True) -> int:
    """Bytes autograd saves for the backward of `generator.synthesis` w.r.t. a W+ batch of `batch`."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    device = generator.w_avg.device
    with FakeTensorMode(allow_non_fake_inputs=True) if fake else torch.no_grad(), lean_backward(), \
            torch.enable_grad(), saved_tensors_hooks(pack, lambda tensor: tensor):
        ws = torch.zeros(batch, generator.num_ws, generator.w_dim, device=device, requires_grad=True)
        generator.synthesis(ws)
    return total


def saved_bytes_per_image(generator: torch.nn.Module, fake: bool = True) -> int:
    """What one more image in the batch adds to an edit step's saved tensors (fake tensors by default)."""
    return saved_bytes(generator, 2, fake) - saved_bytes(generator, 1, fake)


def _tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _tensors(model: object) -> Iterator[torch.Tensor]:
    """The tensors a model holds: a module's parameters and buffers; for a wrapper (CLIP, an encoder), those of
    the modules and tensors among its attributes."""
    if isinstance(model, nn.Module):
        yield from itertools.chain(model.parameters(), model.buffers())
    elif isinstance(model, torch.Tensor):
        yield model
    elif hasattr(model, "__dict__"):
        for value in vars(model).values():
            if isinstance(value, (nn.Module, torch.Tensor)):
                yield from _tensors(value)


def model_bytes(*models: object) -> int:
    """Bytes of the weights (parameters, buffers, a wrapper's tensors) of `models`, each tensor counted once."""
    seen: dict[int, int] = {}
    for model in models:
        for tensor in _tensors(model):
            seen.setdefault(id(tensor), _tensor_bytes(tensor))
    return sum(seen.values())


def _weightless(generator: nn.Module) -> nn.Module:
    """A frozen CPU copy of `generator` whose parameters and buffers are each one zero broadcast to their shape
    (no memory, no inference-mode tensors), without its cached values."""
    memo: dict[int, object] = {}
    for tensor in itertools.chain(generator.parameters(), generator.buffers()):
        empty = torch.zeros((), dtype=tensor.dtype).expand(tensor.shape)
        memo[id(tensor)] = nn.Parameter(empty, requires_grad=False) if isinstance(tensor, nn.Parameter) else empty
    for module in generator.modules():
        for name, value in vars(module).items():
            if name.startswith("_derived_") or name == "_label_avgs":
                memo[id(value)] = None if name.startswith("_derived_") else {}
    return copy.deepcopy(generator, memo).requires_grad_(False)


def _planned(generator: nn.Module, what: str, plan: Callable[[nn.Module], int]) -> int:
    """plan(weightless copy of generator), made once per generator and dtype and kept on it (a plain number,
    so it survives moves)."""
    plans = generator.__dict__.setdefault("_memory_plans", {})
    key = (what, generator.w_avg.dtype)
    if key not in plans:
        with torch.inference_mode(False):
            plans[key] = plan(_weightless(generator))
    return plans[key]


class _Largest(TorchDispatchMode):
    """Records the largest tensor any op returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in tree_leaves(out):
            if isinstance(value, torch.Tensor):
                self.largest = max(self.largest, _tensor_bytes(value))
        return out


def largest_activation_bytes(generator: nn.Module) -> int:
    """The largest tensor a decode of one image makes (planned on fake tensors, kept on the generator)."""

    def plan(weightless: nn.Module) -> int:
        largest = _Largest()
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            ws = torch.zeros(1, weightless.num_ws, weightless.w_dim, device=weightless.w_avg.device)
            with largest:
                weightless.synthesis(ws)
        return largest.largest

    return _planned(generator, "largest activation", plan)


def edit_step_bytes(generator: nn.Module, batch: int) -> int:
    """Device memory an edit step of `batch` rows needs besides the weights: per image, what the backward keeps
    (`saved_bytes_per_image`) and the gradients live while it runs (`BACKWARD_LIVE_ACTIVATIONS` times the
    largest activation). Planned for float32, an upper bound for bf16/fp16 steps."""
    kept = _planned(generator, "saved per image", saved_bytes_per_image)
    return max(1, batch) * (kept + BACKWARD_LIVE_ACTIVATIONS * largest_activation_bytes(generator))


def decode_bytes(generator: nn.Module, batch: int) -> int:
    """Device memory a decode of `batch` images without gradients needs besides the weights:
    `DECODE_LIVE_ACTIVATIONS` times the largest activation per image."""
    return max(1, batch) * DECODE_LIVE_ACTIVATIONS * largest_activation_bytes(generator)
