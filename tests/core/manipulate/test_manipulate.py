"""The sound-guided optimisation: it works, masks hold, mixing is exact, it runs as ComfyUI runs it."""

from __future__ import annotations

import math

import pytest
import torch
from devices import TEST_DEVICE
from host_reads import HostReads
from stylegan_formats import tiny_generator

from soundclip_core import runtime
from soundclip_core.arcface import build_arcface
from soundclip_core.clip import tiny_clip
from soundclip_core.embedding import Embedding
from soundclip_core.errors import Cancelled, EmbeddingSpaceError, SoundClipError
from soundclip_core.generators import load_generator, save_generator
from soundclip_core.latents import load_latent, save_latent
from soundclip_core.manipulate import default_mix_layers, learning_rate, optimize, parse_layers, style_mix


@pytest.fixture(scope="module")
def models():
    generator, clip = tiny_generator(resolution=16).to(TEST_DEVICE), tiny_clip(device=TEST_DEVICE)
    target = clip.encode_text(["a bright red sunset over the sea"])
    return generator, clip, target


def test_loss_goes_down_and_similarity_goes_up(models):
    generator, clip, target = models
    result = optimize(generator, clip, target, generator.ws_from_seed(1), steps=25, lr=0.05, preset="landscape")
    assert result.loss_history.shape == (25,) and result.w.shape == (1, generator.num_ws, generator.w_dim)
    assert result.loss_history[-5:].mean() < result.loss_history[:3].mean()
    assert float(result.final_similarity) > float(result.source_similarity) + 0.01
    assert result.mask.shape == (generator.num_ws,) and math.isclose(float(result.mask.sum()), generator.num_ws,
                                                                      rel_tol=1e-5)
    assert "steps" in result.report()


def test_frozen_layers_are_bit_identical(models):
    generator, clip, target = models
    w0 = generator.ws_from_seed(2)
    result = optimize(generator, clip, target, w0, steps=6, mask="freeze", layers="1-2")
    moved = (result.w != w0).any(dim=-1)[0]
    assert moved.tolist() == [False, True, True, False, False, False]
    assert torch.equal(result.w[:, [0, 3, 4, 5]], w0[:, [0, 3, 4, 5]])


def test_large_lam_sim_keeps_w_near_the_source(models):
    generator, clip, target = models
    w0 = generator.ws_from_seed(3)
    free = optimize(generator, clip, target, w0, steps=10, lam_sim=0.0, preset="custom")
    tied = optimize(generator, clip, target, w0, steps=10, lam_sim=50.0, preset="custom")
    assert (tied.w - w0).norm() < 0.5 * (free.w - w0).norm()


def test_fixed_mask_weights_and_loss_formula(models):
    generator, clip, target = models
    w0 = generator.ws_from_seed(4)
    one_step = optimize(generator, clip, target, w0, steps=1, preset="custom", lam_sim=0.5, mask="fixed",
                        mask_weights=[1, 0, 0, 0, 0, 2])
    # at step 0 the learning rate is 0, so w == w0 and the loss is exactly the cosine distance
    features = clip.image_features(clip.prepare_images(generator.synthesis(w0)))
    expected = 1 - torch.nn.functional.cosine_similarity(features, target.vectors)
    assert torch.allclose(one_step.loss_history[0], expected.mean().cpu(), atol=1e-5)
    assert one_step.mask.tolist() == [1, 0, 0, 0, 0, 2]
    with pytest.raises(SoundClipError, match="6 finite weights"):
        optimize(generator, clip, target, w0, steps=1, mask="fixed", mask_weights=[1, 2])


def test_official_clip_input_scales_the_cosine(models):
    _, _, target = models
    clip = tiny_clip(device=TEST_DEVICE, image_size=224)  # the official path always feeds CLIP 224 px
    g32 = tiny_generator(resolution=32).to(TEST_DEVICE)
    result = optimize(g32, clip, target, g32.ws_from_seed(0), steps=1, preset="custom", clip_input="official")
    features = clip.image_features(clip.prepare_images(g32.synthesis(g32.ws_from_seed(0)), mode="official"))
    cosine = torch.nn.functional.cosine_similarity(features, target.vectors)
    assert torch.allclose(result.loss_history[0], (1 - cosine * math.exp(0.07)).mean().cpu(), atol=1e-5)


