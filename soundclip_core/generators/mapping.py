"""The mapping network (z, c) -> w shared by every StyleGAN architecture, and its one config.

StyleGAN2 (every format) and StyleGAN3 map latents with the same math: normalise z, then
`mapping_layers` equalised-lr fully connected layers with leaky ReLU, then truncation toward
the average latent. `MappingConfig` holds those settings (each architecture's config extends it),
`MappedGenerator` holds the layers under rosinality's names (`style.{i}`, `embed`, `latent_avg`)
so each architecture only adds its synthesis network (see `base.GeneratorBase`).

Class-conditional generators embed a float label c [B, c_dim] (`embed.*`) and concatenate it
after z, in one of the two ways trained files use (config `label_embedding`):
- "concat", original TF StyleGAN2 `LabelConcat`: y = c @ W (raw weight, no bias), then
  normalise [z, y] together over z_dim + embed_dim values;
- "embed", stylegan2-ada TF `LabelEmbed` and ada-pytorch `mapping.embed`: y = c @ W / sqrt(c_dim) + b,
  then [normalise(z), normalise(y)].
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SoundClipError
from .labels import known_label_sets, summary
from .limits import MAX_LABELS, MAX_MAPPING_LAYERS, MAX_WIDTH, check_count, check_number

SQRT2 = math.sqrt(2.0)
PER_LABEL_SAMPLES = 1024  # latents averaged per label when a conditional checkpoint has no w_avg


@dataclass(frozen=True, kw_only=True)
class MappingConfig:
    """The mapping network's settings, shared by every architecture's config (stored flat in its JSON).

    Class-conditional generators have `c_dim` > 0 label values, embedded to `embed_dim` by
    `label_embedding`: "concat" (original TF StyleGAN2 `LabelConcat`: raw weight, no bias, z and the
    embedding normalised together) or "embed" (stylegan2-ada `LabelEmbed` / `mapping.embed`: equalised
    weight with bias, normalised separately). `label_set` names a known label list ("wikiart"); empty
    means labels are plain class indices.
    """

    label_embeddings: ClassVar[tuple[str, ...]] = ("none", "concat", "embed")  # what an architecture accepts

    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    c_dim: int = 0
    label_embedding: str = "none"
    embed_dim: int = 0
    label_set: str = ""

    def __post_init__(self) -> None:
        for name in ("z_dim", "w_dim"):
            check_count(name, getattr(self, name), MAX_WIDTH)
        check_count("mapping_layers", self.mapping_layers, MAX_MAPPING_LAYERS)
        check_count("c_dim", self.c_dim, MAX_LABELS, low=0)
        check_count("embed_dim", self.embed_dim, MAX_WIDTH, low=0)
        check_number("mapping_lr_multiplier", self.mapping_lr_multiplier)
        if self.label_set and self.label_set not in known_label_sets():
            raise ValueError(f"unknown label set {self.label_set[:40]!r} (known: {', '.join(known_label_sets())})")
        if self.label_embedding not in self.label_embeddings or (self.c_dim > 0) != (self.label_embedding != "none") \
                or (self.c_dim > 0) != (self.embed_dim > 0):
            raise ValueError(f"inconsistent label settings: c_dim {self.c_dim}, label_embedding "
                             f"{self.label_embedding!r}, embed_dim {self.embed_dim}")

    def mapping_weights(self) -> int:
        """How many weights the mapping network (and label embedding) has."""
        first = (self.z_dim + self.embed_dim) * self.w_dim
        return first + (self.mapping_layers - 1) * self.w_dim ** 2 + self.c_dim * self.embed_dim

    def to_json(self) -> str:
        """The whole config (the architecture's fields too) as the JSON our export stores."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        return cls(**json.loads(text))


def normalize_2nd_moment(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


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


class LabelEmbedding(nn.Module):
    """c [B, c_dim] -> [B, embed_dim]: `weight` [embed_dim, c_dim] times `gain`, plus `bias` when it has one."""

    def __init__(self, c_dim: int, embed_dim: int, bias: bool, gain: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(embed_dim, c_dim))
        self.bias = nn.Parameter(torch.zeros(embed_dim)) if bias else None
        self.gain = gain

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        y = c @ (self.weight.t() * self.gain)
        return y if self.bias is None else y + self.bias


class MappedGenerator(nn.Module):
    """The mapping half of every generator: the mapping layers, the average latent, truncation.

    `config` is a `MappingConfig`; `source` names the generator in errors.
    `mapping(z, c=None, truncation_psi=1.0)` takes the label second: pass truncation_psi by keyword.
    """

    def __init__(self, config: MappingConfig, source: str):
        super().__init__()
        self.config = config
        self.source = source
        self.c_dim = config.c_dim
        self.label_embedding = config.label_embedding
        embed_dim = config.embed_dim
        if self.c_dim:
            concat = self.label_embedding == "concat"
            self.embed = LabelEmbedding(self.c_dim, embed_dim, bias=not concat,
                                        gain=1.0 if concat else 1 / math.sqrt(self.c_dim))
        self.style = nn.ModuleDict({
            str(i + 1): EqualLinear(config.z_dim + embed_dim if i == 0 else config.w_dim, config.w_dim,
                                    lr_mul=config.mapping_lr_multiplier)
            for i in range(config.mapping_layers)})
        self.register_buffer("latent_avg", torch.zeros(config.w_dim))
        # conditional checkpoints without an average latent truncate toward the mean of each label
        self.per_label_avg = False
        self._label_avgs: dict[tuple[float, ...], torch.Tensor] = {}

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

    def _check_label(self, c: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """c as float [batch, c_dim] (a single row is broadcast), or None for an unconditional generator."""
        if c is not None and not isinstance(c, torch.Tensor):
            raise TypeError(f"c must be a label tensor [B, c_dim] or None, got {type(c).__name__} "
                            "(pass truncation_psi by keyword)")
        if not self.c_dim:
            if c is not None and c.numel():
                raise SoundClipError(f"{self.source} is not class-conditional: it takes no label",
                                     fix="leave the label empty")
            return None
        if c is None:
            raise SoundClipError(f"{self.source} is class-conditional ({self.c_dim} label values) and needs a label",
                                 fix=f"give one: {summary(self.c_dim, self.config.label_set)}")
        if c.ndim != 2 or c.shape[1] != self.c_dim or c.shape[0] not in (1, batch):
            raise ValueError(f"c must be [{batch} or 1, {self.c_dim}], got {tuple(c.shape)}")
        return c.float().to(self.latent_avg.device).expand(batch, -1)

    def _map(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        z = z.float()
        if c is None:
            x = normalize_2nd_moment(z)
        elif self.label_embedding == "concat":
            x = normalize_2nd_moment(torch.cat([z, self.embed(c)], dim=1))
        else:
            x = torch.cat([normalize_2nd_moment(z), normalize_2nd_moment(self.embed(c))], dim=1)
        for layer in self.style.values():
            x = F.leaky_relu(layer(x), 0.2) * SQRT2
        return x

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0) -> torch.Tensor:
        """z [B, z_dim] (and, for a conditional generator, labels c [B or 1, c_dim]) -> w [B, w_dim],
        truncated toward the average latent by `truncation_psi`."""
        c = self._check_label(c, z.shape[0])
        x = self._map(z, c)
        if truncation_psi != 1.0:
            avg = self.mean_latent(c)
            x = avg + truncation_psi * (x - avg)
        return x

    @torch.no_grad()
    def mean_latent(self, c: torch.Tensor | None = None) -> torch.Tensor:
        """The truncation centre: w_avg [w_dim], or for a conditional generator whose checkpoint has no
        average latent, the mean latent of each row's label [B, w_dim] (estimated once per label, cached)."""
        if c is None or not self.per_label_avg:
            return self.latent_avg
        rows = []
        for row in c:
            key = tuple(row.tolist())
            if key not in self._label_avgs:
                z = torch.randn(PER_LABEL_SAMPLES, self.z_dim, generator=torch.Generator().manual_seed(0))
                z = z.to(self.latent_avg.device)
                self._label_avgs[key] = self._map(z, row[None].expand(PER_LABEL_SAMPLES, -1)).mean(0)
            rows.append(self._label_avgs[key])
        return torch.stack(rows)

    @torch.no_grad()
    def estimate_w_avg(self, samples: int = 4096, seed: int = 0) -> None:
        """Set w_avg to the mean of `samples` mapped latents (for checkpoints without one). A conditional
        generator averages per label instead, on demand."""
        if self.c_dim:
            self.per_label_avg = True
            return
        z = torch.randn(samples, self.z_dim, generator=torch.Generator().manual_seed(seed))
        self.latent_avg.copy_(self.mapping(z.to(self.latent_avg.device)).mean(0))
