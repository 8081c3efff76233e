"""Sound in: load a sound file, load an audio encoder, encode a sound into CLIP space."""

from __future__ import annotations

import hashlib

from soundclip_core.audio import Audio, load_audio
from soundclip_core.encoders import ENCODER_KINDS, load_audio_encoder
from soundclip_core.errors import AudioError

from . import comfy_env
from .form import Node, any_file, choice, link, model, number
from .types import AUDIO_ENCODER, EMBEDDING, LOADERS, SOUND

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3")
MAX_SECONDS = 3600.0  # whole songs for the video nodes; an hour of 48 kHz stereo is 1.4 GB as float32
SECONDS = 36000.0


class LoadAudio(Node):
    """A sound file from ComfyUI's input folder, trimmed, as core AUDIO.

    It needs no torchaudio (core Load Audio does on some ComfyUI versions). The pack's web extension
    (web/soundclip.js) gives it core's player, upload button and drag-and-drop. A missing or unreadable
    file fails the run with a message in the UI (see form.any_file: with core Load Audio the run "succeeds"
    without the edit, the reason only in ComfyUI's console).
    """

    @classmethod
    def required(cls):
        folder = comfy_env.input_directory()
        files = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES) \
            if folder.is_dir() else []
        return {
            "audio": choice(files, "A sound in ComfyUI's input folder: pick one, upload one with the button, or "
                                   "drop a file on the node."),
            "start": number(0.0, 0.0, SECONDS, 0.1, "Seconds to skip at the beginning."),
            "duration": number(0.0, 0.0, SECONDS, 0.1, "Seconds to keep; 0 keeps the rest of the file."),
        }

    OUTPUTS = (("AUDIO", "AUDIO"),)
    FUNCTION = "load"
    CATEGORY = SOUND
    DESCRIPTION = ("Loads a wav, flac, ogg or mp3 file at any sample rate (up to an hour), trimmed to start + "
                   "duration; refuses empty, silent or corrupt files with a message that names the file.")

    def load(self, audio: str, start: float, duration: float):
        path = comfy_env.annotated_input_path(audio)
        if not path.is_file():
            raise AudioError("sound file not found", path=path,
                             fix="upload it with the node's upload button (or drop it on the node), or put it "
                                 "in ComfyUI's input folder, then pick it in the list")
        clip = load_audio(path, start=start, duration=duration or None, max_seconds=MAX_SECONDS)
        return (clip.to_comfy(),)

    @classmethod
    def IS_CHANGED(cls, audio: str, start: float, duration: float):  # noqa: N802 (ComfyUI's name)
        path = comfy_env.annotated_input_path(audio)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        return f"{digest}:{start}:{duration}"

    VALIDATE_INPUTS = any_file("audio")


class AudioEncoderLoader(Node):
    """An audio encoder checkpoint (the paper's, Wav2CLIP, AudioCLIP, ImageBind or your own) from
    models/soundclip_audio_encoders."""

    @classmethod
    def required(cls):
        return {
            "encoder_name": model("audio_encoder", "The audio encoder: resnet18_57.pth is the paper's (pair it with "
                                                   "CLIP ViT-B-32.pt)."),
            "kind": choice(["auto", *ENCODER_KINDS], "Encoder family; auto detects it from the checkpoint."),
        }

    OUTPUTS = (("encoder", AUDIO_ENCODER),)
    FUNCTION = "load"
    VALIDATE_INPUTS = any_file("encoder_name")
    CATEGORY = LOADERS
    DESCRIPTION = ("Loads an audio encoder that maps sounds into a CLIP space: the paper's ResNet18 (ViT-B-32 "
                   "space), Wav2CLIP (ViT-B-32), AudioCLIP (RN50) or ImageBind (OpenCLIP ViT-H-14; non-commercial "
                   "licence). A known file missing on disk is downloaded.")

    def load(self, encoder_name: str, kind: str):
        path = comfy_env.resolve_model("audio_encoder", encoder_name)
        encoder = load_audio_encoder(path, kind=None if kind == "auto" else kind, device=comfy_env.load_device())
        encoder.runner  # noqa: B018 (its inference twin, built now: it moves, and is counted, with the encoder)
        return (encoder,)


class AudioEncode(Node):
    """AUDIO -> a CLIP-space embedding, one per batch item."""

    REQUIRED = {
        "audio": link("AUDIO", "The sound (a batch gives one embedding per sound)."),
        "encoder": link(AUDIO_ENCODER, "From Load Audio Encoder."),
        "long_clip": choice(["average", "window"], "Clips longer than the encoder's window: average evenly spaced "
                                                   "windows, or use one window starting at window_start."),
        "window_start": number(0.0, 0.0, SECONDS, 0.1, "With long_clip = window: where that window starts, in "
                                                       "seconds."),
    }
    OUTPUTS = (("embedding", EMBEDDING), ("info", "STRING"))
    FUNCTION = "encode"
    CATEGORY = SOUND
    DESCRIPTION = ("Encodes a sound into the encoder's CLIP space: the target a sound-guided edit moves an image "
                   "toward. info names the space and the batch.")

    def encode(self, audio: dict, encoder, long_clip: str, window_start: float):
        with comfy_env.on_device(encoder):
            embedding = encoder.encode(Audio.from_comfy(audio), long_clip=long_clip, window_start=window_start)
        return (embedding, embedding.describe())
