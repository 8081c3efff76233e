"""The mapping network z -> w shared by every StyleGAN architecture, and the latent helpers built on it.

StyleGAN2 (every format) and StyleGAN3 map latents with the same math: normalise z, then
`mapping_layers` equalised-lr fully connected layers with leaky ReLU, then truncation toward
the average latent. `MappedGenerator` holds those layers under rosinality's names (`style.{i}`,
`latent_avg`) so each architecture only adds its synthesis network.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights stored at 1/lr_mul scale, rescaled at run time."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # scale the [B, out] product, not the weight: no weight-sized temporary on every call
        return torch.addmm(self.bias * self.lr_mul, x, self.weight.t(), alpha=self.scale)


class MappedGenerator(nn.Module):
    """Base of every generator: the mapping layers, the average latent and the latent helpers.

    Subclasses set `self.config` (with z_dim, w_dim, mapping_layers, mapping_lr_multiplier), call
    `build_mapping()` in their constructor, and define `num_ws` and `synthesis(ws, noise_mode)`.
    """

    kind = "stylegan"

    def build_mapping(self) -> None:
        config = self.config
        self.style = nn.ModuleDict({
            str(i + 1): EqualLinear(config.z_dim if i == 0 else config.w_dim, config.w_dim,
                                    lr_mul=config.mapping_lr_multiplier)
            for i in range(config.mapping_layers)})
        self.register_buffer("latent_avg", torch.zeros(config.w_dim))

    @property
    def num_ws(self) -> int:
        raise NotImplementedError

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def w_avg(self) -> torch.Tensor:
        """The average latent [w_dim] (the checkpoint's, or estimated by `estimate_w_avg`)."""
        return self.latent_avg

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """z [B, z_dim] -> w [B, w_dim], truncated toward w_avg by `truncation_psi`."""
        x = z.float() * torch.rsqrt(z.float().square().mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.style.values():
            x = F.leaky_relu(layer(x), 0.2) * SQRT2
        if truncation_psi != 1.0:
            x = self.latent_avg + truncation_psi * (x - self.latent_avg)
        return x

    @torch.no_grad()
    def estimate_w_avg(self, samples: int = 4096, seed: int = 0) -> None:
        """Set w_avg to the mean of `samples` mapped latents (for checkpoints without one)."""
        z = torch.randn(samples, self.z_dim, generator=torch.Generator().manual_seed(seed))
        self.latent_avg.copy_(self.mapping(z.to(self.latent_avg.device)).mean(0))

    def ws_from_seed(self, seed: int, batch_size: int = 1, truncation_psi: float = 0.7) -> torch.Tensor:
        """Deterministic W+ latents [B, num_ws, w_dim] for a seed, the same on every device."""
        z = torch.randn(batch_size, self.z_dim, generator=torch.Generator().manual_seed(int(seed)))
        with torch.no_grad():
            w = self.mapping(z.to(self.latent_avg.device), truncation_psi)
        return w[:, None, :].repeat(1, self.num_ws, 1)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        w = self.mapping(z, truncation_psi)
        return self.synthesis(w[:, None].expand(-1, self.num_ws, -1), noise_mode)
