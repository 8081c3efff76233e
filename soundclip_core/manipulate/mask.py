"""The per-layer mask g of the closeness term lam_sim * sum_l g_l ||w_l - w_s,l||^2 (one weight per W+ layer).

Why a bounded rule is the default: a g learned by the same optimiser as w, with nothing but a fixed
budget (our earlier g = L * softmax(m)), minimises sum_l g_l D_l by putting the whole budget on the
layer that moved least (D_l the layer's squared distance). Over a 300-step edit it ends one-hot and
every other layer loses its closeness constraint. The rules:

- "learned" (default): g = L * softmax(c * tanh(m)), c = ln(MASK_RATIO) / 2, m learned with w (from 0,
  i.e. g = 1). The logits stay within +-c, so no two layers' weights differ by a factor MASK_RATIO
  (2) or more; with the weights averaging 1 every g_l lies in (1/2, 2): a layer can lose at most
  half of its closeness constraint and never holds more than twice its share. The average of 1 is
  the unmasked ||w - w_s||^2 that the published lambda values go with (presets.py).
- "official": the official code's adaptive layer masking (kuai-lab run_optimization.py,
  --adaptive_layer_masking), step for step: g = sigmoid(m), m starting at 1; after each step's loss
  m_l <- m_l - 0.1 * l_l * (1 - l_l), with l_l = g_l * D_l (D_l summed over the whole batch, g_l the
  value before the update), outside the optimiser. The official code constrains the first 14 W+
  layers only (14 = a 256 px generator); we keep that: layers >= 14 have g = 0 (no closeness term),
  and a generator with fewer than 14 layers has all of them constrained. Layers moving less than
  l_l = 1 lose weight, layers moving more gain it up to 1; nothing bounds g from below.
- "fixed": the user's weights (default all 1); "freeze": g = 1, and only the listed layers may move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import SoundClipError

MASK_MODES = ("learned", "fixed", "freeze", "official")
MASK_RATIO = 2.0  # "learned": the largest factor between two layers' weights
OFFICIAL_LAYERS = 14  # the official code's hard-coded number of masked layers
OFFICIAL_START, OFFICIAL_RATE = 1.0, 0.1  # its m_l at the start, and its update's step size


class LayerMask:
    """g [num_ws] for the loss (`weights()`), the tensors Adam learns (`parameters`), and the official
    rule's own update (`observe` each chunk's per-layer distances, `update` once per step).
    `mode` is one of MASK_MODES (optimize() checks it before any work)."""

    def __init__(self, mode: str, num_ws: int, device: torch.device,
                 fixed_weights: Sequence[float] | None = None) -> None:
        self.mode = mode
        self.logits = torch.zeros(num_ws, device=device, requires_grad=mode == "learned")
        self.parameters = [self.logits] if mode == "learned" else []
        self.fixed = torch.ones(num_ws, device=device)
        if mode == "fixed" and fixed_weights is not None:
            self.fixed = torch.as_tensor(list(fixed_weights), dtype=torch.float32, device=device)
            if self.fixed.numel() != num_ws or not bool(torch.isfinite(self.fixed).all()):
                raise SoundClipError(f"fixed mask needs {num_ws} finite weights, got {len(fixed_weights)}",
                                     fix=f"give one finite weight per W+ layer ({num_ws} numbers)")
        if mode == "official":
            self.logits.fill_(OFFICIAL_START)
            self.constrained = torch.arange(num_ws, device=device) < OFFICIAL_LAYERS
            self.distances = torch.zeros(num_ws, device=device)
            # the official code does the update's arithmetic in Python floats (.item(), double): float64 here
            # keeps its trajectory bit for bit (a chaotic one: Adam amplifies one-ulp differences); MPS has no
            # float64, so float32 there (the same update up to rounding)
            self.update_dtype = torch.float32 if device.type == "mps" else torch.float64

    def weights(self) -> torch.Tensor:
        """g [num_ws]; differentiable w.r.t. the logits for "learned", a fresh tensor for "official"."""
        if self.mode == "learned":
            bound = math.log(MASK_RATIO) / 2
            return self.logits.numel() * torch.softmax(bound * torch.tanh(self.logits), 0)
        if self.mode == "official":
            return torch.sigmoid(self.logits) * self.constrained
        return self.fixed

    def observe(self, distances: torch.Tensor) -> None:
        """Add one chunk's squared distances to the source, [rows, num_ws] (detached), to this step's D."""
        if self.mode == "official":
            self.distances += distances.sum(0)

    def update(self) -> None:
        """The official rule's step, on the device (no host sync): the same arithmetic as its per-layer
        loop, since each l_l uses only its own m_l from before the update."""
        if self.mode == "official":
            layer_loss = (self.weights() * self.distances).to(self.update_dtype)  # its float32 l_l, as .item() sees
            self.logits -= (OFFICIAL_RATE * layer_loss * (1 - layer_loss)).float()
            self.distances.zero_()
