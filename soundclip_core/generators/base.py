"""`GeneratorBase`: what every generator architecture is, whatever its synthesis network.

A generator maps z (and a label) to w through the shared mapping network, and renders a W+
latent ws [B, num_ws, w_dim] with its own `synthesis`. Everything outside the architecture
(editing, inversion, video, the nodes) talks to this surface only: the shape properties, the
mapping helpers, `ws_from_seed` and `check_ws`, the one check that a latent fits the generator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..errors import LatentShapeError
from .derived import ForgetsDerived
from .mapping import MappedGenerator

NOISE_MODES = ("const", "random", "none")
STYLE_KINDS = ("conv", "torgb", "input")


@dataclass(frozen=True)
class StyleLayer:
    """One layer of a generator's StyleSpace: the affine output [B, channels] that modulates `name`.

    `kind`: "conv" (a modulated, demodulated conv: what StyleCLIP's table covers), "torgb" (the
    ToRGB layer's modulation, excluded from tables as StyleCLIP excludes it) or "input" (StyleGAN3's
    4 rotation/translation parameters of the Fourier features). `w_index`: the W+ layer whose w the
    affine reads (the index layer ranges such as "0-8" name); `resolution`: the layer's output size in
    pixels (StyleGAN3: its internal sampling grid, margins included)."""

    name: str
    channels: int
    resolution: int
    w_index: int
    kind: str = "conv"

    @property
    def is_torgb(self) -> bool:
        return self.kind == "torgb"


class GeneratorBase(ForgetsDerived, MappedGenerator):
    """Subclasses build their synthesis network after `super().__init__(config, source)` and define
    `synthesis(ws, noise_mode)`; `config` also has `resolution` and `num_ws`.

    A generator moves completely with `.to(device)` (or `.half()`, ...): the values cached beside its
    parameters (derived weights of its layers, the per-label mean latents) are dropped and recomputed on the
    new device when next used."""

    kind = "stylegan"

    def _apply(self, fn, recurse=True):
        self._label_avgs.clear()
        return super()._apply(fn, recurse)

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    def check_ws(self, ws: torch.Tensor, what: str = "ws", path: str | os.PathLike | None = None,
                 fix: str = "use a latent made with this generator") -> torch.Tensor:
        """`ws` itself if it is a W+ latent [B, num_ws, w_dim] of this generator; otherwise one error
        naming `what` (and `path`, the file it came from), both shapes and `fix`."""
        if isinstance(ws, torch.Tensor) and ws.ndim == 3 and tuple(ws.shape[1:]) == (self.num_ws, self.w_dim):
            return ws
        if not isinstance(ws, torch.Tensor):
            got = f"a {type(ws).__name__}"
        elif ws.ndim == 3:
            got = f"{ws.shape[1]} W+ layers of {ws.shape[2]} values"
        else:
            got = f"a tensor of shape {tuple(ws.shape)}"
        raise LatentShapeError(f"{what} must be [B, {self.num_ws}, {self.w_dim}] for {self.source}, got {got}",
                               path=path, fix=fix)

    # -- StyleSpace ------------------------------------------------------------------------------------
    @property
    def style_layers(self) -> list[StyleLayer]:
        """The StyleSpace layout, in synthesis order (subclasses define it)."""
        raise NotImplementedError

    def styles(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """W+ [B, num_ws, w_dim] -> one style tensor [B, channels] per `style_layers` entry: the affine
        outputs (bias included, no weight gain), float32. Differentiable."""
        self.check_ws(ws)
        ws = ws.float()
        return [affine(ws[:, layer.w_index]) for layer, affine in zip(self.style_layers, self._affines(), strict=True)]

    def _affines(self) -> list[torch.nn.Module]:
        """The affine module of every style layer, in `style_layers` order (subclasses define it)."""
        raise NotImplementedError

    def check_styles(self, styles: list[torch.Tensor] | tuple[torch.Tensor, ...], what: str = "styles"
                     ) -> list[torch.Tensor]:
        """`styles` as a list if it is one [B, channels] tensor per style layer, one batch size for all;
        otherwise one error naming the first layer that does not fit."""
        layers = self.style_layers
        fix = "make styles with this generator's styles(ws)"
        if not isinstance(styles, (list, tuple)) or len(styles) != len(layers):
            got = f"{len(styles)} tensors" if isinstance(styles, (list, tuple)) else f"a {type(styles).__name__}"
            raise LatentShapeError(f"{what} must be {len(layers)} style tensors for {self.source}, got {got}", fix=fix)
        batch = styles[0].shape[0] if isinstance(styles[0], torch.Tensor) and styles[0].ndim == 2 else None
        for layer, s in zip(layers, styles, strict=True):
            if not isinstance(s, torch.Tensor) or s.ndim != 2 or s.shape != (batch, layer.channels):
                shape = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                raise LatentShapeError(f"{what}: layer {layer.name} must be [{batch or 'B'}, {layer.channels}], "
                                       f"got {shape}", fix=fix)
        return list(styles)

    @staticmethod
    def check_noise_mode(noise_mode: str) -> None:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")

    def ws_from_seed(self, seed: int, batch_size: int = 1, truncation_psi: float = 0.7,
                     c: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic W+ latents [B, num_ws, w_dim] for a seed (and label c [1 or B, c_dim] for a
        conditional generator), the same on every device."""
        z = torch.randn(batch_size, self.z_dim, generator=torch.Generator().manual_seed(int(seed)))
        with torch.no_grad():
            w = self.mapping(z.to(self.latent_avg.device), c, truncation_psi=truncation_psi)
        return w[:, None, :].repeat(1, self.num_ws, 1)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str = "const") -> torch.Tensor:
        w = self.mapping(z, c, truncation_psi=truncation_psi)
        return self.synthesis(w[:, None].expand(-1, self.num_ws, -1), noise_mode)
