"""Third-party packages that only some features need, imported when a feature first uses them.

The ComfyUI pack must import in whatever environment ComfyUI runs. A package that is missing, or
installed but broken (built for another torch, a missing shared library), then fails only the
node or command that needs it, with the pip command that fixes it, instead of the whole pack.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependency

# import name -> the name pip installs it by
PIP_NAMES = {"open_clip": "open_clip_torch", "av": "av", "soundfile": "soundfile", "soxr": "soxr", "timm": "timm"}


def require(module: str, purpose: str) -> ModuleType:
    """`import module`, or a `MissingDependency` that says what needed it and what to install."""
    try:
        return importlib.import_module(module)
    except Exception as error:  # ImportError, but also RuntimeError/OSError from a broken binary build
        package = PIP_NAMES.get(module.split(".")[0], module.split(".")[0])
        raise MissingDependency(
            f"{purpose} needs the Python package '{package}', which cannot be imported "
            f"({type(error).__name__}: {str(error)[:160]})",
            fix=f"run `pip install {package}` in the Python environment that runs soundclip (ComfyUI's, for the "
                f"nodes), then restart") from error
