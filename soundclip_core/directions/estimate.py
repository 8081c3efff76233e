"""A direction for one target without a table: seconds instead of the table's minutes to hours, for a first try.

The table's score of channel c is r_c = row_c . Delta t with row_c = normalise(sum_i u_ic) and
u_ic = normalise(P_i J_i[:, c]) (P_i = I - e_i e_i^T, `gradient.py`), i.e.
r_c = sum_i (Delta t . u_ic) / |sum_i u_ic|. For one Delta t, Delta t . P_i J_i[:, c] is ONE backward pass per
batch of images (the gradient of the CLIP embedding's move toward Delta t w.r.t. the styles). The two norms the
table gets from all clip_dim passes are estimated from `probes` random +-1 vectors v (Hutchinson's trick,
E[(v . x)^2] = |x|^2): n_ic = |P_i J_i[:, c]| from v^T P_i J_i[:, c], and |sum_i u_ic| from
v . sum_i u_ic = sum_i v^T P_i J_i[:, c] / n_ic, each never below what Delta t alone shows, so every score
stays a cosine (-1..1). With probes >= clip_dim the probes are the axes and the scores are exactly the
gradient table's on the same images; with a few probes they are close (the tests measure how close).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..embedding import Embedding, check_same_space
from ..errors import EmbeddingSpaceError, SoundClipError
from ..manipulate.autograd_ready import make_autograd_ready
from ..memory import edit_step_bytes
from .compute import fit_batch
from .direction import Direction
from .fingerprint import generator_fingerprint
from .gradient import vector_jacobian_products
from .layout import MAX_RESOLUTION, table_layout
from .sampling import SEED, TRUNCATION, sample_styles
from .statistics import SAMPLES, channel_statistics
from .table import Progress, check_cancel

IMAGES = 8
PROBES = 16


def _probes(count: int, dim: int, seed: int) -> torch.Tensor:
    """[count, dim] probe vectors: the axes when count >= dim (exact norms), else random +-1 rows."""
    if count >= dim:
        return torch.eye(dim)
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (count, dim), generator=generator).float() * 2 - 1


def _norm(probed: torch.Tensor, exact: bool, floor: torch.Tensor) -> torch.Tensor:
    """|x| from its projections on the probes [K, ...] (the axes when `exact`), at least `floor`."""
    squares = probed.square().sum(0) if exact else probed.square().mean(0)
    return torch.maximum(squares.sqrt(), floor)


def _unit(x: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """x / norm, 0 where the norm is 0 (a channel that does not move the image)."""
    return torch.where(norm > 0, x / norm.clamp_min(1e-30), torch.zeros_like(x))


def estimate_direction(generator, clip, delta: Embedding, *, images: int = IMAGES, probes: int = PROBES,
                       seed: int = SEED, truncation_psi: float = TRUNCATION, stats_samples: int = SAMPLES,
                       max_resolution: int | None = MAX_RESOLUTION, include_torgb: bool = False,
                       image_batch: int = 4, clip_input: str = "area", progress: Progress | None = None,
                       should_cancel: Callable[[], bool] | None = None) -> Direction:
    """The scores of Delta t (`text_direction`, one or more rows) estimated from the gradients of `images` sample
    images (the table's first ones): one forward of each batch of `image_batch` images, replicated so that each
    backward pass serves as many of the 1 + `probes` vectors as memory allows (gradient.py). `progress(done,
    total)` and `should_cancel` serve the channel statistics first (when not cached: samples), then the images."""
    if images < 1:
        raise SoundClipError("an estimate needs at least 1 image", fix=f"use {IMAGES} images")
    if probes < 1:
        raise SoundClipError(f"an estimate needs at least 1 probe (got {probes}): the norms come from them",
                             fix=f"use {PROBES} probes")
    check_same_space([delta], expected=clip.space)
    if delta.dim != clip.dim:
        raise EmbeddingSpaceError(f"the direction is {delta.dim}-d, this CLIP {clip.dim}-d",
                                  fix="make the target and neutral with this CLIP model")
    layout = table_layout(generator, max_resolution, include_torgb)
    stats = channel_statistics(generator, stats_samples, seed, truncation_psi, progress=progress,
                               should_cancel=should_cancel)
    styles = sample_styles(generator, images, seed, truncation_psi)
    device = generator.w_avg.device
    targets = delta.vectors.to(device)  # [T, D]
    vectors = torch.cat([targets, _probes(probes, clip.dim, seed).to(device)])  # targets first, then the probes
    exact = probes >= clip.dim
    replicas = fit_batch(len(vectors), lambda: edit_step_bytes(generator, min(image_batch, images)), device)
    with torch.inference_mode(False), torch.enable_grad():
        # the sums stay on the device (copied once at the end, no host sync per image batch)
        along_sum = torch.zeros(targets.shape[0], layout.total, device=device)  # sum_i Delta t . u_ic
        probed_sum = torch.zeros(len(vectors) - targets.shape[0], layout.total, device=device)  # sum_i v . u_ic
        make_autograd_ready(generator)
        make_autograd_ready(clip.model)
        for first in range(0, images, image_batch):
            check_cancel(should_cancel)
            last = min(images, first + image_batch)
            batch = [s[first:last].to(device) for s in styles]
            _, products = vector_jacobian_products(generator, clip, batch, layout, vectors, clip_input, replicas,
                                                   project=True)  # [b, T + K, total]
            products = products.transpose(0, 1).float()
            along, probed = products[:targets.shape[0]], products[targets.shape[0]:]  # [T, b, total], [K, b, total]
            norm = _norm(probed, exact, floor=along.abs().amax(0))  # n_ic [b, total]
            along_sum += _unit(along, norm).sum(1)
            probed_sum += _unit(probed, norm).sum(1)
            if progress is not None:
                progress(last, images)
    along_sum, probed_sum = along_sum.cpu(), probed_sum.cpu()
    total_norm = _norm(probed_sum[:, None], exact, floor=along_sum.abs().amax(0, keepdim=True))[0]  # |sum_i u_ic|
    scores = _unit(along_sum, total_norm)
    how = "axes" if probes >= clip.dim else f"{probes} probes"
    return Direction(scores, layout, stats, generator_fingerprint(generator), clip.space, "estimate",
                     f"{delta.source}; {images} images, {how}")
