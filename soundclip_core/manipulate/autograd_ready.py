"""Make models and tensors from ComfyUI's `torch.inference_mode()` usable by autograd.

ComfyUI runs every node under inference mode; tensors created there (weights loaded by
an upstream loader node, latents from other nodes) cannot be saved for backward. Called
with inference mode off, these helpers swap such tensors for ordinary copies, once.
"""

from __future__ import annotations

import torch
from torch import nn


def ordinary(tensor: torch.Tensor) -> torch.Tensor:
    """An ordinary (non-inference) detached copy when needed."""
    return tensor.clone() if tensor.is_inference() else tensor.detach()


def make_autograd_ready(module: nn.Module) -> None:
    """Replace inference-mode parameters and buffers of `module` in place by ordinary tensors."""
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            if param is not None and param.is_inference():
                sub._parameters[name] = nn.Parameter(param.clone(), requires_grad=param.requires_grad)
        for name, buffer in list(sub._buffers.items()):
            if buffer is not None and buffer.is_inference():
                sub._buffers[name] = buffer.clone()
