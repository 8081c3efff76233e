"""The one place where the nodes meet ComfyUI's runtime.

ComfyUI's modules (`folder_paths`, `comfy.utils`, `comfy.model_management`) exist only
inside a running ComfyUI. Everything the nodes need from them goes through this
module, which falls back to plain-Python behaviour (soundclip's own cache folders,
automatic device, no progress UI) when the pack is imported outside ComfyUI, e.g.
by the test-suite or a script. Nothing here downloads or loads a model at import.

Memory, as ComfyUI's own nodes for models outside its model patcher do (its upscale models): inside ComfyUI
our loaders put models on its offload device (`load_device`, normally the CPU) and each node's work runs
`with on_device(models..., memory_required=...)`, which asks ComfyUI to free the weights' size plus what
the work needs on the compute device (unloading its own models when that is short), moves the models
there, and moves them back and empties the cache afterwards, whatever happened. Outside ComfyUI models are
loaded on the compute device and `on_device` does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import torch

from soundclip_core import runtime
from soundclip_core.directions import TABLE_FOLDER
from soundclip_core.errors import Cancelled, CheckpointError, SoundClipError
from soundclip_core.image import grid, to_pil
from soundclip_core.memory import model_bytes
from soundclip_core.weights import (
    CLIP_IN_ENCODER_FORMATS,
    FORMER_FOLDERS,
    KIND_FOLDERS,
    cache_dir,
    ensure,
    load_manifest,
)

try:  # Inside ComfyUI.
    import comfy.model_management as model_management
    import comfy.utils as comfy_utils
    import folder_paths
except ImportError:  # Plain Python (tests, scripts).
    model_management = comfy_utils = folder_paths = None

T = TypeVar("T")
logger = logging.getLogger(__name__)
MODEL_EXTENSIONS = {".pt", ".pth", ".pkl", ".bin", ".safetensors", ".ckpt"}
PREVIEW_MAX_SIZE = 512


def register_model_folders() -> None:
    """Add our model folders (`models/stylegan2`, `models/soundclip_audio_encoders`, ...) to ComfyUI.

    Registered through folder_paths so that extra_model_paths.yaml entries with the same
    names work too.
    """
    if folder_paths is None:
        return
    for folder in (*KIND_FOLDERS.values(), TABLE_FOLDER):
        if folder not in folder_paths.folder_names_and_paths:
            folder_paths.add_model_folder_path(folder, os.path.join(folder_paths.models_dir, folder), is_default=True)
        paths, extensions = folder_paths.folder_names_and_paths[folder]
        folder_paths.folder_names_and_paths[folder] = (paths, set(extensions) | MODEL_EXTENSIONS)


def model_dirs(kind: str) -> list[Path]:
    """Folders searched for models of `kind`: ComfyUI's, else soundclip's cache folder."""
    return _folders(KIND_FOLDERS[kind])


def table_folder() -> Path:
    """Where StyleSpace tables are cached: ComfyUI's models/soundclip_tables, else soundclip's cache folder's."""
    return _folders(TABLE_FOLDER)[0]


def _folders(folder: str) -> list[Path]:
    if folder_paths is None:
        return [cache_dir() / folder]
    if folder not in folder_paths.folder_names_and_paths:
        return [Path(folder_paths.models_dir) / folder]
    return [Path(p) for p in folder_paths.get_folder_paths(folder)]


def _files(folders: list[Path]) -> dict[str, Path]:
    """Model files (by name relative to their folder, as ComfyUI lists them) in these folders, first one wins."""
    found: dict[str, Path] = {}
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.suffix in MODEL_EXTENSIONS and path.is_file():
                    found.setdefault(path.relative_to(folder).as_posix(), path)
    return found


def former_files(kind: str) -> dict[str, Path]:
    """Our files still in the folder `kind` used before (`audio_encoders`, now ComfyUI core's folder for its
    wav2vec2/whisper encoders): every file but .safetensors, the format of core's own encoders and never of
    ours. They stay usable, with a notice, so nothing a user placed there is lost."""
    former = FORMER_FOLDERS.get(kind)
    if former is None:
        return {}
    return {name: path for name, path in _files(_folders(former)).items() if path.suffix != ".safetensors"}


