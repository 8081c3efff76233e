"""The finite table: StyleCLIP's `SingleChannel.py` + `GetFs` ([SC] global_torch/SingleChannel.py:36-43,75-100).

For every channel c of layer l and every image i: the image's styles with s_l[c] set to mean_l[c] - k sigma_l[c]
and to mean_l[c] + k sigma_l[c] (k = 5), both rendered (const noise) and CLIP-encoded; f^ = f / |f|;
d = f^(+) - f^(-), d^ = d / |d|; the row is the mean of d^ over the images, normalised. StyleCLIP's
shallow-copy quirk (earlier channels left at their means) is not reproduced: every channel is perturbed
on the image's own styles. Renders are batched (channel, image, sign) pairs, `batch_size` at a time;
rows finish `channels_per_chunk` channels at a time, and a `Partial` after each chunk lets it resume.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .layout import ChannelLayout
from .statistics import StyleStats
from .table import Partial, Progress, check_cancel, clip_features


def finite_rows(generator, clip, layout: ChannelLayout, stats: StyleStats, styles: list[torch.Tensor],
                strength: float = 5.0, batch_size: int = 32, channels_per_chunk: int = 64,
                partial: Partial | None = None, on_chunk: Callable[[Partial], None] | None = None,
                progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None,
                clip_input: str = "area") -> torch.Tensor:
    """Rows [layout.total, clip_dim] from the images' `styles` (one [N, channels] tensor per style layer)."""
    device = generator.w_avg.device
    images = styles[0].shape[0]
    styles = [s.to(device) for s in styles]
    layer_of, channel_of = layout.locate()
    total = layout.total
    rows = partial.rows.clone() if partial is not None else torch.zeros(total, clip.dim)
    batch_size = max(2, batch_size - batch_size % 2)
    start = partial.done if partial is not None else 0
    for first in range(start, total, channels_per_chunk):
        last = min(total, first + channels_per_chunk)
        # (channel, image, sign) pairs, sign fastest: rows 2j (-k sigma) and 2j + 1 (+k sigma)
        channels = torch.arange(first, last).repeat_interleave(2 * images)
        image = torch.arange(images).repeat_interleave(2).repeat(last - first)
        sign = torch.tensor([-1.0, 1.0]).repeat(images * (last - first))
        sums = torch.zeros(last - first, clip.dim, device=device)  # on the device: one copy per chunk
        for b in range(0, channels.numel(), batch_size):
            check_cancel(should_cancel)
            ch, im, sg = channels[b:b + batch_size], image[b:b + batch_size], sign[b:b + batch_size]
            batch = [s[im.to(device)].clone() for s in styles]
            layers, index = layer_of[ch], channel_of[ch]
            for li in layers.unique().tolist():
                at = layers == li
                value = stats.mean[li][index[at]] + sg[at] * strength * stats.std[li][index[at]]
                batch[li][torch.nonzero(at).squeeze(1).to(device), index[at].to(device)] = value.to(device)
            with torch.no_grad():
                features = F.normalize(clip_features(clip, generator.synthesis_from_styles(batch), clip_input), dim=-1)
            d = F.normalize(features[1::2] - features[0::2], dim=-1)
            sums.index_add_(0, (ch[0::2] - first).to(device), d.float())
        rows[first:last] = F.normalize(sums / images, dim=-1).cpu()
        if on_chunk is not None:
            on_chunk(Partial(rows.clone(), last))
        if progress is not None:
            progress(last, total)
    return rows
