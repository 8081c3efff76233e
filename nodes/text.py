"""Text in, and embedding arithmetic: load CLIP, encode a prompt, mix embeddings."""

from __future__ import annotations

from soundclip_core.clip import load_clip
from soundclip_core.embedding import Embedding, combine, stack

from . import comfy_env
from .types import CATEGORY, CLIP, EMBEDDING

CLIP_ARCHS = ("ViT-B-32", "RN50")  # the spaces our audio encoders live in


class CLIPLoader:
    """OpenAI / open_clip CLIP weights from models/clip_soundclip (ViT-B-32 for soundclip and
    Wav2CLIP sounds, RN50 for AudioCLIP). AudioCLIP checkpoints in models/audio_encoders are offered
    too: their own CLIP towers are the ones that match AudioCLIP-Full's sounds."""

    @classmethod
    def INPUT_TYPES(cls):
        choices = sorted(set(comfy_env.model_choices("clip")) | comfy_env.audioclip_choices(), key=str.lower)
        return {"required": {
            "clip_name": (choices, {"tooltip": "Files in models/clip_soundclip, AudioCLIP checkpoints in "
                                               "models/audio_encoders, and known models, downloaded on first use."}),
            "arch": (list(CLIP_ARCHS), {"tooltip": "The architecture of the weights file (RN50 for AudioCLIP)."}),
        }}

    RETURN_TYPES = (CLIP,)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, clip_name: str, arch: str):
        kind = "audio_encoder" if clip_name in comfy_env.audioclip_choices() else "clip"
        path = comfy_env.resolve_model(kind, clip_name)
        return (load_clip(arch=arch, path=path, device=comfy_env.device()),)


class TextEncode:
    """A text prompt -> an embedding in the CLIP model's space."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "clip": (CLIP,),
            "text": ("STRING", {"multiline": True, "default": "a photo of a stormy sea"}),
        }}

    RETURN_TYPES = (EMBEDDING, "STRING")
    RETURN_NAMES = ("embedding", "info")
    FUNCTION = "encode"
    CATEGORY = CATEGORY

    def encode(self, clip, text: str):
        prompts = [line.strip() for line in text.splitlines() if line.strip()] or [text]
        embedding = clip.encode_text(prompts)
        return (embedding, embedding.describe())


class EmbeddingMix:
    """Weighted sum of two embeddings (sound + text, two sounds), renormalised.

    Both must come from the same CLIP space; a negative weight steers away from a concept.
    """

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "embedding_a": (EMBEDDING,),
            "weight_a": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.05}),
            "embedding_b": (EMBEDDING,),
            "weight_b": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.05}),
        }}

    RETURN_TYPES = (EMBEDDING, "STRING")
    RETURN_NAMES = ("embedding", "info")
    FUNCTION = "mix"
    CATEGORY = CATEGORY

    def mix(self, embedding_a: Embedding, weight_a: float, embedding_b: Embedding, weight_b: float):
        mixed = combine([(embedding_a, weight_a), (embedding_b, weight_b)])
        return (mixed, mixed.describe())


class EmbeddingBatch:
    """Stack up to four embeddings into one batch: one optimisation then edits toward each of them."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"embedding_1": (EMBEDDING,), "embedding_2": (EMBEDDING,)},
            "optional": {"embedding_3": (EMBEDDING,), "embedding_4": (EMBEDDING,)},
        }

    RETURN_TYPES = (EMBEDDING,)
    RETURN_NAMES = ("embeddings",)
    FUNCTION = "stack"
    CATEGORY = CATEGORY

    def stack(self, embedding_1: Embedding, embedding_2: Embedding, embedding_3: Embedding | None = None,
              embedding_4: Embedding | None = None):
        return (stack([e for e in (embedding_1, embedding_2, embedding_3, embedding_4) if e is not None]),)