def model_choices(kind: str) -> list[str]:
    """Model files of `kind` on disk (also in its former folder), plus the file names of known models not
    downloaded yet.

    Known models are listed under their real file name whether present or not, so a shared
    workflow keeps working after the first run has downloaded the file.
    """
    if folder_paths is None:
        local = set(_files(model_dirs(kind)))
    else:
        local = set(folder_paths.get_filename_list(KIND_FOLDERS[kind]))
    known = {e.filename for e in load_manifest() if e.kind == kind}
    return sorted(local | set(former_files(kind)) | known, key=str.lower)


def audioclip_choices() -> set[str]:
    """AudioCLIP and ImageBind checkpoints (known ones, and local files named like them) among the audio
    encoders: each file also holds CLIP towers (RN50; ViT-H-14)."""
    known = {e.filename for e in load_manifest() if e.format in CLIP_IN_ENCODER_FORMATS}
    return {name for name in model_choices("audio_encoder")
            if name in known or any(family in name.lower() for family in ("audioclip", "imagebind"))}


def resolve_model(kind: str, choice: str) -> Path:
    """The local file for a combo choice; a known model missing on disk is downloaded first."""
    if folder_paths is not None and (found := folder_paths.get_full_path(KIND_FOLDERS[kind], choice)):
        return Path(found)
    for folder in model_dirs(kind):
        if (folder / choice).is_file():
            return folder / choice
    if (former := former_files(kind).get(choice)) is not None:
        logger.warning("soundclip: %s is read from %s, the folder soundclip used before; move it to %s (%s is "
                       "ComfyUI's own folder for its wav2vec2/whisper encoders)", choice, former.parent,
                       model_dirs(kind)[0], former.parent.name)
        return former
    entry = next((e for e in load_manifest() if e.kind == kind and e.filename == choice), None)
    if entry is None:
        raise CheckpointError(f"no {kind} model named '{choice}' in {', '.join(map(str, model_dirs(kind)))}",
                              fix="put the file in that folder, or pick another model")
    return ensure(entry.id, kind=kind, search_dirs=model_dirs(kind), progress=_byte_progress())


def input_directory() -> Path:
    """ComfyUI's input folder (where uploaded sounds land), else the working directory."""
    return Path(folder_paths.get_input_directory()) if folder_paths is not None else Path.cwd()


def output_directory() -> Path:
    """ComfyUI's output folder, else ./output."""
    return Path(folder_paths.get_output_directory()) if folder_paths is not None else Path.cwd() / "output"


def annotated_input_path(name: str) -> Path:
    """Resolve a file name from an upload widget (ComfyUI annotates e.g. 'x.wav [input]')."""
    if folder_paths is not None:
        return Path(folder_paths.get_annotated_filepath(name))
    return input_directory() / name


def load_device() -> torch.device:
    """Where loaders put models: ComfyUI's offload device (its models wait there between uses; normally the CPU),
    else the compute device (CUDA, MPS or the CPU, as `runtime.pick_device` chooses)."""
    if model_management is not None:
        return model_management.unet_offload_device()
    return runtime.pick_device()


# How many `on_device` blocks use each model (by id) now: only the outermost moves it there and back.
_in_use: dict[int, int] = {}


@contextlib.contextmanager
def on_device(*models: object, memory_required: int | Callable[[], int] = 0) -> Iterator[None]:
    """Inside ComfyUI: make room for `models` (nn.Modules or our wrappers with `.to`; None is skipped) and the
    work's `memory_required` bytes (a number, or a function giving it, asked inside ComfyUI only) with
    `model_management.free_memory`, move the models to the compute device for the block, then back to the
    offload device, and give cached memory back, whatever happened (an error, Cancel). Outside ComfyUI:
    nothing (the models already lie on the compute device)."""
    if model_management is None:
        yield
        return
    unique = list({id(m): m for m in models if m is not None}.values())
    needed = _planned(memory_required)
    device = model_management.get_torch_device()
    model_management.free_memory(model_bytes(*unique) + needed, device)
    entered, moved = [], []
    try:
        for model in unique:
            if not _in_use.get(id(model)):
                moved.append(model)
                _move(model, device)
            _in_use[id(model)] = _in_use.get(id(model), 0) + 1
            entered.append(model)
        yield
    finally:
        for model in entered:
            _in_use[id(model)] -= 1
            if not _in_use[id(model)]:
                del _in_use[id(model)]
        offload = model_management.unet_offload_device()
        for model in moved:
            if id(model) not in _in_use:
                _move(model, offload)
        model_management.soft_empty_cache()


