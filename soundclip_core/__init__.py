"""soundclip_core: sound-guided semantic image manipulation with StyleGAN2.

Implements Lee et al., "Sound-Guided Semantic Image Manipulation" (CVPR 2022):
an audio encoder maps a sound into CLIP space, and a StyleGAN2 W+ latent is
optimised until the generated image matches it. This package has no ComfyUI
dependency; the ComfyUI nodes in ``nodes/`` are thin wrappers around it.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path


def _version() -> str:
    """The one version string: the installed package's metadata (pyproject.toml's `version`, as pip wrote it);
    in a bare checkout that was never installed, read straight from pyproject.toml beside the package."""
    try:
        return metadata.version("soundclip")
    except metadata.PackageNotFoundError:
        pass
    try:
        text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    project = re.search(r"^\[project\]$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    found = re.search(r'^version\s*=\s*"([^"]+)"', project.group(1) if project else "", re.M)
    return found.group(1) if found else "unknown"


VERSION = _version()
__version__ = VERSION  # the conventional name, for tools that look for it
