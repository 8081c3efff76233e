"""Optimiser, learning-rate schedule and logit scale of the two recipes.

official (soundclip/train.py): SGD lr 1e-3, momentum 0.9, weight decay 5e-4; CyclicLR(base 1e-3, max 0.1,
step_size_up 5, 'triangular') stepped once per *epoch* (a 10-epoch cycle; with another --lr the
peak stays 100 x the base), with PyTorch's default
cycle_momentum=True, which also cycles the momentum between 0.9 and 0.8 (quirk, kept); logits =
cosine * exp(0.07), fixed (quirk: the paper's tau = 0.07 would divide).
modern: AdamW (lr 1e-3, weight decay 0.05 on weights only, betas 0.9/0.98), linear warm-up over the
first 5 % of steps then cosine decay to 0, stepped per optimiser step; a learnable logit scale as
CLIP's (initialised to 1/0.07, clamped at 100).
auto (the small-data recipe, `auto.py` sizes it to the data): the modern optimiser with two learning rates, the
new head's (the network's last linear layer, which maps the trunk into CLIP's space) and a lower one for a
pretrained trunk, so a few dozen clips per label adapt the head without wiping what the trunk heard; warm-up
over the first 10 % of steps, then cosine decay.
"""

from __future__ import annotations

import math

import torch
from torch import nn

RECIPES = ("official", "modern", "auto")
OFFICIAL_LOG_SCALE = 0.07  # logits * exp(0.07) = 1.0725
MODERN_LOG_SCALE = math.log(1 / 0.07)
MAX_SCALE = 100.0
DEFAULT_LR = {"official": 1e-3, "modern": 1e-3, "auto": 1e-3}
WARMUP = {"modern": 0.05, "auto": 0.10}


class Trainee(nn.Module):
    """The encoder being trained and the log of its logit scale (learnable in the modern recipe). One
    forward encodes both views, so DDP sees a single call per step and batch norms keep per-view
    statistics, as the official two calls."""

    def __init__(self, net: nn.Module, recipe: str):
        super().__init__()
        self.net = net
        learnable = recipe != "official"
        value = torch.tensor(MODERN_LOG_SCALE if learnable else OFFICIAL_LOG_SCALE)
        self.log_scale = nn.Parameter(value, requires_grad=learnable)

    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=MAX_SCALE)

    def forward(self, plain: torch.Tensor, augmented: torch.Tensor | None = None):
        return self.net(plain), None if augmented is None else self.net(augmented)


def head_parameters(net: nn.Module) -> set[int]:
    """ids of the parameters of the network's last linear layer: the head into CLIP's space (SoundCLIP's
    `feature_extractor.fc`), the part a new embedding space or a new set of sounds changes most."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return {id(p) for p in linears[-1].parameters()} if linears else set()


def make_optimizer(trainee: Trainee, recipe: str, lr: float, trunk_lr: float | None = None) -> torch.optim.Optimizer:
    """The recipe's optimiser; `trunk_lr` (auto only; default `lr`) is the rate of everything but the head."""
    if recipe == "official":
        return torch.optim.SGD(trainee.net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    if recipe == "modern":
        decay = [p for p in trainee.net.parameters() if p.ndim > 1]
        rest = [p for p in trainee.net.parameters() if p.ndim <= 1] + [trainee.log_scale]
        return torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                                 lr=lr, betas=(0.9, 0.98), eps=1e-6)
    head = head_parameters(trainee.net)
    groups = []  # the head's first: the log's "lr" is param_groups[0]'s
    for in_head, rate in ((True, lr), (False, lr if trunk_lr is None else trunk_lr)):
        params = [p for p in trainee.net.parameters() if (id(p) in head) == in_head]
        groups += [{"params": [p for p in params if p.ndim > 1], "weight_decay": 0.05, "lr": rate},
                   {"params": [p for p in params if p.ndim <= 1] + ([trainee.log_scale] if in_head else []),
                    "weight_decay": 0.0, "lr": rate}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.98), eps=1e-6)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: str, lr: float, total_steps: int):
    """-> (scheduler, per_step): the official one steps per epoch, the modern one per optimiser step."""
    if recipe == "official":
        return torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=lr, max_lr=100 * lr, step_size_up=5,
                                                 mode="triangular"), False
    warmup = max(1, int(WARMUP[recipe] * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True