def _planned(memory_required: int | Callable[[], int]) -> int:
    """The work's memory; a plan that fails costs a warning, not the run (the weights are still made room for)."""
    if not callable(memory_required):
        return int(memory_required)
    try:
        return int(memory_required())
    except Exception as error:  # noqa: BLE001 (an estimate must never stop the work it is for)
        logger.warning("soundclip: could not plan the memory of this node's work (%s); freeing the weights' "
                       "size only", error)
        return 0


def _move(model, device: torch.device) -> None:
    """model.to(device), outside inference mode: ComfyUI runs nodes under it, and a copy made there would be an
    inference tensor that autograd refuses (the edit would have to copy the weights again)."""
    with torch.inference_mode(False):
        model.to(device)


def release_memory() -> None:
    """Give cached GPU memory back after a long optimisation."""
    if model_management is not None:
        model_management.soft_empty_cache()
    elif torch.cuda.is_available():
        torch.cuda.empty_cache()


def interrupted() -> bool:
    """True when the user pressed Cancel in ComfyUI."""
    return model_management is not None and model_management.processing_interrupted()


def run_long(work: Callable[[], T], *models: object, memory_required: int | Callable[[], int] = 0) -> T:
    """Run an optimisation or render `with on_device(*models, memory_required=...)`: its Cancel becomes
    ComfyUI's own interrupt, and cached GPU memory is given back afterwards, whatever happened."""
    try:
        with on_device(*models, memory_required=memory_required):
            return work()
    except Cancelled:
        raise_if_interrupted()
        raise
    finally:
        if model_management is None:  # inside ComfyUI, on_device has done it (after moving the models back)
            release_memory()


def raise_if_interrupted() -> None:
    """Let ComfyUI stop the graph with its own interrupt exception."""
    if model_management is not None:
        model_management.throw_exception_if_processing_interrupted()


class Progress:
    """ComfyUI's progress bar (with preview images) or nothing outside ComfyUI."""

    def __init__(self, total: int):
        self.bar = comfy_utils.ProgressBar(total) if comfy_utils is not None else None

    def __call__(self, value: int, total: int, preview=None, info=None) -> None:
        """The core's progress callback: (step, total, preview images or None, info)."""
        self.update(value, total, preview)

    def update(self, value: int, total: int, preview=None) -> None:
        if self.bar is None:
            return
        image = None if preview is None else ("JPEG", to_pil(preview_grid(preview))[0], PREVIEW_MAX_SIZE)
        self.bar.update_absolute(value, total, image)


def preview_grid(images: torch.Tensor) -> torch.Tensor:
    """A batch [B, 3, H, W] as one near-square grid, so a preview shows every edit of a batch, not the first."""
    return grid(images.detach().float().cpu(), columns=math.ceil(math.sqrt(images.shape[0])))


def _byte_progress() -> Callable[[int, int | None], None]:
    """A download progress callback feeding ComfyUI's progress bar (in kilobytes)."""
    progress: dict[str, Progress] = {}

    def report(done: int, total: int | None) -> None:
        if total:
            bar = progress.setdefault("bar", Progress(max(1, total // 1024)))
            bar.update(done // 1024, max(1, total // 1024))

    return report


def output_file(prefix: str, suffix: str) -> Path:
    """`<output>/<prefix>_<counter:05>_<suffix>`, the counter one past the highest taken (as ComfyUI's savers
    name files), its folder made; a prefix that would leave the output folder is refused."""
    root = output_directory().resolve()
    base = (root / prefix.strip().lstrip("/\\")).resolve()
    if root not in base.parents:
        raise SoundClipError(f"filename_prefix '{prefix}' leaves the output folder",
                             fix="use a relative prefix such as soundclip/result")
    base.parent.mkdir(parents=True, exist_ok=True)
    taken = [p.name[len(base.name) + 1:-len(suffix) - 1] for p in base.parent.glob(f"{base.name}_*_{suffix}")]
    counter = 1 + max((int(n) for n in taken if n.isdigit()), default=0)
    return base.parent / f"{base.name}_{counter:05}_{suffix}"


def saved_files(paths: list[Path]) -> list[dict[str, str]]:
    """ComfyUI's UI entries for files written to the output folder (what its own savers return):
    the subfolder relative to the output folder, "" at its root."""
    root = output_directory().resolve()
    entries = []
    for path in paths:
        subfolder = path.resolve().parent.relative_to(root).as_posix()
        entries.append({"filename": path.name, "subfolder": "" if subfolder == "." else subfolder, "type": "output"})
    return entries
