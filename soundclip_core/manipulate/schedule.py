"""StyleCLIP's learning-rate schedule, used by the official sound-guided loop."""

import math


def learning_rate(t: float, lr0: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """lr0 * (0.5 - 0.5 cos(pi * min(1, (1 - t) / rampdown))) * min(1, t / rampup), t in [0, 1)."""
    ramp = 0.5 - 0.5 * math.cos(math.pi * min(1.0, (1.0 - t) / rampdown))
    return lr0 * ramp * min(1.0, t / rampup)
