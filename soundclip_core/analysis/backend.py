"""librosa, the optional package behind the musical analysis (beat tracking, tempo, filterbanks, peak picking).

Imported on first use, so a ComfyUI or Python environment without it loses only the analysis, with the
`pip install` that fixes it (`soundclip_core.optional.require`); everything else in soundclip works.
The oldest release it is written against is 0.10 (keyword-only arguments, `librosa.feature.tempo`).
"""

from __future__ import annotations

from types import ModuleType

from ..optional import require


def librosa() -> ModuleType:
    """The librosa module, or a MissingDependency naming `pip install librosa`."""
    return require("librosa", "musical analysis (beats, tempo, chroma, sections)")
