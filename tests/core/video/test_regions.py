"""Each keyframe's edit confined to where its window's sound (or a fixed text) is in the source image (issue 27:
"in video, the mask may follow each window's localisation"), through the one batched keyframe optimisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from devices import TEST_DEVICE
from music_signals import as_audio
from sounds import BandEncoder
from stylegan_formats import tiny_generator

from soundclip_core.clip import tiny_clip
from soundclip_core.errors import SoundClipError
from soundclip_core.manipulate import Region, feathered
from soundclip_core.noise_maps import decode
from soundclip_core.video import cut_windows, encode_windows, sound_keyframes
from soundclip_core.video.regions import LocatedRegion, window_regions

RATE = 22050
SETTINGS = dict(window=1.0, hop=1.0, steps=30, lr=0.1, preset="custom", lam_sim=0.0)


@pytest.fixture(scope="module")
def models():
    generator, clip = tiny_generator(resolution=16).to(TEST_DEVICE), tiny_clip(device=TEST_DEVICE)
    return generator, clip, BandEncoder(clip.space)


def three_sounds():
    """A low tone, noise, a high tone: three 1 s windows that sound nothing alike."""
    t = np.arange(RATE) / RATE
    noise = np.random.default_rng(0).standard_normal(RATE) * 0.2
    return as_audio(np.concatenate([0.3 * np.sin(2 * np.pi * 300 * t), noise, 0.3 * np.sin(2 * np.pi * 3000 * t)]),
                    RATE)


def outside_and_inside(generator, w0, ws, masks) -> tuple[list[float], list[float]]:
    """Per keyframe: the mean absolute pixel change from the source outside and inside its mask."""
    source = decode(generator, w0)
    changes = (decode(generator, ws.to(w0.device)) - source).abs().mean(1).cpu()  # [K, R, R]
    masks = masks.expand_as(changes)
    outside = [float(c[m == 0].mean()) for c, m in zip(changes, masks, strict=True)]
    inside = [float(c[m == 1].mean()) for c, m in zip(changes, masks, strict=True)]
    return outside, inside


def test_each_keyframe_is_held_outside_the_region_its_own_sound_is_located_in(models):
    generator, clip, encoder = models
    audio, w0 = three_sounds(), generator.ws_from_seed(5).to(TEST_DEVICE)
    located = LocatedRegion(by_sound=True, feather=1.0, lam_pixels=50.0)
    free, _ = sound_keyframes(generator, clip, encoder, audio, w0, **SETTINGS)
    held, result = sound_keyframes(generator, clip, encoder, audio, w0, region=located, chunk_size=2, **SETTINGS)
    sounds = encode_windows(encoder, audio, cut_windows(audio, 1.0, 1.0))
    region, masks = window_regions(located, generator, clip, w0, sounds)
    assert masks.shape == (3, 16, 16) and region.allowed.shape == (3, 1, 16, 16)
    assert any(not torch.equal(masks[0], masks[k]) for k in (1, 2))  # each window its own region
    assert 0 < float(masks.mean()) < 1
    free_out, _ = outside_and_inside(generator, w0, free.ws, masks)
    held_out, held_in = outside_and_inside(generator, w0, held.ws, masks)
    print("outside change free", free_out, "held", held_out, "inside held", held_in)
    for k in range(3):
        assert free_out[k] > 0.02  # the free edit changes the whole picture
        assert held_out[k] < 0.3 * free_out[k]  # each keyframe is held outside its own region
        assert held_in[k] > 1.5 * held_out[k]  # and still changes inside it
    assert held.settings["located_region"] == "each window's sound" and result.settings["region"]["lam_pixels"] == 50


def test_a_text_region_is_one_mask_for_every_keyframe(models):
    generator, clip, encoder = models
    audio, w0 = three_sounds(), generator.ws_from_seed(5).to(TEST_DEVICE)
    located = LocatedRegion(text="the sky", feather=1.0, lam_pixels=50.0)
    sounds = encode_windows(encoder, audio, cut_windows(audio, 1.0, 1.0))
    region, masks = window_regions(located, generator, clip, w0, sounds)
    assert masks.shape == (1, 16, 16) and region.allowed.shape == (1, 1, 16, 16)
    held, _ = sound_keyframes(generator, clip, encoder, audio, w0, region=located, **SETTINGS)
    free, _ = sound_keyframes(generator, clip, encoder, audio, w0, **SETTINGS)
    held_out, _ = outside_and_inside(generator, w0, held.ws, masks)
    free_out, _ = outside_and_inside(generator, w0, free.ws, masks)
    assert all(h < 0.3 * f for h, f in zip(held_out, free_out, strict=True))
    assert held.settings["located_region"] == "text: the sky"


def test_bad_region_settings_are_refused_before_any_work(models):
    generator, clip, encoder = models
    audio, w0 = three_sounds(), generator.ws_from_seed(5).to(TEST_DEVICE)

    class NoEncoder:
        space = clip.space

        def encode(self, *args, **kwargs):
            raise AssertionError("a window was encoded before the settings were checked")

    for located, match in [(LocatedRegion(text="sky", by_sound=True), "both a text and each window's sound"),
                           (LocatedRegion(by_sound=True, threshold=1.5), "outside 0..1"),
                           (LocatedRegion(by_sound=True, feather=-1.0), "feather")]:
        with pytest.raises(SoundClipError, match=match):
            sound_keyframes(generator, clip, NoEncoder(), audio, w0, region=located, **SETTINGS)
    assert not LocatedRegion().check()  # no text, not by sound: no region at all


def test_make_video_refuses_a_bad_region_before_any_work(models, tmp_path):
    from soundclip_core.video import make_video

    generator, _, _ = models
    with pytest.raises(SoundClipError, match="outside 0..1"):  # no CLIP, no encoder: refused before they are used
        make_video(tmp_path / "v.mp4", generator, None, None, three_sounds(), generator.ws_from_seed(5), fps=4,
                   steps=2, region=LocatedRegion(by_sound=True, threshold=-0.1))
    assert not (tmp_path / "v.mp4").exists()


def test_a_fixed_region_still_reaches_the_optimisation(models):
    """A manipulate Region (one mask for every keyframe) passes through sound_keyframes to optimize unchanged."""
    generator, clip, encoder = models
    audio, w0 = three_sounds(), generator.ws_from_seed(5).to(TEST_DEVICE)
    left = torch.zeros(16, 16)
    left[:, :8] = 1
    _, result = sound_keyframes(generator, clip, encoder, audio, w0, region=Region(feathered(left, 16), 50.0),
                                **{**SETTINGS, "steps": 2})
    assert result.settings["region"]["lam_pixels"] == 50.0
