"""StyleSpace global directions: statistics, the finite and gradient tables, relevance, edits, table files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from stylegan3_formats import tiny_sg3
from stylegan_formats import tiny_generator

from soundclip_core.clip import tiny_clip
from soundclip_core.directions import (
    MAX_ALPHA,
    AlphaClamped,
    ChannelTable,
    apply_relevance,
    channel_statistics,
    compute_table,
    estimate_direction,
    load_table,
    partial_path,
    relevance,
    table_layout,
    text_direction,
)
from soundclip_core.directions.gradient import image_jacobian
from soundclip_core.directions.sampling import sample_styles
from soundclip_core.embedding import Embedding
from soundclip_core.errors import Cancelled, CheckpointError, EmbeddingSpaceError, SoundClipError

STATS = 400  # mapped samples for the statistics (StyleCLIP: 100000)
SMALL = dict(stats_samples=STATS, max_resolution=8)  # tiny SG2: conv1_4, conv0_8, conv1_8 = 88 channels


@pytest.fixture(scope="module")
def g():
    return tiny_generator(16)


@pytest.fixture(scope="module")
def clip():
    return tiny_clip()


@pytest.fixture(scope="module")
def finite(g, clip):
    return compute_table(g, clip, "finite", images=3, **SMALL)


def test_channel_statistics_are_numpy_mean_and_std_of_the_mapped_samples(g):
    stats = channel_statistics(g, STATS, batch_size=150)  # several batches: one numpy stream
    styles = sample_styles(g, STATS)
    for layer, s, m, sd in zip(g.style_layers, styles, stats.mean, stats.std, strict=True):
        values = s.double().numpy()
        assert m.shape == sd.shape == (layer.channels,)
        assert np.allclose(m.numpy(), values.mean(0), atol=1e-5) and np.allclose(sd.numpy(), values.std(0), atol=1e-5)
    assert channel_statistics(g, STATS, batch_size=150) is stats  # cached on the generator
    assert [la.is_torgb for la in g.style_layers].count(True) == 3 and len(stats.mean) == len(g.style_layers)


def test_the_statistics_report_progress_and_cancel_from_the_table_and_the_estimate(clip):
    gen = tiny_generator(16, seed=2)  # nothing cached on it yet
    seen = []
    with pytest.raises(Cancelled, match="statistics"):
        channel_statistics(gen, STATS, batch_size=100, progress=lambda a, b: seen.append((a, b)),
                           should_cancel=_CancelAfter(2))
    assert seen == [(100, STATS), (200, STATS)]
    with pytest.raises(Cancelled, match="statistics"):  # before any render of the table
        compute_table(gen, clip, "finite", images=1, should_cancel=lambda: True, **SMALL)
    delta = text_direction(clip.encode_text(["rain"]), clip.encode_text(["a photo"]))
    with pytest.raises(Cancelled, match="statistics"):
        estimate_direction(gen, clip, delta, images=1, should_cancel=lambda: True, **SMALL)
    seen.clear()
    stats = channel_statistics(gen, STATS, batch_size=150, progress=lambda a, b: seen.append((a, b)))
    assert seen == [(150, STATS), (300, STATS), (STATS, STATS)]  # nothing kept from the cancelled runs
    assert channel_statistics(gen, STATS) is stats


def _getfs(all_f: np.ndarray) -> np.ndarray:
    """StyleCLIP's GetFs ([SC] global_torch/SingleChannel.py:36-43) on features [channels, images, 2, D]."""
    tmp = np.linalg.norm(all_f, axis=-1)
    all_f = all_f / tmp[:, :, :, None]
    fs = all_f[:, :, 1, :] - all_f[:, :, 0, :]
    tmp = np.linalg.norm(fs, axis=-1)
    fs1 = fs / tmp[:, :, None]
    fs2 = fs1.mean(axis=1)
    tmp = np.linalg.norm(fs2, axis=-1)
    return fs2 / tmp[:, None]


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3-t"])
def test_finite_table_equals_getfs_on_the_same_images(arch, g, clip, finite):
    """Each (channel, image) rendered alone at mean -+ 5 sigma, CLIP-encoded: GetFs of those features = the rows."""
    if arch == "stylegan2":
        gen, table, images = g, finite, 3
    else:
        gen, images = tiny_sg3(), 2
        table = compute_table(gen, clip, "finite", images=images, stats_samples=STATS, max_resolution=24,
                              batch_size=10)
    stats, layout = table.stats, table.layout
    assert table.layout == table_layout(gen, 8 if arch == "stylegan2" else 24)
    assert not any(gen.style_layers[i].is_torgb for i in layout.layers)
    styles = sample_styles(gen, images)
    layer_of, channel_of = layout.locate()
    all_f = np.zeros((layout.total, images, 2, clip.dim))
    with torch.no_grad():
        for row, (li, c) in enumerate(zip(layer_of.tolist(), channel_of.tolist(), strict=True)):
            for i in range(images):
                for k, sign in enumerate((-1, 1)):
                    s = [x[i:i + 1].clone() for x in styles]
                    s[li][0, c] = stats.mean[li][c] + sign * 5 * stats.std[li][c]
                    image = gen.synthesis_from_styles(s)
                    all_f[row, i, k] = clip.image_features(clip.prepare_images(image))[0].numpy()
    expected = _getfs(all_f)
    assert table.rows.shape == (layout.total, clip.dim) and table.method == "finite"
    # batched renders (the table) vs batch-1 renders (here) differ in float rounding, which normalising the
    # difference of two close images amplifies: SG2 about 1e-4, SG3 about 5e-4 of a unit row
    assert np.abs(table.rows.numpy() - expected).max() < (3e-4 if arch == "stylegan2" else 1.5e-3)


