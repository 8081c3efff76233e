"""Per-layer noise maps that travel with a W+ latent.

StyleGAN2 adds a fixed ("const") noise map per conv layer; an inversion may optimise those maps
too (NVIDIA's projector does), and then the latent alone no longer gives back the image the user
saw. Such maps travel with the latent (node socket, .safetensors, PNG) and every decode or edit
passes them to `synthesis(ws, noise=...)`. Generators without noise inputs (StyleGAN3) have none:
everything here then works with an empty list.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import SoundClipError


def noise_buffers(generator) -> list[torch.Tensor]:
    """The generator's const noise maps in layer order ([1, 1, H_k, W_k] each); [] if it has none."""
    noises = getattr(generator, "noises", None)
    if noises is None:
        return []
    buffers = dict(noises.named_buffers())
    return [buffers[f"noise_{k}"] for k in range(len(buffers))]


def check_noise(generator, noise: Sequence[torch.Tensor] | None) -> list[torch.Tensor] | None:
    """`noise` if it fits this generator's noise inputs, else a SoundClipError; None (or []) gives None."""
    if noise is None or len(noise) == 0:
        return None
    expected = [tuple(b.shape[1:]) for b in noise_buffers(generator)]
    got = [tuple(n.shape[1:]) for n in noise]
    if got != expected:
        raise SoundClipError(f"the latent's noise maps {got} do not fit the noise inputs of {generator.source} "
                             f"({expected or 'none'})", fix="use a latent made with this generator")
    return list(noise)


def synthesize(generator, ws: torch.Tensor, noise: Sequence[torch.Tensor] | None = None,
               noise_mode: str = "const") -> torch.Tensor:
    """generator.synthesis(ws) with the latent's own noise maps when it has any ([B, 3, H, W])."""
    if not noise:
        return generator.synthesis(ws, noise_mode=noise_mode)
    device = ws.device
    return generator.synthesis(ws, noise_mode=noise_mode, noise=[n.to(device) for n in noise])


def decode(generator, ws: torch.Tensor, noise: Sequence[torch.Tensor] | None = None, noise_mode: str = "const",
           batch_size: int = 4) -> torch.Tensor:
    """Images [B, 3, H, W] for W+ latents [B, num_ws, w_dim], `batch_size` latents at a time without
    gradients, so a large batch needs no more memory than a few images. Per-sample noise maps ([B, ...])
    follow their latents; shared ones ([1, ...]) serve every latent."""
    with torch.no_grad():
        return torch.cat([synthesize(generator, ws[i:i + batch_size], _rows(noise, i, batch_size), noise_mode)
                          for i in range(0, ws.shape[0], batch_size)])


def _rows(noise: Sequence[torch.Tensor] | None, start: int, count: int) -> list[torch.Tensor] | None:
    """Rows start..start+count of per-sample noise maps (shared [1, ...] maps pass whole)."""
    if noise is None:
        return None
    return [n if n.shape[0] == 1 else n[start:start + count] for n in noise]
