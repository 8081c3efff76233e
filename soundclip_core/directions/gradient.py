"""The gradient table: StyleCLIP's table from the Jacobian of the CLIP embedding w.r.t. the styles.

For e = f / |f| and a small change delta of channel c, de = (I - e e^T) J[:, c] delta / |f| (J = df/ds).
Per image the direction of channel c is u_c = normalise((I - e e^T) J[:, c]), and the row is
normalise(mean over images of u_c), mirroring GetFs's mean of normalised differences
(../shared/research/round3.md A7). J comes from clip_dim backward passes through one forward of a batch
of images (each pass gives row d of every image's J; images are independent), instead of two forwards
per channel per image. The batch is run `replicas` times over in that one forward and each backward pass
gives every replica its own CLIP dimension, so clip_dim / replicas wide passes replace clip_dim narrow ones:
the same arithmetic plus replicas - 1 forwards, in batches wide enough to keep the device busy (a tiny
generator's 512 narrow passes on a CPU are mostly overhead: 3.7x slower than 64-wide ones, measured).
The derivative is taken at each image's own styles, where StyleCLIP's finite points sit at the channel's mean
+- 5 sigma: the two tables agree in direction, not exactly (the tests measure how well). Resumable per batch
of images (`Partial.rows` holds the running sum of the u's).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..manipulate.autograd_ready import make_autograd_ready
from .layout import ChannelLayout
from .table import Partial, Progress, check_cancel, clip_features


def vector_jacobian_products(generator, clip, styles: list[torch.Tensor], layout: ChannelLayout,
                             vectors: torch.Tensor, clip_input: str = "area", replicas: int = 1,
                             project: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(features f [B, D], products [B, V, layout.total]) for the images with `styles` (one [B, channels] per
    layer) and every row v of `vectors` [V, D]: v^T J_i, or with `project` (P_i v)^T J_i, P_i = I - e_i e_i^T
    (e_i = f_i / |f_i|). `replicas` copies of the batch take `replicas` vectors per backward pass."""
    leaves = [s.detach().repeat(replicas, 1).requires_grad_(i in layout.layers) for i, s in enumerate(styles)]
    wanted = [leaves[i] for i in layout.layers]
    features = clip_features(clip, generator.synthesis_from_styles(leaves), clip_input)  # [replicas * B, D]
    b, count = styles[0].shape[0], vectors.shape[0]
    vectors = vectors.to(features)
    e = F.normalize(features[:b].detach(), dim=-1)[torch.arange(b).repeat(replicas)]  # each row's image's e
    products = features.new_empty(b, count, layout.total)
    replica = torch.arange(replicas, device=features.device).repeat_interleave(b)  # the replica of each row
    for first in range(0, count, replicas):
        taken = min(replicas, count - first)
        chosen = vectors[(first + replica).clamp_max(count - 1)]  # replica k's rows take vector first + k
        if project:
            chosen = chosen - e * (e * chosen).sum(1, keepdim=True)
        chosen = chosen * (replica < taken)[:, None]
        grads = torch.autograd.grad(features, wanted, chosen, retain_graph=first + replicas < count)
        products[:, first:first + taken] = torch.cat(grads, dim=1).view(replicas, b, -1)[:taken].transpose(0, 1)
    return features[:b].detach(), products


def image_jacobian(generator, clip, styles: list[torch.Tensor], layout: ChannelLayout, clip_input: str = "area",
                   replicas: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(features f [B, D], J [B, D, layout.total]) of the images with `styles` (one [B, channels] per layer)."""
    return vector_jacobian_products(generator, clip, styles, layout, torch.eye(clip.dim), clip_input, replicas)


def channel_directions(features: torch.Tensor, jacobian: torch.Tensor) -> torch.Tensor:
    """u [B, total, D]: per image and channel, the unit direction in which e = f/|f| moves."""
    e = F.normalize(features, dim=-1)  # [B, D]
    projected = jacobian - e[:, :, None] * (e[:, None, :] @ jacobian)  # (I - e e^T) J
    return F.normalize(projected.transpose(1, 2), dim=-1)


def gradient_rows(generator, clip, layout: ChannelLayout, styles: list[torch.Tensor], batch_size: int = 4,
                  replicas: int = 1, partial: Partial | None = None, on_chunk: Callable[[Partial], None] | None = None,
                  progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None,
                  clip_input: str = "area") -> torch.Tensor:
    """Rows [layout.total, clip_dim] from the images' `styles` (one [N, channels] tensor per style layer)."""
    device = generator.w_avg.device
    images = styles[0].shape[0]
    start = partial.done if partial is not None else 0
    with torch.inference_mode(False), torch.enable_grad():
        sums = partial.rows.clone() if partial is not None else torch.zeros(layout.total, clip.dim)
        make_autograd_ready(generator)
        make_autograd_ready(clip.model)
        for first in range(start, images, batch_size):
            check_cancel(should_cancel)
            last = min(images, first + batch_size)
            batch = [s[first:last].to(device).clone() for s in styles]
            features, jacobian = image_jacobian(generator, clip, batch, layout, clip_input, replicas)
            sums += channel_directions(features, jacobian).sum(0).cpu()
            if on_chunk is not None:
                on_chunk(Partial(sums.clone(), last))
            if progress is not None:
                progress(last, images)
    return F.normalize(sums / images, dim=-1)