def test_gradient_jacobian_equals_central_differences(g, clip):
    layout = table_layout(g, 8)
    styles = sample_styles(g, 2)
    features, jacobian = image_jacobian(g, clip, styles, layout)
    layer_of, channel_of = layout.locate()
    for row in (0, 40, 87):
        li, c = int(layer_of[row]), int(channel_of[row])
        step = 1e-2
        plus, minus = [s.clone() for s in styles], [s.clone() for s in styles]
        plus[li][:, c] += step
        minus[li][:, c] -= step
        with torch.no_grad():
            f = [clip.image_features(clip.prepare_images(g.synthesis_from_styles(s))) for s in (plus, minus)]
        numeric = (f[0] - f[1]) / (2 * step)
        assert (jacobian[:, :, row] - numeric).norm() < 2e-2 * numeric.norm()


def test_gradient_table_agrees_with_the_finite_table(g, clip, finite):
    gradient = compute_table(g, clip, "gradient", images=3, **SMALL)
    cosines = (gradient.rows * finite.rows).sum(1)
    assert torch.allclose(gradient.rows.norm(dim=1), torch.ones(finite.layout.total), atol=1e-5)
    print(f"gradient vs finite rows: mean cosine {cosines.mean():.3f}, median {cosines.median():.3f}")
    assert cosines.mean() > 0.8 and cosines.median() > 0.85
    # the edits they produce: relevance vectors (beta 0) and style shifts for one text direction
    dt = text_direction(clip.encode_text(["rain on a window"]), clip.encode_text(["a photo"]))
    r_f, r_g = relevance(finite, dt, 0.0), relevance(gradient, dt, 0.0)
    styles = g.styles(g.ws_from_seed(7))
    shifts = [torch.cat([(e[i] - styles[i]).flatten() for i in finite.layout.layers])
              for e in (apply_relevance(g, styles, t, r, 3.0) for t, r in ((finite, r_f), (gradient, r_g)))]
    relevance_cos, shift_cos = F.cosine_similarity(r_f, r_g).item(), F.cosine_similarity(*shifts, dim=0).item()
    print(f"edits: relevance cosine {relevance_cos:.3f}, style shift cosine {shift_cos:.3f}")
    assert relevance_cos > 0.8 and shift_cos > 0.8


