"""Zero-shot classification of a sound: what the encoder hears, before editing an image with it."""

from __future__ import annotations

from soundclip_core.audio import Audio
from soundclip_core.evaluate import classify

from . import comfy_env
from .form import Node, link, text
from .types import ANALYSIS, AUDIO_ENCODER, CLIP


class ZeroShotClassify(Node):
    """AUDIO + encoder + CLIP of its space + class labels -> the labels ranked by how well the sound matches
    them, one "label: probability" per line (softmax over 100 x cosine, CLIP's temperature)."""

    REQUIRED = {
        "audio": link("AUDIO", "The sound(s) to classify."),
        "encoder": link(AUDIO_ENCODER, "From Load Audio Encoder."),
        "clip": link(CLIP, "The CLIP model of the encoder's space (it encodes the labels)."),
        "labels": text("rain\nthunderstorm\ndog\ncrackling fire\nsea waves",
                       "One class per line; underscores become spaces.", multiline=True),
        "template": text("{}", "Prompt with {} for the label, e.g. 'the sound of {}'. Several templates separated by "
                               "'|' are averaged (prompt ensembling)."),
    }
    OUTPUTS = (("ranking", "STRING"), ("top_label", "STRING"))
    FUNCTION = "classify"
    CATEGORY = ANALYSIS
    DESCRIPTION = ("What the encoder hears: ranks your labels for the sound, each line 'label: p' with "
                   "p = softmax(100 * cosine), most likely first.")

    def classify(self, audio: dict, encoder, clip, labels: str, template: str):
        names = [line.strip() for line in labels.splitlines() if line.strip()]
        templates = [t.strip() for t in template.split("|") if t.strip()]
        with comfy_env.on_device(encoder, clip):
            rankings = classify(encoder, clip, Audio.from_comfy(audio), names, templates)
        blocks = ["\n".join(f"{label}: {p:.3f}" for label, p in ranking) for ranking in rankings]
        report = blocks[0] if len(blocks) == 1 else "\n\n".join(f"# sound {i + 1}\n{b}" for i, b in enumerate(blocks))
        return (report, ", ".join(ranking[0][0] for ranking in rankings))
