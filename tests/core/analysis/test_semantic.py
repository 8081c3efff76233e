"""Semantic curves: per window exactly the zero-shot results Zero-shot Classify gives for that window's sound,
linear between window centres, the video's own windows, silence heard as the nearest sound, cached, and a
clear error for labels without the models they need."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from music_signals import as_audio, chord

from soundclip_core.analysis import semantic, semantic_curves, semantic_curves_cached
from soundclip_core.analysis.cache import SEMANTIC
from soundclip_core.clip import TINY_SPACE, tiny_clip
from soundclip_core.embedding import Embedding
from soundclip_core.encoders import build_audio_encoder
from soundclip_core.errors import AnalysisError, AudioError, Cancelled, EmbeddingSpaceError
from soundclip_core.evaluate import classify
from soundclip_core.video import cut_windows

RATE = 16000
LABELS = ["rain", "applause", "violin"]


@pytest.fixture(scope="module")
def models():
    return build_audio_encoder("soundclip", embed_dim=64, device="cpu", seed=1, space=TINY_SPACE), tiny_clip()


@pytest.fixture(scope="module")
def song():
    """12 s: a chord, noise, a higher chord, each 4 s (the windows hear different things)."""
    noise = 0.2 * np.random.default_rng(0).standard_normal(4 * RATE)
    return as_audio(np.concatenate([0.3 * chord(4, RATE), noise, 0.3 * chord(4, RATE, (880.0, 1108.7))]), RATE)


def test_each_window_is_exactly_its_zero_shot_result(models, song):
    """fps 2 puts frames on the window centres (2.5, 5, 7.5 and 9.5 s for 5 s windows every 2.5 s): there each
    label's curve is the probability classify() gives that window's sound; between centres, linear."""
    encoder, clip = models
    windows = cut_windows(song, 5.0, 2.5)
    assert windows.times == [2.5, 5.0, 7.5, 9.5]
    curves = semantic_curves(encoder, song, windows.spans, 2, 24, clip=clip, labels=LABELS)
    assert set(curves) == {"label_rain", "label_applause", "label_violin"}
    rankings = classify(encoder, clip, [song.window(s, e) for s, e in windows.spans], LABELS)
    for centre, ranking in zip(windows.times, rankings, strict=True):
        for label, probability in ranking:
            assert curves[f"label_{label}"][round(centre * 2)] == np.float32(probability)
    assert np.allclose(sum(curves.values()), 1, atol=1e-5)


def test_frames_between_window_centres_are_linear_and_the_ends_held(models, song):
    encoder, clip = models
    windows = cut_windows(song, 5.0, 2.5)
    curve = semantic_curves(encoder, song, windows.spans, 2, 24, targets={"t": clip.encode_text(["rain"])})
    curve = curve["similarity_t"]
    assert len({round(float(v), 6) for v in curve[[5, 10, 15, 19]]}) == 4  # the windows hear different things
    assert curve[6] == pytest.approx(curve[5] + (curve[10] - curve[5]) * 0.5 / 2.5, abs=1e-6)
    assert curve[17] == pytest.approx(curve[15] + (curve[19] - curve[15]) * 1.0 / 2.0, abs=1e-6)
    assert (curve[:5] == curve[5]).all() and (curve[19:] == curve[19]).all()


def test_similarity_to_a_text_or_sound_embedding(models, song):
    encoder, clip = models
    windows = cut_windows(song, 4.0, 4.0)
    text = clip.encode_text(["a storm", "a violin"])
    curves = semantic_curves(encoder, song, windows.spans, 1, 12, targets={"text": text})
    sounds = encoder.encode([song.window(s, e) for s, e in windows.spans]).vectors
    cosines = sounds @ F.normalize(text.vectors, dim=-1).t()
    for k, suffix in enumerate(("_0", "_1")):
        assert np.allclose(curves["similarity_text" + suffix][[2, 6, 10]], cosines[:, k].numpy(), atol=1e-6)


def test_a_silent_window_hears_the_nearest_sound(models):
    encoder, clip = models
    y = np.concatenate([0.3 * chord(3, RATE), np.zeros(3 * RATE), 0.3 * chord(3, RATE, (700.0,))])
    song = as_audio(y, RATE)
    spans = [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    curve = semantic_curves(encoder, song, spans, 2, 18, targets={"t": clip.encode_text(["rain"])})["similarity_t"]
    assert curve[9] == pytest.approx(curve[3], abs=1e-6)  # the silent middle window (centre 4.5 s, frame 9) has
    assert curve[15] != pytest.approx(curve[3], abs=1e-4)  # the first one's values (frame 3), not the last's
    with pytest.raises(AudioError, match="silent"):
        semantic_curves(encoder, as_audio(np.zeros(RATE * 3), RATE), [(0, 3)], 2, 6, clip=clip, labels=LABELS)


def test_labels_without_models_or_of_another_space_are_one_clear_error(models, song):
    encoder, clip = models
    spans = cut_windows(song).spans
    with pytest.raises(AnalysisError, match="need an audio encoder") as error:
        semantic_curves(None, song, spans, 2, 24, clip=clip, labels=LABELS)
    assert error.value.fix
    with pytest.raises(AnalysisError, match="labels need a CLIP"):
        semantic_curves(encoder, song, spans, 2, 24, labels=LABELS)
    with pytest.raises(AnalysisError, match="no labels and no embeddings"):
        semantic_curves(encoder, song, spans, 2, 24, clip=clip)
    with pytest.raises(Exception, match="at least two labels"):
        semantic_curves(encoder, song, spans, 2, 24, clip=clip, labels=["rain"])
    other = Embedding(torch.ones(1, 64), "openai/RN50")
    with pytest.raises(EmbeddingSpaceError, match="openai/RN50"):
        semantic_curves(encoder, song, spans, 2, 24, targets={"x": other})


def test_window_encoding_reports_progress_and_stops_on_cancel(models, song, monkeypatch):
    encoder, clip = models
    monkeypatch.setattr(semantic, "CLIPS_PER_BATCH", 2)
    spans = cut_windows(song, 2.0, 1.0).spans  # 11 windows: six batches
    seen = []
    curves = semantic_curves(encoder, song, spans, 2, 24, clip=clip, labels=LABELS,
                             progress=lambda done, total: seen.append((done, total)))
    assert [total for _, total in seen] == [len(spans)] * 6 and [done for done, _ in seen] == [2, 4, 6, 8, 10, 11]
    asked = []
    with pytest.raises(Cancelled, match="after 4 of 11 windows"):
        semantic_curves_cached(encoder, song, spans, 2, 24, clip=clip, labels=LABELS,
                               should_cancel=lambda: asked.append(1) or len(asked) == 3)
    again = semantic_curves_cached(encoder, song, spans, 2, 24, clip=clip, labels=LABELS)  # nothing cached half
    assert all(np.array_equal(again[name], curves[name]) for name in curves)
    SEMANTIC.clear()


def test_the_same_request_is_not_encoded_twice(models, song, monkeypatch):
    encoder, clip = models
    SEMANTIC.clear()
    calls = []
    real = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda clips, **kw: calls.append(len(clips)) or real(clips, **kw))
    spans = cut_windows(song).spans
    first = semantic_curves_cached(encoder, song, spans, 2, 24, clip=clip, labels=LABELS)
    again = semantic_curves_cached(encoder, song, spans, 2, 24, clip=clip, labels=LABELS)
    assert calls == [4] and again is first
    semantic_curves_cached(encoder, song, spans, 2, 24, clip=clip, labels=LABELS[:2])  # other labels: new curves
    assert calls == [4, 4]
    SEMANTIC.clear()


def test_the_cache_holds_models_weakly_and_never_answers_for_another_model(models, song):
    """A model the user let go is not kept alive by the cache; a new model (even one given the freed model's id)
    gets its own curves."""
    import gc
    import weakref

    encoder, clip = models
    SEMANTIC.clear()
    spans = cut_windows(song).spans
    other = build_audio_encoder("soundclip", embed_dim=64, device="cpu", seed=2, space=TINY_SPACE)
    gone = weakref.ref(other)
    first = semantic_curves_cached(other, song, spans, 2, 24, clip=clip, labels=LABELS)
    del other
    gc.collect()
    assert gone() is None  # the cache did not keep it
    mine = semantic_curves_cached(encoder, song, spans, 2, 24, clip=clip, labels=LABELS)
    again = semantic_curves_cached(encoder, song, spans, 2, 24, clip=clip, labels=LABELS)
    assert again is mine and mine is not first
    SEMANTIC.clear()
