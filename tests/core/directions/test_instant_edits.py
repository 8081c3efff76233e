"""Instant edits beyond the table: directions (table and one-target estimate), per-layer control, the table
cache, batches that fit the device, styles on disk."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from stylegan3_formats import tiny_sg3
from stylegan_formats import tiny_generator

from soundclip_core.clip import tiny_clip
from soundclip_core.directions import (
    apply_direction,
    apply_relevance,
    cache_entry,
    cached_table,
    compute_table,
    decode_styles,
    estimate_direction,
    find_cached_table,
    partial_path,
    read_styles,
    relevance,
    save_styles,
    scores,
    table_direction,
    table_file,
    table_layout,
    text_direction,
)
from soundclip_core.directions.gradient import image_jacobian
from soundclip_core.directions.sampling import sample_styles
from soundclip_core.embedding import Embedding
from soundclip_core.errors import (
    Cancelled,
    CheckpointError,
    EmbeddingSpaceError,
    LatentShapeError,
    SoundClipError,
)

STATS = 400
SMALL = dict(stats_samples=STATS, max_resolution=8)  # tiny SG2: conv1_4, conv0_8, conv1_8 = 88 channels


@pytest.fixture(scope="module")
def g():
    return tiny_generator(16)


@pytest.fixture(scope="module")
def clip():
    return tiny_clip()


@pytest.fixture(scope="module")
def delta(clip):
    return text_direction(clip.encode_text(["rain on a window"]), clip.encode_text(["a photo"]))


@pytest.fixture(scope="module")
def gradient(g, clip):
    return compute_table(g, clip, "gradient", images=4, **SMALL)


def test_a_table_direction_is_getboundary_at_apply_time(g, clip, gradient, delta):
    direction = table_direction(gradient, delta)
    assert torch.equal(direction.scores, delta.vectors @ gradient.rows.t())
    styles = g.styles(g.ws_from_seed(4))
    for beta in (0.0, 0.1):
        by_hand = apply_relevance(g, styles, gradient, relevance(gradient, delta, beta), 3.0)
        assert all(torch.equal(a, b) for a, b in zip(apply_direction(g, styles, direction, 3.0, beta), by_hand,
                                                      strict=True))
        assert direction.moved(beta) == int((scores(gradient, delta).abs() >= beta).sum())
    assert direction.moved(0.0) == gradient.layout.total and direction.moved(1.01) == 0
    with pytest.raises(SoundClipError, match=f"highest is {direction.largest:.4f}"):
        apply_direction(g, styles, direction, 3.0, beta=direction.largest + 0.01)
    with pytest.raises(SoundClipError, match="made for generator"):
        apply_direction(tiny_generator(16, seed=1), styles, direction)


def test_several_targets_on_one_image_give_one_edit_each_and_a_mismatched_batch_is_refused(g, clip, gradient):
    two = text_direction(clip.encode_text(["rain on a window", "a dog barking"]), clip.encode_text(["a photo"]))
    direction = table_direction(gradient, two)
    one = g.styles(g.ws_from_seed(4))
    edited = apply_direction(g, one, direction, 3.0, 0.0)
    assert all(s.shape[0] == 2 for s in edited)  # every layer, moved or not: one batch of two edits
    for row in range(2):
        alone = table_direction(gradient, Embedding(two.vectors[row:row + 1], two.space, two.source))
        by_itself = apply_direction(g, one, alone, 3.0, 0.0)
        assert all(torch.allclose(e[row:row + 1], a, atol=1e-5) for e, a in zip(edited, by_itself, strict=True))
    with torch.no_grad():
        assert g.synthesis_from_styles(edited).shape[0] == 2
    three = g.styles(torch.cat([g.ws_from_seed(s) for s in (1, 2, 3)]))
    with pytest.raises(SoundClipError, match="2 target rows, the latent 3 images") as error:
        apply_direction(g, three, direction, 3.0, 0.0)
    assert error.value.fix
    pair = g.styles(torch.cat([g.ws_from_seed(s) for s in (1, 2)]))
    assert all(s.shape[0] == 2 for s in apply_direction(g, pair, direction, 3.0, 0.0))  # one row per image


def test_the_fingerprint_survives_device_moves_and_notices_a_changed_weight(monkeypatch):
    from soundclip_core.directions import fingerprint

    hashed = []
    digest = fingerprint.weights_digest
    monkeypatch.setattr(fingerprint, "weights_digest", lambda state: hashed.append(1) or digest(state))
    gen = tiny_generator(16, seed=3)
    first = fingerprint.generator_fingerprint(gen)
    assert fingerprint.generator_fingerprint(gen) == first and len(hashed) == 1
    gen.to(torch.float64).to(torch.float32)  # new storage everywhere (as a cuda/cpu round trip): the same weights
    gen.cpu()
    assert fingerprint.generator_fingerprint(gen) == first and len(hashed) == 1  # not hashed again
    with torch.inference_mode():  # a node: ComfyUI runs it in inference mode, comfy_env._move moves outside it
        with torch.inference_mode(False):
            gen.to(torch.float64).to(torch.float32)
        assert fingerprint.generator_fingerprint(gen) == first and len(hashed) == 1
    weight = next(iter(gen.parameters()))
    original = weight.detach().clone()
    with torch.no_grad():
        weight.add_(1.0)  # changed in place: hashed again, another generator
    changed = fingerprint.generator_fingerprint(gen)
    assert changed != first and len(hashed) == 2
    with torch.no_grad():
        weight.copy_(original)
    assert fingerprint.generator_fingerprint(gen) == first and len(hashed) == 3
    with torch.no_grad():
        next(iter(gen.buffers())).add_(1.0)  # a buffer (w_avg) too, though moves give buffers new tensors
    assert fingerprint.generator_fingerprint(gen) != first and len(hashed) == 4


def test_an_estimate_needs_an_image_and_a_probe(g, clip, delta):
    with pytest.raises(SoundClipError, match="at least 1 probe") as error:
        estimate_direction(g, clip, delta, images=1, probes=0, **SMALL)
    assert "16 probes" in error.value.fix
    with pytest.raises(SoundClipError, match="at least 1 image"):
        estimate_direction(g, clip, delta, images=0, **SMALL)


def test_the_estimate_is_the_tables_score_when_its_norms_are_exact(g, clip, delta):
    """Probes = the CLIP axes: the estimate is exactly table . Delta t of the gradient table of the same images."""
    table = compute_table(g, clip, "gradient", images=3, **SMALL)
    exact = estimate_direction(g, clip, delta, images=3, probes=clip.dim, image_batch=2, **SMALL)
    assert exact.layout == table.layout and exact.method == "estimate"
    assert torch.allclose(exact.scores, scores(table, delta), atol=2e-5)


def test_the_estimate_with_few_probes_agrees_with_the_table(g, clip, gradient, delta):
    estimate = estimate_direction(g, clip, delta, images=4, probes=16, **SMALL)
    table_scores = scores(gradient, delta)
    cosine = F.cosine_similarity(estimate.scores, table_scores).item()
    top = set(table_scores[0].abs().topk(10).indices.tolist())
    overlap = len(top & set(estimate.scores[0].abs().topk(10).indices.tolist()))
    print(f"estimate (4 images, 16 probes) vs the 4-image gradient table: score cosine {cosine:.3f}, "
          f"top-10 channels shared {overlap}/10")
    assert cosine > 0.95 and overlap >= 6
    assert float(estimate.scores.abs().max()) <= 1.0  # scores stay cosines


def test_an_estimated_edit_raises_the_cosine_to_its_target(clip):
    """Without a table: the estimate's edit raises the CLIP cosine to 'rain on a window' more than to an
    unrelated text (12 images, two tiny generators; margins are what these seeds give, printed)."""
    target, neutral, other = (clip.encode_text([t]) for t in ["rain on a window", "a photo", "a red sports car"])
    gains = []
    for seed in (0, 1):
        gen = tiny_generator(16, seed=seed)
        direction = estimate_direction(gen, clip, text_direction(target, neutral), images=6, probes=16,
                                       stats_samples=STATS, max_resolution=None)
        styles = gen.styles(torch.cat([gen.ws_from_seed(100 + i) for i in range(6)]))
        with torch.no_grad():
            before, after = (F.normalize(clip.image_features(clip.prepare_images(decode_styles(gen, s))), dim=-1)
                             for s in (styles, apply_direction(gen, styles, direction, 3.0, 0.1)))
        gains.append(torch.stack([(after - before) @ e.vectors[0] for e in (target, other)], 1))
    gains = torch.cat(gains)
    mean = gains.mean(0)
    print(f"estimate: cosine gain target {mean[0]:+.4f}, unrelated {mean[1]:+.4f}, "
          f"target > unrelated on {int((gains[:, 0] > gains[:, 1]).sum())}/12")
    assert mean[0] > 0.012 and mean[0] > mean[1] + 0.004 and (gains[:, 0] > gains[:, 1]).sum() >= 8


def test_an_estimate_refuses_another_space_and_no_images(g, clip):
    with pytest.raises(EmbeddingSpaceError, match="spaces"):
        estimate_direction(g, clip, Embedding(torch.randn(1, clip.dim), "openai/ViT-B-32"), images=1)
    with pytest.raises(SoundClipError, match="at least 1 image"):
        estimate_direction(g, clip, Embedding(torch.randn(1, clip.dim), clip.space), images=0)


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3-t"])
def test_a_layer_range_leaves_every_other_layers_styles_bit_identical(arch, g, clip):
    gen = g if arch == "stylegan2" else tiny_sg3()
    direction = estimate_direction(gen, clip, Embedding(torch.randn(1, clip.dim), clip.space), images=1,
                                   probes=8, stats_samples=STATS, max_resolution=None)
    styles = gen.styles(gen.ws_from_seed(5))
    every = apply_direction(gen, styles, direction, 3.0, 0.0)
    chosen = {1, 2}
    edited = apply_direction(gen, styles, direction, 3.0, 0.0, layers="1-2")
    for li, layer in enumerate(gen.style_layers):
        if layer.w_index in chosen and li in direction.layout.layers:
            assert torch.equal(edited[li], every[li]) and not torch.equal(edited[li], styles[li]), layer.name
        else:
            assert torch.equal(edited[li], styles[li]), layer.name
    beyond = max(la.w_index for la in gen.style_layers)  # ToRGB's w index: no table channel reads only it
    only_torgb = [i for i in range(gen.num_ws) if all(la.w_index != i or la.is_torgb for la in gen.style_layers)]
    if only_torgb:
        with pytest.raises(SoundClipError, match="no channel of the layers"):
            apply_direction(gen, styles, direction, 3.0, 0.0, layers=str(only_torgb[0]))
    with pytest.raises(SoundClipError, match="outside"):
        apply_direction(gen, styles, direction, 3.0, 0.0, layers=f"0-{beyond + 5}")


class _CancelAfter:
    def __init__(self, calls: int):
        self.calls = calls

    def __call__(self) -> bool:
        self.calls -= 1
        return self.calls < 0


def test_the_cache_computes_once_per_generator_space_and_method_and_resumes(g, clip, tmp_path):
    settings = dict(images=2, image_batch=1, **SMALL)
    path, _ = cache_entry(g, clip.space, "gradient", tmp_path, images=2, stats_samples=STATS, max_resolution=8)
    with pytest.raises(Cancelled):
        cached_table(g, clip, "gradient", tmp_path, should_cancel=_CancelAfter(1), **settings)
    assert not path.exists() and partial_path(path).exists()  # nothing half-written under the final name
    calls = []
    table = cached_table(g, clip, "gradient", tmp_path, progress=lambda a, b: calls.append(a), **settings)
    assert calls == [2] and path.is_file() and not partial_path(path).exists()  # resumed at the second image
    assert torch.equal(table.rows, compute_table(g, clip, "gradient", **settings).rows)
    calls.clear()
    again = cached_table(g, clip, "gradient", tmp_path, progress=lambda a, b: calls.append(a), **settings)
    assert calls == [] and torch.equal(again.rows, table.rows)  # read from the cache
    other = tiny_generator(16, seed=1)
    assert table_file(tmp_path, other, clip.space, "gradient") != table_file(tmp_path, g, clip.space, "gradient")
    assert table_file(tmp_path, g, "openai/ViT-B-32", "gradient") != table_file(tmp_path, g, clip.space, "gradient")
    assert table_file(tmp_path, g, clip.space, "finite") != table_file(tmp_path, g, clip.space, "gradient")
    assert table.generator in path.name
    assert torch.equal(find_cached_table(g, clip.space, tmp_path).rows, table.rows)  # found without its settings
    assert find_cached_table(other, clip.space, tmp_path) is None and find_cached_table(g, "x/y", tmp_path) is None
    path.write_bytes(path.read_bytes()[:100])  # damaged on disk: computed again, never trusted
    assert torch.equal(cached_table(g, clip, "gradient", tmp_path, **settings).rows, table.rows)
    assert path.stat().st_size > 100


def test_the_cached_table_found_is_the_one_with_the_most_images(g, clip, gradient, tmp_path):
    from dataclasses import replace

    from soundclip_core.directions.files import save_table, style_layout_json

    for method, images in [("finite", 1), ("finite", 30), ("gradient", 9)]:  # by name: finite.1img, finite.30img
        table = replace(gradient, method=method, images=images, rows=gradient.rows * images)
        save_table(table, table_file(tmp_path, g, clip.space, method, images), style_layout_json(g))
    found = find_cached_table(g, clip.space, tmp_path)
    assert found.images == 30 and found.method == "finite" and torch.equal(found.rows, gradient.rows * 30)


def test_batches_shrink_to_the_free_memory(monkeypatch):
    from soundclip_core.directions import compute

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10_000, 20_000))
    cuda = torch.device("cuda")
    assert compute.fit_batch(32, lambda: 1_000, cuda) == 8  # 80% of 10 kB at 1 kB each
    assert compute.fit_batch(4, lambda: 1_000, cuda) == 4
    assert compute.fit_batch(32, lambda: 50_000, cuda) == 1  # never below one
    monkeypatch.setattr(compute, "free_memory", lambda device: 5_000 if device.type == "cpu" else 0)
    assert compute.fit_batch(32, lambda: 1_000, torch.device("cpu")) == 4  # the host's available memory


def test_replicated_jacobian_passes_equal_one_dimension_at_a_time(g, clip):
    """Several CLIP dimensions per backward pass (a batch replicated), 64 = 12 x 5 + 4: the same Jacobian."""
    layout = table_layout(g, 8)
    styles = sample_styles(g, 2)
    features, one = image_jacobian(g, clip, styles, layout, replicas=1)
    features5, five = image_jacobian(g, clip, styles, layout, replicas=5)
    assert torch.allclose(features5, features, atol=1e-5) and torch.allclose(five, one, atol=1e-5)


def test_styles_files_round_trip_and_decode_as_the_latent(g, tmp_path):
    ws = torch.cat([g.ws_from_seed(1), g.ws_from_seed(2)])
    styles = g.styles(ws)
    save_styles(tmp_path / "s.safetensors", styles, {"alpha": 3.0})
    loaded, meta = read_styles(tmp_path / "s.safetensors", g)
    assert meta == {"alpha": 3.0} and all(torch.equal(a, b) for a, b in zip(loaded, styles, strict=True))
    with torch.no_grad():
        assert torch.equal(decode_styles(g, loaded, batch_size=2), g.synthesis(ws))
        assert torch.allclose(decode_styles(g, loaded, batch_size=1), g.synthesis(ws), atol=1e-5)  # batch rounding
    with pytest.raises(LatentShapeError, match="style"):
        read_styles(tmp_path / "s.safetensors", tiny_sg3())
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="styles file"):
        read_styles(tmp_path / "bad.safetensors")

