"""Teach Sounds: fine-tune an audio encoder on a folder of your own labelled sounds, then use it like any other."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from soundclip_core.atomic import atomic_paths
from soundclip_core.encoders.registry import metadata_path
from soundclip_core.errors import DatasetError, SoundClipError
from soundclip_core.train.report import summary_lines
from soundclip_core.train.teach import teach

from . import comfy_env
from .form import Node, any_file, choice, link, seed, text, whole
from .types import AUDIO_ENCODER, CLIP, SOUND

logger = logging.getLogger(__name__)
TYPED_PATH = "(the path below)"
RUNS = "soundclip_teach"  # under ComfyUI's output folder: each run's log, state and the shared feature cache


def sound_folders() -> list[str]:
    """Sub-folders of ComfyUI's input folder: each may hold one sub-folder of clips per label."""
    root = comfy_env.input_directory()
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if root.is_dir() else []
    return [TYPED_PATH, *found]


def encoder_file(name: str) -> Path:
    """Where the taught encoder goes: `<name>.pth` in the audio encoder folder (a bare file name only)."""
    stem = name.strip().removesuffix(".pth")
    if not stem or any(c in stem for c in "/\\:") or stem.startswith("."):
        raise SoundClipError(f"the name '{name}' is not a plain file name",
                             fix="use letters, digits, '-' and '_', e.g. my_sounds")
    return comfy_env.model_dirs("audio_encoder")[0] / f"{stem}.pth"


def install(run_dir: Path, target: Path) -> bool:
    """Copy the run's exported encoder and its sidecar into the model folder, together (both copied before
    either replaces the pair there, the .pth last); False when none yet."""
    source = run_dir / "encoder.pth"
    if not source.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(metadata_path(target), target) as (sidecar, tmp):
        shutil.copyfile(metadata_path(source), sidecar)
        shutil.copyfile(source, tmp)
    return True


class TeachSounds(Node):
    """A folder of labelled sounds (`<folder>/<label>/<clip>.wav`) + an encoder + its CLIP -> the encoder
    fine-tuned to hear them, saved in the audio encoder folder."""

    @classmethod
    def required(cls):
        return {
            "encoder": link(AUDIO_ENCODER, "The encoder to start from (the paper's resnet18_57.pth): it is copied, "
                                           "not changed."),
            "clip": link(CLIP, "The CLIP of the encoder's space: it turns your label names into the targets."),
            "sounds": choice(sound_folders(), "A folder in ComfyUI's input folder with one sub-folder of clips per "
                                              "label (input/my_sounds/rain/*.wav, input/my_sounds/synth_pad/*.wav); "
                                              "or pick the first entry and type a full path below."),
            "path": text("", "With the first entry above: the full path of the folder of label folders."),
            "name": text("my_sounds", "File name of the taught encoder, saved as <name>.pth in "
                                      "models/soundclip_audio_encoders (replaced if it exists): Load Audio Encoder "
                                      "lists it."),
            "epochs": whole(0, 0, 500, "Passes over your clips; 0 sizes them to the collection (it stops early "
                                       "once the held-out accuracy stops improving)."),
            "seed": seed("Seeds the held-out split, the shuffling and the augmentation."),
        }

    OUTPUTS = (("encoder", AUDIO_ENCODER), ("report", "STRING"))
    FUNCTION = "teach"
    VALIDATE_INPUTS = any_file("sounds")  # a folder not there yet fails in the node, naming it and the fix
    CATEGORY = SOUND
    DESCRIPTION = ("Teaches the encoder your own sounds: fine-tunes it on a folder of labelled clips (a few dozen "
                   "per label; label names are the words it learns them as), holding a fifth of each label out to "
                   "pick the best epoch. The progress bar counts epochs; the report gives the held-out accuracy "
                   "per label before and after. Cancel keeps the best epoch so far.")

    def teach(self, encoder, clip, sounds: str, path: str, name: str, epochs: int, seed: int):
        typed = sounds == TYPED_PATH
        data = Path(path.strip()).expanduser() if typed else comfy_env.input_directory() / sounds
        if (typed and not path.strip()) or not data.is_dir():
            raise DatasetError("folder of labelled sounds not found", path=data,
                               fix="pick a folder of ComfyUI's input folder, or type the full path of a folder "
                                   "holding one sub-folder of clips per label")
        target = encoder_file(name)
        runs = comfy_env.output_directory() / RUNS
        run_dir = comfy_env.output_file(f"{RUNS}/{target.stem}", "run")
        bar = comfy_env.Progress(max(epochs, 1))

        def progress(done: int, total: int, preview, info: str) -> None:
            bar.update(done, total)
            logger.info("soundclip teach %s: %s", target.stem, info)

        def work():
            try:
                return teach(encoder, clip, data, run_dir, epochs=epochs or None, seed=seed, cache=runs / "cache",
                             device=str(comfy_env.load_device()), progress=progress,
                             should_cancel=comfy_env.interrupted)
            finally:  # finished, failed or cancelled: the best epoch so far is what the model folder gets
                install(run_dir, target)

        taught = comfy_env.run_long(work, encoder, clip)
        result = taught.result
        lines = [*result.notes, *summary_lines(result.log, result.warnings), f"saved {target} (log: {run_dir})"]
        return (taught.encoder, "\n".join(lines))
