"""Edits confined to a region: the mask's loss holds the outside, the composite restores it exactly."""

from __future__ import annotations

import pytest
import torch
from devices import TEST_DEVICE
from stylegan_formats import tiny_generator
from tiny_models import tiny_vgg

from soundclip_core.clip import tiny_clip
from soundclip_core.errors import SoundClipError
from soundclip_core.manipulate import Region, composite, feathered, optimize
from soundclip_core.noise_maps import synthesize
from soundclip_core.picture import fit_mask, fit_square


@pytest.fixture(scope="module")
def models():
    generator, clip = tiny_generator(resolution=16).to(TEST_DEVICE), tiny_clip(device=TEST_DEVICE)
    return generator, clip, clip.encode_text(["rain falling from a grey sky"])


def _left_half(size: int = 16) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[:, : size // 2] = 1
    return mask


def test_feathering_keeps_the_outside_at_zero_and_ramps_inside():
    allowed = feathered(_left_half(), 16, feather=2.0)
    assert allowed.shape == (1, 1, 16, 16)
    assert allowed[..., 8:].max() == 0  # nothing outside the user's mask may change
    assert allowed[0, 0, 8, 0] > 0.99 and 0.3 < allowed[0, 0, 8, 7] < 0.7  # deep inside 1, the edge half
    assert torch.equal(feathered(_left_half(), 16, feather=0), _left_half()[None, None])


def test_a_mask_of_another_size_is_cropped_and_resized_like_the_photo():
    wide = torch.zeros(40, 80)
    wide[:, 20:40] = 1  # the left half of the centred 40 x 40 square
    allowed = feathered(wide, 16, feather=0)  # 40 -> 16 px: the edge at 20 lands at 8, softened by the resize
    assert allowed.shape == (1, 1, 16, 16)
    assert allowed[..., :7].min() > 0.99 and allowed[..., 9:].max() < 0.01


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_a_mask_is_made_square_exactly_as_its_picture(fit):
    """fit_mask crops or pads as fit_square does: a picture that is the mask comes out as the fitted mask."""
    mask = torch.rand(1, 1, 20, 40)
    side = 20 if fit == "crop" else 40  # no resize: the geometry alone, compared exactly
    picture = fit_square(mask.expand(1, 3, 20, 40) * 2 - 1, side, fit)
    torch.testing.assert_close(fit_mask(mask, side, fit), (picture[:, :1] + 1) / 2, atol=1e-6, rtol=0)


def test_a_mask_of_the_photos_left_quarter_stays_its_left_quarter_when_padded():
    quarter = torch.zeros(1, 1, 20, 40)
    quarter[..., :10] = 1  # a wide photo's left quarter: centre-cropped, nothing of it would be left
    padded = fit_mask(quarter, 16, "pad")
    assert padded.shape == (1, 1, 16, 16) and padded[..., :3].min() > 0.99 and padded[..., 5:].max() < 0.01
    assert fit_mask(quarter, 16, "crop").max() == 0


def test_an_all_black_mask_is_refused():
    with pytest.raises(SoundClipError, match="all black") as error:
        feathered(torch.zeros(3, 16, 16).index_fill_(0, torch.tensor([0]), 1.0), 16)
    assert "paint white" in error.value.fix
    with pytest.raises(SoundClipError, match="one channel"):
        feathered(torch.ones(1, 3, 16, 16), 16)


def test_the_loss_is_the_outside_pixels_plus_the_masked_lpips():
    vgg = tiny_vgg(seed=1)
    source, images = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    allowed = feathered(_left_half(), 16, feather=0)
    region = Region(allowed, lam_pixels=3.0, lam_perceptual=2.0, perceptual=vgg)
    loss = region.keep(source, allowed).loss(images)
    outside = (images - source)[..., 8:]
    pixels = outside.square().mean((1, 2, 3))
    perceptual = 0
    for a, b in zip(vgg.taps(images), vgg.taps(source), strict=True):  # LPIPS with each stage's outside weights
        kept = torch.nn.functional.interpolate(1 - allowed, size=a.shape[-2:], mode="area")
        perceptual = perceptual + (kept * (a - b).square()).sum((1, 2, 3))
    torch.testing.assert_close(loss, 3.0 * pixels + 2.0 * perceptual, rtol=1e-5, atol=1e-6)
    pixels_only = Region(allowed, lam_pixels=3.0)  # VGG's receptive fields cross the edge; pixels do not:
    inside_changed = torch.where(allowed.bool(), images, source)  # a change inside the mask costs nothing
    assert torch.equal(pixels_only.keep(source, allowed).loss(inside_changed), torch.zeros(2))


def _outside_and_inside_change(generator, w0, w):
    with torch.no_grad():
        before, after = synthesize(generator, w0), synthesize(generator, w)
    change = (after - before).abs()
    return before, after, float(change[..., 10:].mean()), float(change[..., :6].mean())


def test_a_masked_edit_moves_the_inside_and_holds_the_outside(models):
    generator, clip, target = models
    w0 = generator.ws_from_seed(5).to(TEST_DEVICE)
    settings = dict(steps=30, lr=0.1, preset="custom", lam_sim=0.0)
    free = optimize(generator, clip, target, w0, **settings)
    allowed = feathered(_left_half(), 16, feather=1.0)
    masked = optimize(generator, clip, target, w0, region=Region(allowed, lam_pixels=50.0), **settings)
    _, _, free_outside, free_inside = _outside_and_inside_change(generator, w0, free.w)
    before, after, outside, inside = _outside_and_inside_change(generator, w0, masked.w)
    assert masked.settings["region"] == {"lam_pixels": 50.0, "perceptual": False, "lam_perceptual": 0.0}
    assert free_outside > 0.05  # the unmasked edit changes the whole picture
    assert outside < 0.25 * free_outside  # the masked one holds the outside
    assert inside > 2 * outside  # and still changes the inside
    final = composite(after, before, allowed.to(after.device))
    assert torch.equal(final[..., 8:], before[..., 8:])  # composited: the outside is exactly the source
    assert float((final - before)[..., :6].abs().mean()) > 0.5 * inside


def test_one_mask_serves_a_batch_and_chunks_give_the_same_edit(models):
    generator, clip, target = models
    w0 = generator.ws_from_seed(6).to(TEST_DEVICE)
    targets = clip.encode_text(["rain", "snow", "fire"])
    region = Region(feathered(_left_half(), 16))
    whole = optimize(generator, clip, targets, w0, steps=4, region=region)
    chunked = optimize(generator, clip, targets, w0, steps=4, region=region, chunk_size=2)
    assert whole.w.shape[0] == 3
    torch.testing.assert_close(whole.w, chunked.w, rtol=1e-4, atol=1e-5)
    with pytest.raises(SoundClipError, match="2 masks for an edit of 3 rows"):
        optimize(generator, clip, targets, w0, steps=1, region=Region(feathered(torch.ones(2, 16, 16), 16)))
