"""Kaiser-windowed low-pass FIR filters as StyleGAN3 designs them, without scipy.

Only needed to build a fresh random generator: checkpoints carry their filters as buffers.
- separable: windowed-sinc (`firwin` with a Kaiser window whose beta follows from the number of
  taps and the transition width, normalised to unit DC gain);
- radial (config R): a 2-D jinc windowed by the outer product of the same Kaiser window.
"""

from __future__ import annotations

import numpy as np
import torch


def kaiser_beta(taps: int, width: float, rate: float) -> float:
    """Kaiser's empirical beta for the attenuation `taps` taps reach over transition `width` (same unit as `rate`)."""
    attenuation = 2.285 * (taps - 1) * np.pi * (width / (rate / 2)) + 7.95
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def lowpass(taps: int, cutoff: float, half_width: float, rate: float, radial: bool = False) -> torch.Tensor | None:
    """[taps] (separable) or [taps, taps] (radial) float32 filter; None for a single tap (identity)."""
    if taps == 1:
        return None
    window = np.kaiser(taps, kaiser_beta(taps, 2 * half_width, rate))
    if not radial:
        t = np.arange(taps) - (taps - 1) / 2
        h = 2 * cutoff / rate * np.sinc(2 * cutoff / rate * t) * window
        return torch.as_tensor(h / h.sum(), dtype=torch.float32)
    x = (np.arange(taps) - (taps - 1) / 2) / rate
    r = torch.as_tensor(np.hypot(*np.meshgrid(x, x)), dtype=torch.float64)
    f = (torch.special.bessel_j1(2 * np.pi * cutoff * r) / (np.pi * r)).numpy() * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)