def test_relevance_is_getboundary(finite):
    torch.manual_seed(0)
    dt = F.normalize(torch.randn(1, finite.clip_dim), dim=-1)
    for beta in (0.0, 0.1, 0.2):
        r = relevance(finite, Embedding(dt, finite.space), beta)
        # [SC] StyleCLIP.py:165-179: tmp = fs3 . dt; tmp[|tmp| < beta] = 0; tmp / max|tmp|
        tmp = np.dot(finite.rows.numpy(), dt[0].numpy())
        select = np.abs(tmp) < beta
        tmp[select] = 0
        expected = tmp / np.abs(tmp).max()
        assert np.allclose(r[0].numpy(), expected, atol=1e-6) and (r[0] == 0).sum() == select.sum()


def test_text_direction_is_the_normalised_difference(clip):
    target, neutral = clip.encode_text(["rain on a window"]), clip.encode_text(["a photo"])
    dt = text_direction(target, neutral)
    assert torch.allclose(dt.vectors, F.normalize(target.vectors - neutral.vectors, dim=-1))
    several = clip.encode_text(["a photo", "a quiet room"])
    mean = F.normalize(several.vectors.mean(0, keepdim=True), dim=-1)
    assert torch.allclose(text_direction(target, several).vectors, F.normalize(target.vectors - mean, dim=-1))
    with pytest.raises(EmbeddingSpaceError, match="spaces"):
        text_direction(target, Embedding(neutral.vectors, "openai/ViT-B-32"))
    with pytest.raises(EmbeddingSpaceError, match="same embedding"):
        text_direction(target, target)


def test_beta_above_every_relevance_says_no_channel_moves(finite):
    dt = Embedding(finite.rows[:1], finite.space)
    with pytest.raises(SoundClipError, match="no channel would move") as error:
        relevance(finite, dt, beta=1.01)
    assert "lower beta" in str(error.value)
    with pytest.raises(EmbeddingSpaceError):
        relevance(finite, Embedding(finite.rows[:1], "openai/ViT-B-32"), 0.1)


def test_the_edit_is_s_plus_alpha_r_sigma_and_alpha_zero_is_the_identity(g, finite):
    ws = g.ws_from_seed(3)
    styles = g.styles(ws)
    r = relevance(finite, Embedding(finite.rows[5:6] - finite.rows[60:61], finite.space), 0.1)
    with torch.no_grad():
        assert torch.equal(g.synthesis_from_styles(apply_relevance(g, styles, finite, r, 0.0)), g.synthesis(ws))
    edited = apply_relevance(g, styles, finite, r, 4.0)
    touched = set()
    for li, piece in zip(finite.layout.layers, finite.layout.split(r[0]), strict=True):
        assert torch.allclose(edited[li], styles[li] + 4.0 * piece * finite.stats.std[li], atol=1e-6)
        touched.add(li)
    for li in set(range(len(styles))) - touched:  # ToRGB and the layers above the table's resolution
        assert edited[li] is styles[li]
    # a W+ layer range restricts the edit to the style layers that read those entries
    coarse = apply_relevance(g, styles, finite, r, 4.0, layers="0")
    assert not torch.equal(coarse[0], styles[0]) and all(coarse[i] is styles[i] for i in range(1, len(styles)))
    with pytest.warns(AlphaClamped, match="clamped to 100"):  # an absurd alpha: clamped to MAX_ALPHA, with a warning
        clamped = apply_relevance(g, styles, finite, r, 1e4)
    assert all(torch.equal(a, b) for a, b in zip(clamped, apply_relevance(g, styles, finite, r, MAX_ALPHA),
                                                  strict=True))
    with pytest.raises(SoundClipError, match="NaN"):
        apply_relevance(g, styles, finite, r, float("nan"))
    with pytest.raises(SoundClipError, match="layer range"):
        apply_relevance(g, styles, finite, r, 1.0, layers="0-40")