def test_same_seed_same_result_and_batches(models):
    generator, clip, target = models
    w0 = generator.ws_from_seed(5, batch_size=2)
    a = optimize(generator, clip, target, w0, steps=4)
    b = optimize(generator, clip, target, w0, steps=4)
    assert torch.equal(a.w, b.w) and a.w.shape[0] == 2
    two_targets = Embedding(torch.cat([target.vectors, clip.encode_text(["green grass"]).vectors]), target.space)
    c = optimize(generator, clip, two_targets, generator.ws_from_seed(5), steps=3)
    assert c.w.shape[0] == 2 and c.final_similarity.shape == (2,)
    with pytest.raises(SoundClipError, match="source latents"):
        optimize(generator, clip, Embedding(torch.randn(3, clip.dim), clip.space), w0, steps=1)


def test_cancel_stops_within_one_step(models):
    generator, clip, target = models
    seen = []
    with pytest.raises(Cancelled, match="step 3"):
        optimize(generator, clip, target, generator.ws_from_seed(0), steps=50,
                 callback=lambda step, total, preview, info: seen.append(step), should_cancel=lambda: len(seen) >= 3)
    assert seen == [1, 2, 3]


def test_previews_and_progress(models):
    generator, clip, target = models
    previews = []
    optimize(generator, clip, target, generator.ws_from_seed(0), steps=5, preview_every=2,
             callback=lambda step, total, preview, info: previews.append((step, total, preview is not None)))
    assert previews == [(1, 5, False), (2, 5, True), (3, 5, False), (4, 5, True), (5, 5, True)]


def test_runs_under_inference_mode_like_comfyui(models, tmp_path):
    _, clip, target = models
    save_generator(tiny_generator(resolution=16), tmp_path / "g.safetensors")
    with torch.inference_mode():
        generator = load_generator(tmp_path / "g.safetensors", TEST_DEVICE)  # weights created as inference tensors
        w0 = generator.ws_from_seed(1)
        result = optimize(generator, clip, target, w0, steps=4, lr=0.05)
    assert result.loss_history[-1] < result.loss_history[0]
    assert not result.w.is_inference()


def test_space_mismatch_and_missing_identity_are_refused(models):
    generator, clip, _ = models
    wrong = Embedding(torch.randn(1, clip.dim), "openai/RN50", "audioclip: x.wav")
    with pytest.raises(EmbeddingSpaceError, match="openai/RN50"):
        optimize(generator, clip, wrong, generator.ws_from_seed(0), steps=1)
    with pytest.raises(SoundClipError, match="ArcFace"):
        optimize(generator, clip, clip.encode_text(["x"]), generator.ws_from_seed(0), steps=1, preset="ffhq")


def test_identity_loss_takes_part(models):
    generator, clip, target = models
    w0 = generator.ws_from_seed(6)
    arcface = build_arcface(device=TEST_DEVICE)
    result = optimize(generator, clip, target, w0, steps=2, preset="ffhq", identity=arcface)
    assert torch.isfinite(result.loss_history).all()
    # at step 0 the identity term is 0 (image == source) so the loss equals the cosine distance
    plain = optimize(generator, clip, target, w0, steps=1, preset="custom")
    assert torch.allclose(result.loss_history[0], plain.loss_history[0], atol=1e-4)


def test_fp16_loss_scale_gives_back_the_fp32_gradient_on_the_device():
    """runtime.backward under fp16: scaled by FP16_LOSS_SCALE, unscaled in place, non-finite entries zeroed,
    nothing read back to the host (fp16 itself needs a GPU: the helper is tested with fp32 numbers here)."""
    x, weights = torch.randn(5, requires_grad=True), torch.randn(5)
    (x * weights).square().sum().backward()
    expected, x.grad = x.grad.clone(), None
    y = torch.zeros(4, requires_grad=True)
    with HostReads() as reads:
        runtime.backward((x * weights).square().sum(), "fp16", [x])
        runtime.backward((y * torch.tensor([1.5, float("inf"), float("-inf"), float("nan")])).sum(), "fp16", [y])
    assert reads.count == 0, reads.ops
    assert torch.equal(x.grad, expected)  # the scale is a power of two: exact both ways
    assert y.grad.tolist() == [1.5, 0.0, 0.0, 0.0]


