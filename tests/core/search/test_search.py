"""Retrieval: cached indexes that follow the folder, rankings by hand-computed cosines, metrics by hand."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import TINY_DIM, write_sound

from soundclip_core import search
from soundclip_core.audio import load_audio
from soundclip_core.clip import tiny_clip
from soundclip_core.embedding import Embedding
from soundclip_core.encoders import build_audio_encoder
from soundclip_core.errors import Cancelled, EmbeddingSpaceError, SoundClipError
from soundclip_core.picture import fit_square, load_image
from soundclip_core.search import IMAGE_EXTENSIONS, build_index, index_file, label_metrics, rank_pictures
from soundclip_core.search import index as search_index
from soundclip_core.search.media import embed_pictures


@pytest.fixture(scope="module")
def clip():
    return tiny_clip(seed=2, device="cpu")


def _picture(path, seed: int, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _folder(root):
    for i, name in enumerate(["a.png", "b.jpg", "sub/c.png"]):
        _picture(root / name, i)
    (root / "broken.png").write_bytes(b"not a picture")
    (root / "notes.txt").write_text("ignored")
    return root


class Counting:
    """embed_pictures, counting the files it encodes."""

    def __init__(self, clip):
        self.embed, self.count = embed_pictures(clip), 0

    def __call__(self, paths):
        self.count += len(paths)
        return self.embed(paths)


def test_the_ranking_is_the_cosines_best_first_and_broken_files_are_listed(clip, tmp_path):
    folder = _folder(tmp_path / "pictures")
    query = Embedding(torch.randn(1, 64), clip.space, "a sound")
    ranking = search.search_pictures(folder, query, clip)
    files = [folder / "a.png", folder / "b.jpg", folder / "sub/c.png"]
    vectors = torch.cat([clip.encode_image(fit_square(load_image(p), 32)).vectors for p in files])
    cosines = vectors @ query.vectors[0]
    expected = sorted(zip(cosines.tolist(), map(str, files), strict=True), reverse=True)
    assert [e["path"] for e in ranking.top()] == [p for _, p in expected]
    torch.testing.assert_close(ranking.scores, torch.tensor([c for c, _ in expected]), rtol=1e-5, atol=1e-6)
    assert [p.name for p, _ in ranking.skipped] == ["broken.png"] and "not a readable image" in ranking.skipped[0][1]
    out = ranking.write_json(tmp_path / "rank.json", k=2)
    assert json.loads(out.read_text()) == ranking.top(2) and len(ranking.top(2)) == 2
    assert "skipped" in ranking.text() and ranking.text().startswith("  1.")


def test_the_index_is_cached_and_follows_the_folder(clip, tmp_path):
    folder = _folder(tmp_path / "pictures")
    counting = Counting(clip)
    first = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, counting)
    assert counting.count == 4 + 4 and first.encoded == 3  # a batch holding the broken file, then one at a time
    assert first.file.parent.name == ".soundclip_index" and first.file.is_file()
    counting.count = 0
    again = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, counting)
    assert counting.count == 1 and again.encoded == 0  # only the broken file is tried again
    torch.testing.assert_close(again.vectors, first.vectors)
    _picture(folder / "b.jpg", 7, size=(50, 50))  # changed: size and time differ
    os.remove(folder / "sub/c.png")
    _picture(folder / "d.webp", 8)
    counting.count = 0
    updated = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, counting)
    assert [Path(p).name for p in updated.paths] == ["a.png", "b.jpg", "d.webp"] and updated.encoded == 2
    torch.testing.assert_close(updated.vectors[0], first.vectors[0])
    assert not torch.allclose(updated.vectors[1], first.vectors[1])
    other = tmp_path / "cache"
    elsewhere = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, counting, cache_dir=other)
    assert elsewhere.file.parent == other


def test_a_cancelled_or_failed_update_keeps_what_it_encoded(clip, tmp_path):
    folder = tmp_path / "pictures"
    for i in range(7):
        _picture(folder / f"p{i}.png", i)
    counting, seen = Counting(clip), []

    def cancel_at_the_third_batch():
        return len(seen) == 3  # asked before each batch, after (0, 7) and two batches' progress

    with pytest.raises(Cancelled, match="after 4 of 7 new files"):
        build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, counting, batch=2,
                    progress=lambda done, total: seen.append((done, total)), should_cancel=cancel_at_the_third_batch)
    assert seen == [(0, 7), (2, 7), (4, 7)] and counting.count == 4
    whole = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, Counting(clip), cache_dir=tmp_path / "all")
    counting.count = 0
    resumed = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, counting, batch=2)
    assert counting.count == 3 and resumed.encoded == 3  # only the files the cancelled run did not reach
    torch.testing.assert_close(resumed.vectors, whole.vectors)

    def failing(paths):
        if "p4.png" in {p.name for p in paths}:
            raise RuntimeError("CUDA out of memory")
        return embed_pictures(clip)(paths)

    with pytest.raises(RuntimeError, match="out of memory"):
        build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, failing, cache_dir=tmp_path / "other", batch=2)
    counting.count = 0
    build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, counting, cache_dir=tmp_path / "other", batch=2)
    assert counting.count == 3  # p0..p3 were kept when the run failed


def test_a_long_update_saves_as_it_goes(clip, tmp_path):
    """What a killed process (no exception handler runs) leaves: the files encoded up to the last save."""
    folder = tmp_path / "pictures"
    for i in range(7):
        _picture(folder / f"p{i}.png", i)
    on_disk = []

    def looking(paths):
        file = index_file(folder, "images", clip.space)
        on_disk.append(len(search_index._read(file, "images", clip.space)[0]))
        return embed_pictures(clip)(paths)

    build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, looking, batch=2, save_seconds=0)
    assert on_disk == [0, 2, 4, 6]  # saved after every batch but the last (the final write covers it)


def test_a_damaged_cache_is_rebuilt(clip, tmp_path):
    folder = _folder(tmp_path / "pictures")
    first = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, embed_pictures(clip))
    first.file.write_bytes(b"garbage")
    counting = Counting(clip)
    rebuilt = build_index(folder, "images", clip.space, IMAGE_EXTENSIONS, counting)
    assert rebuilt.encoded == 3
    torch.testing.assert_close(rebuilt.vectors, first.vectors)


def test_sounds_are_ranked_by_a_picture(tmp_path):
    encoder = build_audio_encoder("soundclip", embed_dim=TINY_DIM, device="cpu", space="test/space")
    folder = tmp_path / "sounds"
    for i in range(3):
        write_sound(folder / f"s{i}.wav", seconds=1.0, seed=i)
    query = Embedding(torch.randn(1, TINY_DIM), "test/space", "a picture")
    ranking = search.search_sounds(folder, query, encoder)
    expected = torch.cat([encoder.encode(load_audio(folder / f"s{i}.wav")).vectors for i in range(3)]) \
        @ query.vectors[0]
    torch.testing.assert_close(ranking.scores, expected.sort(descending=True).values, rtol=1e-4, atol=1e-5)
    with pytest.raises(EmbeddingSpaceError):
        search.search_sounds(folder, Embedding(torch.randn(1, TINY_DIM), "other/space", "x"), encoder)


def test_a_batch_is_ranked_and_bad_queries_refused(clip, tmp_path):
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    query = Embedding(torch.randn(1, 64), clip.space, "q")
    ranking = rank_pictures(images, query, clip)
    cosines = clip.encode_image(images).vectors @ query.vectors[0]
    assert ranking.order.tolist() == cosines.argsort(descending=True).tolist()
    assert ranking.items == [f"#{i}" for i in ranking.order.tolist()]
    with pytest.raises(SoundClipError, match="one query"):
        rank_pictures(images, Embedding(torch.randn(2, 64), clip.space, "two"), clip)
    with pytest.raises(SoundClipError, match="does not exist"):
        search.search_pictures(tmp_path / "nowhere", query, clip)


def test_metrics_by_hand():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.1, 0.9, 0.5]])
    result = label_metrics(scores, ["a", "a"], ["a", "b", "a"], ks=(1, 2))
    # query 1 ranks a, a, b: perfect. Query 2 ranks b, a, a: AP (1/2 + 2/3) / 2, nDCG (1/log2 3 + 1/2) / (1 + 1/log2 3)
    ap2 = (1 / 2 + 2 / 3) / 2
    ndcg2 = (1 / math.log2(3) + 1 / 2) / (1 + 1 / math.log2(3))
    assert result["R@1"] == 0.5 and result["R@2"] == 1.0
    assert result["mAP"] == pytest.approx((1 + ap2) / 2) and result["nDCG"] == pytest.approx((1 + ndcg2) / 2)
