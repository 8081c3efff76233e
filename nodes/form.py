"""Nodes declared as data: each node is a form (its inputs), one core call, its outputs.

ComfyUI's V1 node API reads class attributes (INPUT_TYPES, RETURN_TYPES, RETURN_NAMES, FUNCTION,
CATEGORY, DESCRIPTION). Our nodes declare the same things as plain data instead: `REQUIRED` /
`OPTIONAL` input declarations (a `required()` classmethod where choices are read from disk),
`OUTPUTS` as (name, type) pairs, and the V1 attributes are derived here. Every input is built by
one of the constructors below, which all take a tooltip, so no input can go without one. Moving
to ComfyUI's V3 API (`comfy_api.latest`, still marked unstable) is then a mechanical mapping of
these declarations: choice -> Combo.Input, whole -> Int.Input, and so on.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from soundclip_core.weights import KIND_FOLDERS

from . import comfy_env

SEED_MAX = 0xFFFFFFFF
# The model a freshly added loader offers first: the paper's pair (its encoder, and the CLIP it was trained
# against) and its landscape generator; the one file known for the other kinds.
DEFAULT_MODELS = {"audio_encoder": "resnet18_57.pth", "clip": "ViT-B-32.pt", "stylegan2": "landscape.pt",
                  "arcface": "model_ir_se50.pth", "perceptual": "vgg16-397923af.pth", "e4e": "e4e_ffhq_encode.pt"}


class Node:
    """A V1 node derived from its declarations (see the module docstring)."""

    REQUIRED: ClassVar[dict[str, tuple]] = {}
    OPTIONAL: ClassVar[dict[str, tuple]] = {}
    OUTPUTS: ClassVar[tuple[tuple[str, str], ...]] = ()
    CATEGORY: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    FUNCTION: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.RETURN_TYPES = tuple(kind for _, kind in cls.OUTPUTS)
        cls.RETURN_NAMES = tuple(name for name, _ in cls.OUTPUTS)

    @classmethod
    def required(cls) -> dict[str, tuple]:
        """The required inputs; overridden where a choice list is read from disk when ComfyUI asks."""
        return cls.REQUIRED

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:  # noqa: N802 (ComfyUI's name)
        spec = {"required": cls.required()}
        if cls.OPTIONAL:
            spec["optional"] = cls.OPTIONAL
        return spec


def link(kind: str, tooltip: str) -> tuple:
    """A socket fed by another node's output."""
    return (kind, {"tooltip": tooltip})


def choice(options: list[str] | tuple[str, ...], tooltip: str, default: str | None = None, **extra: Any) -> tuple:
    """A drop-down list; `default` when given and offered, else the first entry."""
    settings = {"tooltip": tooltip, **extra}
    if default is not None and default in options:
        settings["default"] = default
    return (list(options), settings)


def whole(default: int, low: int, high: int, tooltip: str, **extra: Any) -> tuple:
    """An INT widget."""
    return ("INT", {"default": default, "min": low, "max": high, "tooltip": tooltip, **extra})


def number(default: float, low: float, high: float, step: float, tooltip: str) -> tuple:
    """A FLOAT widget."""
    return ("FLOAT", {"default": default, "min": low, "max": high, "step": step, "tooltip": tooltip})


def toggle(default: bool, tooltip: str) -> tuple:
    """A BOOLEAN widget (a switch)."""
    return ("BOOLEAN", {"default": default, "tooltip": tooltip})


def text(default: str, tooltip: str, multiline: bool = False) -> tuple:
    """A STRING widget."""
    return ("STRING", {"default": default, "multiline": multiline, "tooltip": tooltip})


def seed(tooltip: str) -> tuple:
    """A seed. The frontend adds its "control after generate" widget; the pack's web extension sets it to
    "fixed" on new nodes (the frontend's own default, "randomize", would rerun a long optimisation on every
    Run), and the example workflows save "fixed"."""
    return whole(0, 0, SEED_MAX, tooltip, control_after_generate=True)


def model(kind: str, tooltip: str, exclude: tuple[str, ...] = ()) -> tuple:
    """The one file input of a loader node: the files in the kind's model folder plus every known model (downloaded
    on first use), the common choice first (DEFAULT_MODELS)."""
    folder = KIND_FOLDERS[kind]
    options = [name for name in comfy_env.model_choices(kind) if name not in exclude]
    return choice(options, f"{tooltip} Files in models/{folder}, and known models (downloaded there on first use).",
                  default=DEFAULT_MODELS.get(kind))


def any_file(*input_names: str) -> classmethod:
    """A VALIDATE_INPUTS that lets every name through for these file inputs (ComfyUI then skips its own "value
    not in list" check for them only: it passes a validator the inputs its signature names, and checks the
    others itself).

    A name ComfyUI's check refuses makes it drop every output behind the node and run the others, telling
    only its console (a run that "succeeds" without the edit), or answer "Value not in list". Let through,
    a missing or unknown file fails in the node's load instead: an error in the UI that names the file, the
    folder and the fix, and that stops the run."""

    def validate(cls, *names: str, **inputs: str) -> bool:
        return True

    parameter = inspect.Parameter.POSITIONAL_OR_KEYWORD
    validate.__signature__ = inspect.Signature([inspect.Parameter(name, parameter) for name in ("cls", *input_names)])
    return classmethod(validate)
