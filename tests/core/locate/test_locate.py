"""Where is the sound: MaskCLIP's dense maps against the formula, on CLIPs whose answer is known."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_models import tiny_rn_clip

from soundclip_core.clip import ClipModel, tiny_clip
from soundclip_core.embedding import Embedding
from soundclip_core.errors import EmbeddingSpaceError, SoundClipError
from soundclip_core.locate import dense_features, locate, overlay, tile_origins


def _vit_formula(visual, pixels: torch.Tensor) -> torch.Tensor:
    """MaskCLIP's ViT readout written out step by step (round3 D1): blocks but the last as they are; the last
    with v = W_v LN1(x) + b_v, x' = x + out_proj(v), x'' = x' + MLP(LN2(x')); ln_post; drop CLS; x proj."""
    x = visual.conv1(pixels)
    b, c, h, w = x.shape
    x = torch.cat([visual.class_embedding.expand(b, 1, c), x.flatten(2).transpose(1, 2)], 1)
    x = visual.ln_pre(x + visual.positional_embedding)
    for block in visual.transformer.resblocks[:-1]:
        x = block(x)
    last = visual.transformer.resblocks[-1]
    v = last.ln_1(x) @ last.attn.in_proj_weight[2 * c:].t() + last.attn.in_proj_bias[2 * c:]
    x = x + last.attn.out_proj(v)
    x = x + last.mlp(last.ln_2(x))
    return (visual.ln_post(x[:, 1:]) @ visual.proj).transpose(1, 2).reshape(b, -1, h, w)


def test_vit_dense_features_are_maskclips_formula():
    clip = tiny_clip(seed=3, device="cpu")
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        dense = dense_features(clip.model.visual, pixels)
        expected = _vit_formula(clip.model.visual, pixels)
    assert dense.shape == (2, 64, 4, 4)
    torch.testing.assert_close(dense, expected, rtol=1e-5, atol=1e-5)


def test_resnet_dense_features_average_to_the_pooled_embedding_when_attention_is_uniform():
    """With attnpool's q, k and positional embedding zeroed, its attention is uniform and the pooled
    embedding is c_proj(v_proj(mean X)): exactly the mean of the dense map (both maps are linear in X)."""
    model = tiny_rn_clip(seed=1).eval()
    pool = model.visual.attnpool
    with torch.no_grad():
        for layer in (pool.q_proj, pool.k_proj):
            layer.weight.zero_()
            layer.bias.zero_()
        pool.positional_embedding.zero_()
        pixels = torch.randn(2, 3, 64, 64)
        dense = dense_features(model.visual, pixels)
        pooled = model.encode_image(pixels)
    assert dense.shape == (2, 1024, 2, 2)
    torch.testing.assert_close(dense.mean((2, 3)), pooled, rtol=1e-4, atol=1e-5)


def _known_vit() -> ClipModel:
    """A tiny ViT whose patch features are built: the last block adds nothing (out_proj and MLP zeroed), no
    positional embedding, and the patch embedding sends a red patch along e0 and a blue one along e1."""
    clip = tiny_clip(seed=0, device="cpu")
    visual = clip.model.visual
    with torch.no_grad():
        visual.positional_embedding.zero_()
        visual.class_embedding.zero_()
        block = visual.transformer.resblocks[-1]
        for p in (*block.attn.out_proj.parameters(), *block.mlp.c_proj.parameters()):
            p.zero_()
        visual.conv1.weight.zero_()
        visual.conv1.weight[0, 0] = 1.0  # mean of red over the patch -> channel 0
        visual.conv1.weight[1, 2] = 1.0  # blue -> channel 1
        visual.proj.copy_(torch.eye(64))
    return ClipModel(clip.model, "test/known", "known")


def _red_square_on_blue(height: int, width: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    image = torch.full((1, 3, height, width), -1.0)
    image[:, 2] = 1.0
    top, left, bottom, right = box
    image[:, 2, top:bottom, left:right] = -1.0
    image[:, 0, top:bottom, left:right] = 1.0
    return image


def test_the_matching_region_is_found_and_the_heatmap_has_the_pictures_size():
    clip = _known_vit()
    red = Embedding(torch.eye(64)[:1], "test/known", "red")
    image = _red_square_on_blue(32, 32, (0, 0, 16, 16))  # the top-left 2x2 patches of the 4x4 grid
    found = locate(image, red, clip, threshold=0.5)
    assert found.heatmap.shape == found.mask.shape == found.cosine.shape == (1, 32, 32)
    assert found.cosine[0, :12, :12].min() > found.cosine[0, 20:, :].max() + 0.5
    quadrant = torch.zeros(32, 32)
    quadrant[:16, :16] = 1
    # the cell map is upsampled bilinearly: only the pixels on the quadrant's edge (a rounded corner) may differ
    assert (found.mask[0] == quadrant).float().mean() > 0.97
    assert found.mask[0, :12, :12].min() == 1 and found.mask[0, 18:].max() == found.mask[0, :, 18:].max() == 0
    blue = Embedding(torch.eye(64)[1:2], "test/known", "blue")
    assert (locate(image, blue, clip).mask[0] == 1 - quadrant).float().mean() > 0.97


def test_cosine_map_of_one_tile_is_the_cell_cosines_upsampled():
    clip = tiny_clip(seed=5, device="cpu")
    target = Embedding(torch.randn(1, 64), clip.space, "random")
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    found = locate(image, target, clip)
    with torch.no_grad():
        cells = F.cosine_similarity(dense_features(clip.model.visual, clip.prepare_images(image)),
                                    target.vectors[:, :, None, None], dim=1)
    expected = F.interpolate(cells[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(found.cosine, expected, rtol=1e-5, atol=1e-6)
    low, high = expected.min(), expected.max()
    torch.testing.assert_close(found.heatmap, (expected - low) / (high - low))


def test_large_and_non_square_pictures_are_tiled_and_the_region_still_found():
    clip = _known_vit()
    red = Embedding(torch.eye(64)[:1], "test/known", "red")
    image = _red_square_on_blue(48, 96, (8, 60, 40, 92))  # a wide picture, red on its right side
    found = locate(image, red, clip, detail=2)  # short side 64 px: 2 x 4 tiles of 32 px
    assert tile_origins(64, 32) == [0, 32] and tile_origins(128, 32) == [0, 32, 64, 96]
    assert tile_origins(32, 32) == [0] and tile_origins(57, 32) == [0, 25]  # overlapping where they must
    assert found.heatmap.shape == (1, 48, 96)
    assert found.mask[0, 12:36, 64:88].min() == 1 and found.mask[0, :, :50].max() == 0


def test_batches_pair_pictures_with_embeddings_and_resnets_work():
    model = tiny_rn_clip(seed=2).eval().requires_grad_(False)
    clip = ClipModel(model, "openai/RN50", "tiny rn")
    sounds = Embedding(torch.randn(3, 1024), "openai/RN50", "three sounds")
    found = locate(torch.rand(1, 3, 80, 70) * 2 - 1, sounds, clip)
    assert found.mask.shape == (3, 80, 70)
    assert found.heatmap.amin((1, 2)).tolist() == [0, 0, 0] and found.heatmap.amax((1, 2)).tolist() == [1, 1, 1]
    assert not torch.equal(found.cosine[0], found.cosine[1])


def test_bad_input_gets_one_clear_error():
    clip = tiny_clip(seed=0, device="cpu")
    image = torch.zeros(1, 3, 32, 32)
    with pytest.raises(EmbeddingSpaceError, match="different CLIP spaces"):
        locate(image, Embedding(torch.ones(1, 64), "openai/RN50", "audioclip"), clip)
    target = Embedding(torch.ones(1, 64), clip.space, "t")
    with pytest.raises(SoundClipError, match="pair up"):
        locate(torch.zeros(2, 3, 32, 32), Embedding(torch.ones(3, 64), clip.space, "t"), clip)
    with pytest.raises(SoundClipError, match="threshold"):
        locate(image, target, clip, threshold=2)
    with pytest.raises(SoundClipError, match=r"\[B, 3, H, W\]"):
        locate(torch.zeros(32, 32), target, clip)


def test_overlay_blends_the_coloured_heatmap():
    image = torch.zeros(1, 3, 4, 4)
    heat = torch.zeros(1, 4, 4)
    heat[0, 0, 0] = 1
    out = overlay(image, heat, opacity=1.0)
    assert out.shape == (1, 3, 4, 4)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.9, 0.1, 0.05]) * 2 - 1)
    torch.testing.assert_close(out[0, :, 1, 1], torch.tensor([0.05, 0.05, 0.45]) * 2 - 1)
    torch.testing.assert_close(overlay(image, heat, opacity=0.0), image)
