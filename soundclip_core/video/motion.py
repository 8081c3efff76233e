"""Smooth motion between keyframes: a cubic Hermite spline through the keyframe latents in W+.

Tangents are Catmull-Rom's for uneven spacing, m_k = (w_{k+1} - w_{k-1}) / (t_{k+1} - t_{k-1}), and zero
at the first and last keyframe, where the latent is held before the first and after the last centre, and at a
keyframe equal to a neighbour (a hold: a music cut keeps one latent through its section, video/cuts.py), so the
path rests there instead of overshooting.
The path passes through every keyframe and is C1 (its velocity is continuous), so the image never
jumps or changes speed abruptly at a window boundary, unlike linear interpolation (Lucid Sonic Dreams)
which is only C0.
"""

from __future__ import annotations

import torch


def tangents(ws: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """ws [K, ...], times [K] increasing -> dw/dt at each keyframe [K, ...]."""
    slopes = torch.zeros_like(ws)
    if ws.shape[0] > 2:
        span = (times[2:] - times[:-2]).reshape(-1, *([1] * (ws.ndim - 1))).to(ws)
        slopes[1:-1] = (ws[2:] - ws[:-2]) / span
        flat = ws.reshape(ws.shape[0], -1)
        same = (flat[1:] == flat[:-1]).all(1)  # keyframe k equals keyframe k + 1
        held = torch.zeros(ws.shape[0], dtype=torch.bool)
        held[:-1] |= same
        held[1:] |= same
        slopes[held] = 0
    return slopes


def hermite(ws: torch.Tensor, times: torch.Tensor, at: torch.Tensor, slopes: torch.Tensor | None = None,
            ) -> torch.Tensor:
    """The spline through keyframes ws [K, ...] at times [K] (seconds), evaluated at `at` [N] -> [N, ...].
    `slopes` (from `tangents`) can be computed once and reused for every batch of frames."""
    times = times.to(torch.float64)
    slopes = tangents(ws, times) if slopes is None else slopes
    if ws.shape[0] == 1:
        return ws.expand(at.shape[0], *ws.shape[1:]).clone()
    at = at.to(torch.float64).clamp(float(times[0]), float(times[-1]))
    k = (torch.searchsorted(times, at, right=True) - 1).clamp(0, ws.shape[0] - 2)
    t0, t1 = times[k], times[k + 1]
    h = t1 - t0
    s = (at - t0) / h
    s2, s3 = s * s, s * s * s
    shape = (-1, *([1] * (ws.ndim - 1)))
    h00, h10 = (2 * s3 - 3 * s2 + 1), (s3 - 2 * s2 + s)
    h01, h11 = (-2 * s3 + 3 * s2), (s3 - s2)
    weights = [c.reshape(shape).to(ws) for c in (h00, h10 * h, h01, h11 * h)]
    return weights[0] * ws[k] + weights[1] * slopes[k] + weights[2] * ws[k + 1] + weights[3] * slopes[k + 1]