def test_fp16_loss_scale_keeps_gradients_below_fp16s_range():
    """A gradient of 2^-26 (below fp16's smallest subnormal, 2^-24) computed in fp16 vanishes unscaled;
    scaled by 2^12 it survives and comes back exact."""
    x = torch.ones(1, requires_grad=True)

    def loss() -> torch.Tensor:
        return (x.half() * 2**-14 * 2**-12).float().sum()

    loss().backward()
    assert x.grad.tolist() == [0.0]
    x.grad = None
    runtime.backward(loss(), "fp16", [x])
    assert x.grad.tolist() == [2**-26]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_loss_scaling_leaves_fp32_and_bf16_bit_identical(models, monkeypatch, precision):
    """Only fp16 is scaled: fp32 and bf16 optimise exactly as a plain loss.backward() did (chunked too)."""
    generator, clip, target = models
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: True)
    w0 = generator.ws_from_seed(7, batch_size=2)
    runs = []
    for plain in (False, True):
        if plain:
            monkeypatch.setattr(runtime, "backward", lambda loss, precision, params=(): loss.backward())
        for mask in ("learned", "official"):
            runs.append(optimize(generator, clip, target, w0, steps=3, lr=0.05, mask=mask, chunk_size=1,
                                 precision=precision))
    for scaled, plain in zip(runs[:2], runs[2:], strict=True):
        assert torch.equal(scaled.w, plain.w) and torch.equal(scaled.mask, plain.mask)
        assert torch.equal(scaled.loss_history, plain.loss_history)
    assert not torch.equal(runs[0].w, w0)


def test_learning_rate_schedule_matches_styleclip():
    def reference(t, lr0, rampdown=0.25, rampup=0.05):
        ramp = min(1, (1 - t) / rampdown)
        return lr0 * (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1, t / rampup)

    for t in [0.0, 0.01, 0.05, 0.3, 0.8, 0.99]:
        assert math.isclose(learning_rate(t, 0.1), reference(t, 0.1))


def test_layer_specs_and_style_mix():
    assert parse_layers("0-3, 10,12-13", 14) == [0, 1, 2, 3, 10, 12, 13]
    for bad in ("0-14", "x", "5-2", ""):
        with pytest.raises(SoundClipError):
            parse_layers(bad, 14)
    assert default_mix_layers(18) == "0-8" and default_mix_layers(14) == "0-6"
    a, b = torch.randn(2, 14, 8), torch.randn(1, 14, 8)
    mixed = style_mix(a, b, "0-6")
    assert torch.equal(mixed[:, :7], a[:, :7]) and torch.equal(mixed[:, 7:], b.expand(2, -1, -1)[:, 7:])
    weights = torch.linspace(0, 1, 14)
    blended = style_mix(a, b, weights)
    assert torch.allclose(blended, weights[None, :, None] * a + (1 - weights[None, :, None]) * b)
    with pytest.raises(SoundClipError):
        style_mix(a, torch.randn(1, 18, 8), "0-3")


def test_latent_files_round_trip_and_refuse_bad_files(tmp_path):
    ws = torch.randn(2, 6, 32)
    save_latent(tmp_path / "w.safetensors", ws, {"generator": "g.pt"})
    loaded, meta = load_latent(tmp_path / "w.safetensors")
    assert torch.equal(loaded, ws) and meta == {"generator": "g.pt"}
    (tmp_path / "bad.safetensors").write_text("hello")
    with pytest.raises(SoundClipError, match="bad.safetensors"):
        load_latent(tmp_path / "bad.safetensors")
    save_latent(tmp_path / "nan.safetensors", torch.full((1, 6, 32), float("nan")))
    with pytest.raises(SoundClipError, match="finite"):
        load_latent(tmp_path / "nan.safetensors")
