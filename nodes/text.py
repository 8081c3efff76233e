"""Text in, and embedding arithmetic: load CLIP, encode a prompt, mix embeddings."""

from __future__ import annotations

from soundclip_core.clip import load_clip
from soundclip_core.embedding import Embedding, combine, stack

from . import comfy_env
from .form import Node, any_file, choice, link, model, number, text
from .types import CLIP, EMBEDDING, LOADERS, TEXT

CLIP_ARCHS = ("ViT-B-32", "RN50", "ViT-H-14")  # the spaces our audio encoders live in
WEIGHT = dict(low=-10.0, high=10.0, step=0.05)


class CLIPLoader(Node):
    """OpenAI / open_clip CLIP weights from models/clip_soundclip (ViT-B-32 for soundclip and
    Wav2CLIP sounds, RN50 for AudioCLIP, ViT-H-14 for ImageBind). AudioCLIP and ImageBind checkpoints
    among the audio encoders are offered too: their own CLIP towers are the ones that match their sounds."""

    @classmethod
    def required(cls):
        files, tooltip = model("clip", "CLIP weights: ViT-B-32.pt for the paper's encoder and Wav2CLIP; an AudioCLIP "
                                       "file (RN50) for AudioCLIP sounds; imagebind_huge.pth (ViT-H-14) for "
                                       "ImageBind sounds.")
        options = sorted(set(files) | comfy_env.audioclip_choices(), key=str.lower)
        return {
            "clip_name": (options, tooltip),
            "arch": choice(CLIP_ARCHS, "The architecture of the weights file (RN50 for AudioCLIP, ViT-H-14 for "
                                       "ImageBind)."),
        }

    OUTPUTS = (("clip", CLIP),)
    FUNCTION = "load"
    VALIDATE_INPUTS = any_file("clip_name")
    CATEGORY = LOADERS
    DESCRIPTION = ("Loads the CLIP model whose space the edit is guided in; it must match the audio encoder's "
                   "space (ViT-B-32 for the paper's encoder). A known file missing on disk is downloaded.")

    def load(self, clip_name: str, arch: str):
        kind = "audio_encoder" if clip_name in comfy_env.audioclip_choices() else "clip"
        path = comfy_env.resolve_model(kind, clip_name)
        return (load_clip(arch=arch, path=path, device=comfy_env.load_device()),)


class TextEncode(Node):
    """A text prompt -> an embedding in the CLIP model's space."""

    REQUIRED = {
        "clip": link(CLIP, "From Load CLIP."),
        "text": text("a photo of a stormy sea", "The prompt; several lines give a batch, one embedding per line.",
                     multiline=True),
    }
    OUTPUTS = (("embedding", EMBEDDING), ("info", "STRING"))
    FUNCTION = "encode"
    CATEGORY = TEXT
    DESCRIPTION = "Encodes a text prompt (one per line) into CLIP space, to guide an edit or mix with a sound."

    def encode(self, clip, text: str):
        prompts = [line.strip() for line in text.splitlines() if line.strip()] or [text]
        with comfy_env.on_device(clip):
            embedding = clip.encode_text(prompts)
        return (embedding, embedding.describe())


class EmbeddingMix(Node):
    """Weighted sum of two embeddings (sound + text, two sounds), renormalised.

    Both must come from the same CLIP space; a negative weight steers away from a concept.
    """

    REQUIRED = {
        "embedding_a": link(EMBEDDING, "The first embedding (e.g. a sound)."),
        "weight_a": number(1.0, **WEIGHT, tooltip="Weight of embedding_a; negative steers away from it."),
        "embedding_b": link(EMBEDDING, "The second embedding (e.g. a text prompt), from the same CLIP space."),
        "weight_b": number(1.0, **WEIGHT, tooltip="Weight of embedding_b; negative steers away from it."),
    }
    OUTPUTS = (("embedding", EMBEDDING), ("info", "STRING"))
    FUNCTION = "mix"
    CATEGORY = TEXT
    DESCRIPTION = ("Mixes two embeddings of one CLIP space (sound + text, two sounds) as a weighted sum, "
                   "renormalised; refuses embeddings from different spaces.")

    def mix(self, embedding_a: Embedding, weight_a: float, embedding_b: Embedding, weight_b: float):
        mixed = combine([(embedding_a, weight_a), (embedding_b, weight_b)])
        return (mixed, mixed.describe())


class EmbeddingBatch(Node):
    """Stack up to four embeddings into one batch: one optimisation then edits toward each of them."""

    REQUIRED = {"embedding_1": link(EMBEDDING, "The first target."),
                "embedding_2": link(EMBEDDING, "The second target.")}
    OPTIONAL = {"embedding_3": link(EMBEDDING, "A third target (optional)."),
                "embedding_4": link(EMBEDDING, "A fourth target (optional).")}
    OUTPUTS = (("embeddings", EMBEDDING),)
    FUNCTION = "stack"
    CATEGORY = TEXT
    DESCRIPTION = ("Stacks 2-4 embeddings into one batch: one Sound-Guided Latent Optimize then makes one edit "
                   "toward each, previewed and saved as a grid.")

    def stack(self, embedding_1: Embedding, embedding_2: Embedding, embedding_3: Embedding | None = None,
              embedding_4: Embedding | None = None):
        return (stack([e for e in (embedding_1, embedding_2, embedding_3, embedding_4) if e is not None]),)
