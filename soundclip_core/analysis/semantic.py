"""Semantic curves: what the sound *is*, per video frame, from the same windows the video hears.

For each window (start, end in seconds: the video's own layout, `video.cut_windows`, passed in by the caller so
that this package never imports the video, which imports it) the audio encoder gives one embedding, batched
through the network; then per window

- label_<label>: the zero-shot probability of each of the user's labels, softmax(100 * cosine) over the labels'
  CLIP text embeddings (evaluate.zeroshot: the same prompts, templates and temperature as Zero-shot Classify;
  the values are exactly evaluate.classify's for the list of windows, and Zero-shot Classify's on one window's
  sound to float rounding: a matrix product's rows may round differently with other rows beside them);
- similarity_<name>: the cosine between the window's embedding and any text or sound embedding (one curve per
  row of it).

A video frame at time t = i / fps takes the values interpolated linearly between the two window centres around
it (held before the first centre and after the last): keyframes are placed at window centres, and the frames
between them move from one to the next the same way. A silent window (a break) says nothing about meaning: it
takes the values of the nearest window with sound, as the video's keyframes do; a sound silent throughout is
refused. Labels without an audio encoder or CLIP, or models of two CLIP spaces, are one clear error each,
before any window is encoded.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch.nn.functional as F

from ..audio import Audio
from ..embedding import Embedding
from ..encoders.audible import encode_audible
from ..errors import AnalysisError, EmbeddingSpaceError
from ..evaluate.zeroshot import DEFAULT_TEMPLATES, LOGIT_SCALE, check_labels, class_embeddings, class_scores
from .cache import SEMANTIC, audio_key, digest

if TYPE_CHECKING:
    from ..clip import ClipModel
    from ..encoders import AudioEncoder

CLIPS_PER_BATCH = 64  # windows prepared and encoded at a time: bounded memory on a 3-hour mix
Progress = Callable[[int, int], None]


def check_models(encoder, clip, labels: Sequence[str], targets: dict[str, Embedding]) -> tuple[str, ...]:
    """The labels, checked, and the models they need, checked to share one space (before any encoding)."""
    if not labels and not targets:
        raise AnalysisError("no labels and no embeddings to compare the sound with",
                            fix="give labels (e.g. 'rain, applause, violin') or a text or sound embedding")
    if encoder is None:
        raise AnalysisError("semantic curves need an audio encoder: it is what hears the sound's meaning",
                            fix="give an audio encoder (--encoder, or connect Load Audio Encoder)")
    if labels and clip is None:
        raise AnalysisError("labels need a CLIP model: it turns each label into text embeddings",
                            fix="give the CLIP of the encoder's space (--clip, or connect Load CLIP)")
    labels = check_labels(labels) if labels else ()
    if clip is not None and (encoder.space != clip.space or encoder.dim != clip.dim):
        raise EmbeddingSpaceError(f"the audio encoder ({encoder.source}) lives in CLIP space '{encoder.space}' "
                                  f"({encoder.dim}-d), the CLIP ({clip.source}) in '{clip.space}' ({clip.dim}-d)",
                                  fix="load the CLIP that goes with this encoder")
    for name, target in targets.items():
        if target.space != encoder.space:
            raise EmbeddingSpaceError(f"the embedding '{name}' is in CLIP space '{target.space}', the encoder's in "
                                      f"'{encoder.space}'", fix="encode it with a model of the encoder's space")
    return labels


def encode_spans(encoder: AudioEncoder, audio: Audio, spans: Sequence[tuple[float, float]],
                 progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None) -> Embedding:
    """One unit embedding per window [K, D], CLIPS_PER_BATCH windows at a time (`progress(done, total)` audible
    windows after each batch, `should_cancel` asked before each: an hour of sound is minutes on a CPU); silent
    windows take the nearest audible window's embedding."""
    clips = [audio.window(start, end) for start, end in spans]
    vectors = encode_audible(encoder, clips, batch_size=CLIPS_PER_BATCH, source=audio.source, progress=progress,
                             should_cancel=should_cancel)
    return Embedding(vectors, encoder.space, f"{encoder.kind}: {len(clips)} windows")


