"""Errors that tell an artist what went wrong, with which file, and how to fix it.

Every failure the user can cause (a bad file, a missing checkpoint, embeddings from
different CLIP spaces) is raised as a `SoundClipError` subclass, so the CLI and the
ComfyUI nodes can show one clear sentence instead of a traceback from deep in torch.
Every one carries a `fix=` (what to do next), `Cancelled` aside: tests/core/test_house_rules.py
checks the source for it.
"""

from __future__ import annotations

from os import PathLike


class SoundClipError(Exception):
    """Base class: `problem`, optionally the `path` involved and a `fix` hint."""

    def __init__(self, problem: str, *, path: str | PathLike | None = None, fix: str | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.fix = fix
        parts = [f"{self.path}: {problem}" if self.path else problem]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__(" ".join(parts))


class CheckpointError(SoundClipError):
    """A model file is missing, truncated, unsafe or of the wrong kind."""


class AudioError(SoundClipError):
    """A sound file cannot be read or carries nothing to guide with."""


class EmbeddingSpaceError(SoundClipError):
    """Embeddings from different CLIP spaces (or dimensions) were combined."""


class WeightsError(SoundClipError):
    """A known checkpoint could not be found, downloaded or verified."""


class MissingDependency(SoundClipError):
    """A Python package that this feature needs is not installed (or cannot be imported)."""


class Cancelled(SoundClipError):
    """The user cancelled a long-running operation."""


class DatasetError(SoundClipError):
    """A dataset's folder, metadata or clips do not match the layout it claims."""


class LatentShapeError(SoundClipError, ValueError):
    """A W+ latent does not fit the generator it is used with (also a ValueError: the shape of an argument)."""


class AnalysisError(SoundClipError, ValueError):
    """A musical analysis or a curve's shaping was asked for with parameters it cannot use."""
