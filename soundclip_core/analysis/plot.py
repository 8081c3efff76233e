"""Curves drawn against time, for people who would rather look than read (Pillow only, no plotting library).

One lane per curve, stacked top to bottom, each scaled to its own range (its name, minimum and maximum
written at its left); section starts as full-height lines, beats as short ticks along the top (downbeats
longer), a time axis in seconds along the bottom.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import AnalysisError
from ..optional import require

COLOURS = ((231, 76, 60), (52, 152, 219), (46, 204, 113), (241, 196, 15), (155, 89, 182), (230, 126, 34),
           (26, 188, 156), (236, 112, 160))
BACKGROUND, GRID, INK, SECTION = (24, 24, 28), (60, 60, 66), (220, 220, 220), (250, 250, 250)
LEFT, TOP, BOTTOM = 150, 18, 22  # margins in pixels: names, beat ticks, time axis


def plot_curves(curves: dict[str, np.ndarray], fps: float, *, beats=(), downbeats=(), sections=(),
                width: int = 1024, lane_height: int = 80) -> np.ndarray:
    """uint8 [H, W, 3]: the curves (name -> one value per frame at `fps`) against time (see the module doc)."""
    if not curves:
        raise AnalysisError("no curves to plot", fix="choose at least one curve")
    if width < LEFT + 50 or lane_height < 20:
        raise AnalysisError(f"a plot of {width} px width and {lane_height} px lanes is too small to read",
                            fix=f"use a width of at least {LEFT + 50} and lanes of at least 20 px")
    image_module, draw_module = require("PIL.Image", "drawing plots"), require("PIL.ImageDraw", "drawing plots")
    frames = max(len(v) for v in curves.values())
    duration = max(frames / fps, 1e-6)
    height = TOP + lane_height * len(curves) + BOTTOM
    image = image_module.new("RGB", (width, height), BACKGROUND)
    draw = draw_module.Draw(image)
    span = width - LEFT - 8

    def x_of(seconds: float) -> float:
        return LEFT + span * seconds / duration

    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if duration / s <= 12),
                duration / 12)
    for t in np.arange(0.0, duration + 1e-9, step):
        draw.line([(x_of(t), TOP), (x_of(t), height - BOTTOM)], fill=GRID)
        if x_of(t) + 30 < width:  # a label that would be cut off at the right edge is left out
            draw.text((x_of(t) + 2, height - BOTTOM + 4), f"{t:g}s", fill=INK)
    for t in sections:
        draw.line([(x_of(t), 0), (x_of(t), height - BOTTOM)], fill=SECTION, width=2)
    strong = {round(float(t), 4) for t in downbeats}
    for t in beats:
        draw.line([(x_of(t), 0), (x_of(t), TOP - (2 if round(float(t), 4) in strong else 10))], fill=INK)
    for lane, (name, values) in enumerate(curves.items()):
        top = TOP + lane * lane_height
        values = np.asarray(values, np.float64).reshape(-1)
        low, high = float(values.min()), float(values.max())
        scale = (values - low) / (high - low) if high > low else np.full_like(values, 0.5)
        xs = LEFT + span * (np.arange(len(values)) + 0.5) / frames
        ys = top + lane_height - 4 - scale * (lane_height - 10)
        draw.line([(LEFT, top), (width, top)], fill=GRID)
        colour = COLOURS[lane % len(COLOURS)]
        draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)) if len(xs) > 1 else [(xs[0], ys[0])] * 2,
                  fill=colour, width=2)
        draw.text((4, top + 4), name[:22], fill=colour)
        draw.text((4, top + 20), f"{low:.3g} .. {high:.3g}", fill=INK)
    return np.asarray(image, np.uint8)


PREVIEW_VALUES = 2**26  # a preview batch's values at most (256 MB of float32 for the mask, 3x for the image)


def preview_size(frames: int, largest: int = 64) -> int:
    """The side of the per-frame previews: `largest` px, less for very long curves (a 3-hour mix at 24 fps,
    259,200 frames, gets 16 px) so that a batch stays within PREVIEW_VALUES."""
    return max(1, min(largest, int(math.sqrt(PREVIEW_VALUES / max(frames, 1)))))


def curve_frames(values, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A curve (one value per frame, 0-1 after shaping) as previews of `size` px (None: preview_size): a mask
    batch float32 [N, size, size] filled with each frame's value (what mask inputs take, e.g. as an opacity),
    and an image batch float32 [N, size, size, 3] of a bar rising from the bottom to the value (clipped to
    0-1)."""
    x = np.clip(np.asarray(values, np.float32).reshape(-1), 0.0, 1.0)
    size = size or preview_size(len(x))
    mask = np.broadcast_to(x[:, None, None], (len(x), size, size)).copy()
    rows = (size - 1 - np.arange(size)) / size  # row r is filled when the value reaches its height from the bottom
    bar = (x[:, None] > rows[None]).astype(np.float32)  # [N, size]
    image = np.broadcast_to(bar[:, :, None, None], (len(x), size, size, 3)).copy()
    image[..., 1] *= 0.8
    image[..., 2] *= 0.3
    return mask, image