def window_values(embedding: Embedding, clip: ClipModel | None, labels: Sequence[str],
                  targets: dict[str, Embedding], templates: Sequence[str] = DEFAULT_TEMPLATES) -> dict[str, np.ndarray]:
    """name -> float64 [K] per window: label_<label> probabilities and similarity_<name> cosines."""
    out = {}
    if labels:
        probabilities = F.softmax(LOGIT_SCALE * class_scores(embedding, class_embeddings(clip, labels, templates))
                                  .float(), dim=-1)
        out.update({f"label_{label}": probabilities[:, k].double().numpy() for k, label in enumerate(labels)})
    for name, target in targets.items():
        cosines = class_scores(embedding, Embedding(F.normalize(target.vectors.float(), dim=-1), target.space))
        for k in range(cosines.shape[1]):
            out[f"similarity_{name}" + (f"_{k}" if cosines.shape[1] > 1 else "")] = cosines[:, k].double().numpy()
    return out


def to_frames(values: np.ndarray, centres: Sequence[float], fps: float, n_frames: int) -> np.ndarray:
    """Per-window values [K] -> float32 [n_frames] at t = i / fps, linear between window centres, ends held."""
    return np.interp(np.arange(n_frames) / fps, np.asarray(centres, np.float64), values).astype(np.float32)


def semantic_curves(encoder: AudioEncoder, audio: Audio, spans: Sequence[tuple[float, float]], fps: float,
                    n_frames: int, *, clip: ClipModel | None = None, labels: Sequence[str] = (),
                    targets: dict[str, Embedding] | None = None, templates: Sequence[str] = DEFAULT_TEMPLATES,
                    progress: Progress | None = None, should_cancel: Callable[[], bool] | None = None
                    ) -> dict[str, np.ndarray]:
    """name -> float32 [n_frames]: the semantic curves of `audio` heard in the windows `spans` (see the module
    doc). targets: name -> an Embedding (text or sound) of the encoder's space; progress and should_cancel as
    encode_spans takes them."""
    targets = dict(targets or {})
    labels = check_models(encoder, clip, labels, targets)
    if not spans:
        raise AnalysisError("no windows to hear the sound in", fix="cut the sound into windows (video.cut_windows)")
    per_window = window_values(encode_spans(encoder, audio, spans, progress, should_cancel), clip, labels, targets,
                               templates)
    centres = [(start + end) / 2 for start, end in spans]
    return {name: to_frames(values, centres, fps, n_frames) for name, values in per_window.items()}


def semantic_curves_cached(encoder: AudioEncoder, audio: Audio, spans: Sequence[tuple[float, float]], fps: float,
                           n_frames: int, *, clip: ClipModel | None = None, labels: Sequence[str] = (),
                           targets: dict[str, Embedding] | None = None,
                           templates: Sequence[str] = DEFAULT_TEMPLATES, progress: Progress | None = None,
                           should_cancel: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
    """`semantic_curves(...)`, or the curves kept for the same sound, models, labels, windows and frames
    (cache.py). Models are keyed by identity (a model loaded again is another model: its weights may differ) and
    held weakly, so the cache never keeps a model the user has let go alive; an id reused by another model
    after the first was freed is caught by comparing the live model with the entry's."""
    targets = dict(targets or {})
    key = ("semantic", audio_key(audio), id(encoder), id(clip), tuple(labels), tuple(templates),
           tuple(map(tuple, spans)), float(fps), n_frames,
           tuple((name, digest(t.vectors), t.space) for name, t in targets.items()))
    models = (encoder, clip)

    def compute():
        curves = semantic_curves(encoder, audio, spans, fps, n_frames, clip=clip, labels=labels, targets=targets,
                                 templates=templates, progress=progress, should_cancel=should_cancel)
        return tuple(None if m is None else weakref.ref(m) for m in models), curves

    def same_models(entry) -> bool:
        return all(m is None if ref is None else ref() is m for ref, m in zip(entry[0], models, strict=True))

    return SEMANTIC.get(key, compute, valid=same_models)[1]
