"""StyleCLIP's own tables (`npy/<dataset>/fs3.npy`, [SC] global_torch/) as `ChannelTable`s.

A plain .npy of unit rows [channels, 512] for NVIDIA's generator it was made with (CLIP ViT-B/32); read with
`allow_pickle=False`, so no code in the file can run. Rows are the non-ToRGB style layers in synthesis order;
StyleCLIP's own code accepts the <= 128 px rows (5376 for config-f) and the all-conv-layer count (6048), so
both are taken, checked against the generator's layout and for unit norms (round3.md A5). StyleCLIP's channel
statistics ship as a pickle, which is never read: the generator's own statistics (`channel_statistics`,
StyleCLIP's sampling recipe) go with the table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from .fingerprint import generator_fingerprint
from .layout import table_layout
from .statistics import SAMPLES, channel_statistics
from .table import IMAGES, STRENGTH, ChannelTable

STYLECLIP_SPACE = "openai/ViT-B-32"
FIX = "use the fs3.npy StyleCLIP made for this generator (npy/ffhq/fs3.npy for NVIDIA's FFHQ config-f), or " \
      "compute a table with compute_table"


def load_styleclip_table(path: str | os.PathLike, generator, space: str = STYLECLIP_SPACE,
                         stats_samples: int = SAMPLES) -> ChannelTable:
    """StyleCLIP's fs3.npy for `generator` (which must be the one it was made for: only its layout is checked)."""
    path = Path(path)
    try:
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise CheckpointError(f"not a plain .npy table ({str(error)[:120]})", path=path, fix=FIX) from error
    if rows.ndim != 2 or rows.dtype.kind != "f":
        raise CheckpointError(f"StyleCLIP tables are [channels, 512] floats, this is {rows.dtype} {rows.shape}",
                              path=path, fix=FIX)
    layouts = {layout.total: layout for layout in (table_layout(generator), table_layout(generator, None))}
    if rows.shape[0] not in layouts:
        raise CheckpointError(f"this table has {rows.shape[0]} rows; {generator.source} has "
                              f"{' or '.join(map(str, sorted(layouts)))} conv channels", path=path, fix=FIX)
    rows = torch.from_numpy(rows.astype(np.float32))
    if not bool(torch.isfinite(rows).all()):
        raise CheckpointError("the StyleCLIP table contains NaN or inf", path=path, fix=FIX)
    if not torch.allclose(rows.norm(dim=1), torch.ones(rows.shape[0]), atol=1e-3):
        raise CheckpointError("the StyleCLIP table's rows are not unit vectors (not an fs3 table)", path=path, fix=FIX)
    stats = channel_statistics(generator, stats_samples)
    return ChannelTable(rows, layouts[rows.shape[0]], space, "styleclip", generator_fingerprint(generator), stats,
                        IMAGES, STRENGTH)
