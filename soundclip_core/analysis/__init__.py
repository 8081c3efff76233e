"""Musical hearing: what a sound does over time, at any frame rate (issue 25's core).

envelope: the shaping of any curve (normalise, gate, attack/hold/release, smoothing, gamma, invert).
"""

from .envelope import Envelope

__all__ = ["Envelope"]
