"""Sound in: load a sound file, load an audio encoder, encode a sound into CLIP space."""

from __future__ import annotations

import hashlib

from soundclip_core.audio import Audio, load_audio
from soundclip_core.encoders import ENCODER_KINDS, load_audio_encoder

from . import comfy_env
from .types import AUDIO_ENCODER, CATEGORY, EMBEDDING

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3")
MAX_SECONDS = 3600.0  # whole songs for the video nodes; an hour of 48 kHz stereo is 1.4 GB as float32


class LoadAudio:
    """A sound file from ComfyUI's input folder, trimmed, as core AUDIO.

    It needs no torchaudio (core Load Audio does on some ComfyUI versions). No upload button: the
    frontend's audio upload widget only works on core audio nodes' own player widget, and on any other
    node it fails while the node is built. Upload with core Load Audio, or copy files into input/."""

    @classmethod
    def INPUT_TYPES(cls):
        files = sorted(p.name for p in comfy_env.input_directory().iterdir()
                       if p.suffix.lower() in AUDIO_SUFFIXES) if comfy_env.input_directory().is_dir() else []
        return {"required": {
            "audio": (files, {"tooltip": "Sound files in ComfyUI's input folder (upload them with core Load Audio "
                                         "or copy them there; refresh to see new ones)."}),
            "start": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 36000.0, "step": 0.1,
                                "tooltip": "Seconds to skip at the beginning."}),
            "duration": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 36000.0, "step": 0.1,
                                   "tooltip": "Seconds to keep; 0 keeps the rest of the file."}),
        }}

    RETURN_TYPES = ("AUDIO",)
    FUNCTION = "load"
    CATEGORY = CATEGORY
    DESCRIPTION = "Reads wav, flac, ogg or mp3 at any sample rate; rejects empty, silent or corrupt files."

    def load(self, audio: str, start: float, duration: float):
        clip = load_audio(comfy_env.annotated_input_path(audio), start=start, duration=duration or None,
                          max_seconds=MAX_SECONDS)
        return (clip.to_comfy(),)

    @classmethod
    def IS_CHANGED(cls, audio: str, start: float, duration: float):
        digest = hashlib.sha256(comfy_env.annotated_input_path(audio).read_bytes()).hexdigest()
        return f"{digest}:{start}:{duration}"

    @classmethod
    def VALIDATE_INPUTS(cls, audio: str, start: float, duration: float):
        if not comfy_env.annotated_input_path(audio).is_file():
            return f"Sound file not found: {audio}"
        return True


class AudioEncoderLoader:
    """An audio encoder checkpoint (the paper's, Wav2CLIP or AudioCLIP) from models/audio_encoders."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "encoder_name": (comfy_env.model_choices("audio_encoder"),
                             {"tooltip": "Files in models/audio_encoders and known models, downloaded on first use."}),
            "kind": (["auto", *ENCODER_KINDS],
                     {"tooltip": "Encoder family; auto detects it from the checkpoint."}),
        }}

    RETURN_TYPES = (AUDIO_ENCODER,)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, encoder_name: str, kind: str):
        path = comfy_env.resolve_model("audio_encoder", encoder_name)
        return (load_audio_encoder(path, kind=None if kind == "auto" else kind, device=comfy_env.device()),)


class AudioEncode:
    """AUDIO -> a CLIP-space embedding, one per batch item."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "audio": ("AUDIO",),
            "encoder": (AUDIO_ENCODER,),
            "long_clip": (["average", "window"],
                          {"tooltip": "Clips longer than the encoder's window: average evenly spaced windows, "
                                      "or use one window starting at window_start."}),
            "window_start": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 36000.0, "step": 0.1}),
        }}

    RETURN_TYPES = (EMBEDDING, "STRING")
    RETURN_NAMES = ("embedding", "info")
    FUNCTION = "encode"
    CATEGORY = CATEGORY

    def encode(self, audio: dict, encoder, long_clip: str, window_start: float):
        embedding = encoder.encode(Audio.from_comfy(audio), long_clip=long_clip, window_start=window_start)
        return (embedding, embedding.describe())