def test_table_files_round_trip_and_refuse_what_does_not_fit(g, clip, finite, tmp_path):
    path = tmp_path / "table.safetensors"
    from soundclip_core.directions import save_table
    from soundclip_core.directions.files import style_layout_json

    save_table(finite, path, style_layout_json(g))
    loaded = load_table(path, g, clip.space, finite.layout)
    assert torch.equal(loaded.rows, finite.rows) and loaded.layout == finite.layout and loaded.method == "finite"
    assert all(torch.equal(a, b) for a, b in zip(loaded.stats.std, finite.stats.std, strict=True))
    with pytest.raises(CheckpointError, match="made for generator"):
        load_table(path, tiny_generator(16, seed=1))
    with pytest.raises(CheckpointError, match="CLIP space"):
        load_table(path, g, "openai/ViT-B-32")
    with pytest.raises(CheckpointError, match="covers the layers"):
        load_table(path, g, clip.space, table_layout(g, 16))
    tensors, metadata = load_file(path), None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors["rows"][3, 2] = float("nan")
    save_file(tensors, str(tmp_path / "nan.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError, match="NaN"):
        load_table(tmp_path / "nan.safetensors")
    data = path.read_bytes()
    (tmp_path / "short.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_table(tmp_path / "short.safetensors")
    with pytest.raises(CheckpointError, match="no StyleSpace table"):
        load_table(tmp_path / "missing.safetensors")


class _CancelAfter:
    def __init__(self, calls: int):
        self.calls = calls

    def __call__(self) -> bool:
        self.calls -= 1
        return self.calls < 0


@pytest.mark.parametrize("method", ["finite", "gradient"])
def test_a_resumed_table_equals_an_uninterrupted_one(g, clip, finite, method, tmp_path):
    path = tmp_path / f"{method}.safetensors"
    settings = dict(images=3, channels_per_chunk=32, batch_size=16, image_batch=1, **SMALL)
    # finite: 3 chunks of up to 32 channels x 6 renders (12 batches); gradient: one image per chunk
    with pytest.raises(Cancelled):
        compute_table(g, clip, method, path=path, should_cancel=_CancelAfter(14 if method == "finite" else 1),
                      **settings)
    assert not path.exists() and partial_path(path).exists()
    with pytest.raises(CheckpointError, match="no StyleSpace table"):
        load_table(path)
    with pytest.raises(CheckpointError, match="unfinished"):
        load_table(partial_path(path))
    done = []
    resumed = compute_table(g, clip, method, path=path, progress=lambda a, b: done.append(a), **settings)
    assert done[0] > (32 if method == "finite" else 1)  # it did not start over
    uninterrupted = compute_table(g, clip, method, **settings)
    assert torch.equal(resumed.rows, uninterrupted.rows) and not partial_path(path).exists()
    assert torch.equal(load_table(path, g, clip.space).rows, resumed.rows)
    assert isinstance(resumed, ChannelTable)


@pytest.mark.parametrize("change", [dict(seed=6), dict(truncation_psi=0.5), dict(stats_samples=STATS + 50),
                                    dict(clip_input="crop")])
def test_a_partial_table_made_with_other_settings_is_started_over_never_mixed(g, clip, change, tmp_path, caplog):
    path = tmp_path / "t.safetensors"
    settings = dict(images=2, channels_per_chunk=32, batch_size=16, **SMALL) | dict(seed=5)
    with pytest.raises(Cancelled):
        compute_table(g, clip, "finite", path=path, should_cancel=_CancelAfter(9), **settings)
    assert partial_path(path).exists()
    done = []
    with caplog.at_level("WARNING", logger="soundclip_core.directions.files"):
        resumed = compute_table(g, clip, "finite", path=path, progress=lambda a, b: b == 88 and done.append(a),
                                **(settings | change))  # 88 channels (not the statistics' samples)
    assert done[0] == 32 and "other settings" in caplog.text and next(iter(change)) in caplog.text  # started over
    clean = compute_table(g, clip, "finite", **(settings | change))
    assert torch.equal(resumed.rows, clean.rows)
    loaded = load_table(path, g, clip.space)
    assert loaded.clip_input == change.get("clip_input", "area") and loaded.stats.seed == change.get("seed", 5)


def test_an_instant_edit_raises_the_cosine_to_its_target_more_than_to_an_unrelated_text(clip):
    """Two tiny generators, six images each: the edit toward 'rain on a window' (neutral 'a photo', beta 0.1,
    alpha 3) raises the image's CLIP cosine to the target more than to 'a red sports car'. Random tiny models
    make a weak, noisy CLIP: the margins asserted are what these seeds give (printed), not a quality claim."""
    target, neutral, other = (clip.encode_text([t]) for t in ["rain on a window", "a photo", "a red sports car"])
    gains = []
    for seed in (0, 1):
        gen = tiny_generator(16, seed=seed)
        table = compute_table(gen, clip, "finite", images=4, stats_samples=STATS, max_resolution=None)
        styles = gen.styles(torch.cat([gen.ws_from_seed(100 + i) for i in range(6)]))
        r = relevance(table, text_direction(target, neutral), beta=0.1)
        with torch.no_grad():
            before, after = (F.normalize(clip.image_features(clip.prepare_images(gen.synthesis_from_styles(s))), dim=-1)
                             for s in (styles, apply_relevance(gen, styles, table, r, alpha=3.0)))
        gains.append(torch.stack([(after - before) @ e.vectors[0] for e in (target, other)], 1))
    gains = torch.cat(gains)  # [12 images, (target, unrelated)]
    mean = gains.mean(0)
    print(f"cosine gain: target {mean[0]:+.4f}, unrelated {mean[1]:+.4f}, "
          f"target > unrelated on {int((gains[:, 0] > gains[:, 1]).sum())}/12 images")
    assert mean[0] > 0.012 and mean[0] > mean[1] + 0.004 and (gains[:, 0] > gains[:, 1]).sum() >= 8


def test_stylegan3_tables_and_edits_under_inference_mode(clip):
    """ComfyUI runs nodes under inference mode: both methods still work, and alpha = 0 is the identity on SG3."""
    gen = tiny_sg3()
    with torch.inference_mode():
        settings = dict(images=1, stats_samples=STATS, max_resolution=24)
        tables = {m: compute_table(gen, clip, m, **settings) for m in ("finite", "gradient")}
        ws = gen.ws_from_seed(2)
        r = relevance(tables["gradient"], Embedding(tables["finite"].rows[:1], clip.space), 0.05)
        styles = gen.styles(ws)
        assert torch.equal(gen.synthesis_from_styles(apply_relevance(gen, styles, tables["gradient"], r, 0.0)),
                           gen.synthesis(ws))
        edited = apply_relevance(gen, styles, tables["gradient"], r, 2.0)
        assert edited[0] is styles[0] and edited[-1] is styles[-1]  # the input transform and ToRGB never move
    cosines = (tables["finite"].rows * tables["gradient"].rows).sum(1)
    print(f"SG3, one image: gradient vs finite mean cosine {cosines.mean():.3f}")
    assert cosines.mean() > 0.6


def test_styleclip_fs3_npy_loads_for_its_layout_and_nothing_else(g, tmp_path):
    from soundclip_core.directions import load_styleclip_table

    rows = F.normalize(torch.randn(table_layout(g).total, 512), dim=-1).numpy()
    np.save(tmp_path / "fs3.npy", rows)
    table = load_styleclip_table(tmp_path / "fs3.npy", g, stats_samples=STATS)
    assert table.layout == table_layout(g) and table.space == "openai/ViT-B-32" and np.allclose(table.rows, rows)
    everything = F.normalize(torch.randn(table_layout(g, None).total, 512), dim=-1).numpy()
    np.save(tmp_path / "all.npy", everything)  # StyleCLIP's SplitS takes the all-conv-layer count too
    assert load_styleclip_table(tmp_path / "all.npy", g, stats_samples=STATS).layout == table_layout(g, None)
    np.save(tmp_path / "short.npy", rows[:-1])
    with pytest.raises(CheckpointError, match="rows"):
        load_styleclip_table(tmp_path / "short.npy", g)
    np.save(tmp_path / "scaled.npy", rows * 2)
    with pytest.raises(CheckpointError, match="unit"):
        load_styleclip_table(tmp_path / "scaled.npy", g)
    np.save(tmp_path / "pickle.npy", np.array([{"rows": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="plain .npy"):
        load_styleclip_table(tmp_path / "pickle.npy", g)
