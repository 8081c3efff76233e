"""Zero-shot classification: class names become prompts, audio embeddings are ranked against them.

A class's text embedding is the average of its prompts' unit text embeddings (one prompt per template),
renormalised: the prompt ensembling of CLIP's zero-shot protocol. The default template "{}" is the bare
class name, the text the paper's encoder was trained with and AudioCLIP's evaluation protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..audio import Audio
from ..datasets import clean_label
from ..embedding import Embedding, check_same_space
from ..errors import EmbeddingSpaceError, SoundClipError

if TYPE_CHECKING:
    from ..clip import ClipModel
    from ..encoders import AudioEncoder

DEFAULT_TEMPLATES = ("{}",)
LOGIT_SCALE = 100.0  # CLIP's trained temperature (AudioCLIP clamps its own to the same 100)


def check_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """Templates must each hold one `{}` for the class name, else every class gets the same prompt."""
    templates = tuple(templates) or DEFAULT_TEMPLATES
    for template in templates:
        if template.count("{}") != 1:
            raise SoundClipError(f"the prompt template '{template}' must contain '{{}}' exactly once",
                                 fix='write it like "the sound of {}"')
    return templates


def check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """At least two distinct, non-empty class names (zero-shot over one class always answers it)."""
    cleaned = [label.strip() for label in labels]
    if not cleaned:
        raise SoundClipError("no labels given", fix="give the classes the sound could be, one per line")
    if any(not label for label in cleaned):
        raise SoundClipError("a class label is empty", fix="give one non-empty label per line")
    if len(set(cleaned)) != len(cleaned):
        duplicates = sorted({label for label in cleaned if cleaned.count(label) > 1})
        raise SoundClipError(f"labels given twice: {duplicates}", fix="list each class once")
    if len(cleaned) < 2:
        raise SoundClipError(f"zero-shot classification needs at least two labels, got {cleaned}",
                             fix="add the other classes the sound could be")
    return tuple(cleaned)


def class_embeddings(clip: ClipModel, labels: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES) -> Embedding:
    """[K, D] unit text embeddings of K classes: normalise(mean_t normalise(text(template_t(clean(label)))))."""
    labels, templates = check_labels(labels), check_templates(templates)
    words = [clean_label(label) for label in labels]
    total = sum(clip.encode_text([t.format(w) for w in words]).vectors for t in templates)
    return Embedding(total / len(templates), clip.space, f"{len(labels)} classes x {len(templates)} templates")


def class_scores(audio: Embedding, classes: Embedding) -> torch.Tensor:
    """Cosine similarities [N, K] of N audio embeddings with K class embeddings of the same space."""
    check_same_space([audio, classes])
    return audio.vectors @ classes.vectors.to(audio.vectors.device).t()


def ranked_labels(scores: torch.Tensor, labels: Sequence[str]) -> list[list[tuple[str, float]]]:
    """Per row of cosines [N, K]: (label, softmax(100 * cosine)) pairs, most likely first."""
    probabilities = F.softmax(LOGIT_SCALE * scores.float(), dim=-1)
    rankings = []
    for row in probabilities:
        order = torch.argsort(row, descending=True, stable=True).tolist()
        rankings.append([(labels[i], float(row[i])) for i in order])
    return rankings


def classify(encoder: AudioEncoder, clip: ClipModel, sounds: Sequence[Audio], labels: Sequence[str],
             templates: Sequence[str] = DEFAULT_TEMPLATES) -> list[list[tuple[str, float]]]:
    """Rank `labels` for each sound: the encoder's embedding against the CLIP's class prompts (checked to share
    one space before anything is encoded); (label, softmax(100 * cosine)) pairs, most likely first."""
    labels, templates = check_labels(labels), check_templates(templates)
    if encoder.space != clip.space or encoder.dim != clip.dim:
        raise EmbeddingSpaceError(f"the audio encoder ({encoder.source}) lives in CLIP space '{encoder.space}' "
                                  f"({encoder.dim}-d), the CLIP ({clip.source}) in '{clip.space}' ({clip.dim}-d)",
                                  fix="load the CLIP that goes with this encoder (soundclip/wav2clip: ViT-B-32; "
                                      "AudioCLIP Partial: RN50; AudioCLIP Full: its own file)")
    texts = class_embeddings(clip, labels, templates)
    return ranked_labels(class_scores(encoder.encode(list(sounds)), texts), labels)
