"""Zero-shot classification of a sound: what the encoder hears, before editing an image with it."""

from __future__ import annotations

from soundclip_core.audio import Audio
from soundclip_core.evaluate import classify

from .types import AUDIO_ENCODER, CATEGORY, CLIP


class ZeroShotClassify:
    """AUDIO + encoder + CLIP of its space + class labels -> the labels ranked by how well the sound matches
    them, one "label: probability" per line (softmax over 100 x cosine, CLIP's temperature)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "audio": ("AUDIO",),
            "encoder": (AUDIO_ENCODER,),
            "clip": (CLIP,),
            "labels": ("STRING", {"multiline": True, "default": "rain\nthunderstorm\ndog\ncrackling fire\nsea waves",
                                  "tooltip": "One class per line; underscores become spaces."}),
            "template": ("STRING", {"default": "{}",
                                    "tooltip": "Prompt with {} for the label, e.g. 'the sound of {}'. Several "
                                               "templates separated by '|' are averaged (prompt ensembling)."}),
        }}

    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("ranking", "top_label")
    FUNCTION = "classify"
    CATEGORY = CATEGORY
    DESCRIPTION = "Ranks the labels for the sound; each line 'label: p' with p = softmax(100 * cosine)."

    def classify(self, audio: dict, encoder, clip, labels: str, template: str):
        names = [line.strip() for line in labels.splitlines() if line.strip()]
        templates = [t.strip() for t in template.split("|") if t.strip()]
        rankings = classify(encoder, clip, Audio.from_comfy(audio), names, templates)
        blocks = ["\n".join(f"{label}: {p:.3f}" for label, p in ranking) for ranking in rankings]
        text = blocks[0] if len(blocks) == 1 else "\n\n".join(f"# sound {i + 1}\n{b}" for i, b in enumerate(blocks))
        return (text, ", ".join(ranking[0][0] for ranking in rankings))
