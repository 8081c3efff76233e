"""Curves as the schedule strings other ComfyUI nodes read, and back.

One value per frame becomes keyframes "frame: value" in one of the formats the common scheduling packs parse
(research round3 B4):

- "keyframes": `0:(0.5000),\\n12:(0.9000)` -- FizzNodes' ValueSchedule / BatchValueSchedule and Deforum-style
  schedules (split on "," and ":", parentheses stripped, linear between keyframes, the ends held);
- "animatediff": `0=0.5000, 12=0.9000` -- AnimateDiff-Evolved's value scheduling;
- "json": `"0": 0.5000, "12": 0.9000` -- the quoted form AnimateDiff also reads (and json.loads in braces).

Since every one of them interpolates linearly between keyframes, a frame that lies exactly on the line through
its neighbours (in the printed, rounded values) is left out: a flat stretch is two keyframes, not hundreds, and
the schedule still reads back to the printed value at every frame (`parse_schedule`, which reads all three).
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import AnalysisError

FORMATS = ("keyframes", "animatediff", "json")
DECIMALS = 4
ENTRY = re.compile(r'^\s*"?\s*(-?\d+)\s*"?\s*[:=]\s*\(?\s*([-+0-9.eE]+)\s*\)?\s*$')


def keyframes(values, decimals: int = DECIMALS) -> list[tuple[int, float]]:
    """(frame, value rounded to `decimals`) for the first and last frame and every frame whose rounded value is
    off the straight line between its neighbours' (compared as integers: exact, no drift along a long ramp)."""
    x = np.asarray(values, np.float64).reshape(-1)
    if len(x) == 0 or not np.isfinite(x).all():
        raise AnalysisError("the curve is empty or holds NaN or infinite values",
                            fix="make the curve from a sound at least one frame long")
    limit = 1e18 / 10**decimals  # the largest value whose steps still fit in int64 (9.2e18), with room
    if np.abs(x).max() > limit:
        raise AnalysisError(f"the curve reaches {np.abs(x).max():.3g}, beyond the {limit:.0e} a schedule with "
                            f"{decimals} decimals can hold", fix="scale the curve to a smaller range (a strength "
                            "or weight curve lies within a few units), or print fewer decimals")
    steps = np.round(x * 10**decimals).astype(np.int64)
    bends = np.flatnonzero(2 * steps[1:-1] != steps[:-2] + steps[2:]) + 1
    keep = sorted({0, len(x) - 1, *bends.tolist()})
    return [(i, float(steps[i]) / 10**decimals) for i in keep]


def to_schedule(values, style: str = "keyframes", decimals: int = DECIMALS) -> str:
    """The curve (one value per frame) as a schedule string in `style` (FORMATS)."""
    if style not in FORMATS:
        raise AnalysisError(f"unknown schedule format {style!r}", fix=f"use one of: {', '.join(FORMATS)}")
    entry = {"keyframes": "{}:({:.%df})", "animatediff": "{}={:.%df}", "json": '"{}": {:.%df}'}[style] % decimals
    separator = ",\n" if style == "keyframes" else ", "
    return separator.join(entry.format(i, v) for i, v in keyframes(values, decimals))


def parse_schedule(text: str, frames: int) -> np.ndarray:
    """A schedule string in any of FORMATS (braces, newlines and a trailing comma allowed) -> float64 [frames],
    linear between keyframes and held beyond the first and last, as the scheduling nodes read it."""
    body = text.strip().removeprefix("{").removesuffix("}").strip().rstrip(",")
    points = []
    for part in filter(None, (p.strip() for p in body.split(","))):
        match = ENTRY.match(part)
        if not match:
            raise AnalysisError(f"cannot read the schedule entry {part!r}",
                                fix='write entries like 0:(0.5), 0=0.5 or "0": 0.5, separated by commas')
        points.append((int(match.group(1)), float(match.group(2))))
    if not points:
        raise AnalysisError("the schedule is empty", fix="give at least one entry like 0:(0.5)")
    points.sort()
    at, values = zip(*points, strict=True)
    return np.interp(np.arange(frames), at, values)
