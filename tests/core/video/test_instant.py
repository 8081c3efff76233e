"""Instant-mode video: per-frame windows, smoothed embeddings, StyleSpace edits per frame, mp4 and IMAGE outputs."""

from __future__ import annotations

import math

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sounds import RATE, BandEncoder, distinct_sounds, song, tone
from stylegan_formats import tiny_generator

from soundclip_core.audio import Audio
from soundclip_core.clip import tiny_clip
from soundclip_core.directions import compute_table
from soundclip_core.embedding import Embedding
from soundclip_core.errors import Cancelled, EmbeddingSpaceError, SoundClipError
from soundclip_core.image import to_comfy_image
from soundclip_core.noise_maps import decode
from soundclip_core.video import (
    InstantSettings,
    Keyframes,
    encode_frame_windows,
    frame_count,
    frame_windows,
    hear_frames,
    instant_images,
    make_instant_video,
    render_images,
    render_instant_images,
    smooth_embeddings,
)
from soundclip_core.video.frames import SYNTHESIS_CHUNK
from soundclip_core.video.instant_sound import gaussian_weights

STATS = 400  # mapped samples for the channel statistics (StyleCLIP: 100000)


class Bands(BandEncoder):
    """The band-energy stand-in encoder, batched as the real encoders are (a list of sounds -> one row each);
    counts its calls."""

    def __init__(self, space: str):
        super().__init__(space)
        self.calls = 0

    def encode(self, audio, **_):
        self.calls += 1
        clips = audio if isinstance(audio, list) else [audio]
        return Embedding(torch.cat([super(Bands, self).encode(c).vectors for c in clips]), self.space)


@pytest.fixture(scope="module")
def g():
    return tiny_generator(16)


@pytest.fixture(scope="module")
def clip():
    return tiny_clip()


@pytest.fixture(scope="module")
def table(g, clip):
    return compute_table(g, clip, "finite", images=4, stats_samples=STATS, max_resolution=None)


@pytest.fixture(scope="module")
def neutral(clip):
    return clip.encode_text(["a photo"])


def settings(**changes) -> InstantSettings:
    """Small windows and a low frame rate: a few frames per test."""
    return InstantSettings(**{"fps": 4.0, "window": 1.0, "smooth": 0.0, "alpha": 3.0, "beta": 0.1, **changes})


def source_frames(g, source: torch.Tensor, n: int) -> torch.Tensor:
    """The unedited source as n frames, decoded as every frame is (SYNTHESIS_CHUNK latents per call: the batch
    size changes a convolution's float rounding)."""
    return to_comfy_image(decode(g, source.expand(n, -1, -1), batch_size=SYNTHESIS_CHUNK))


def test_every_frame_window_is_centred_on_its_frame_and_inside_the_sound():
    audio = song(3.0)
    n = frame_count(audio.waveform.shape[-1], RATE, 10.0)
    windows = frame_windows(audio, 10.0, n, window=1.0)
    assert n == 30 and len(windows) == 30 and windows.note == ""
    for i, (start, end, centre) in enumerate(zip(windows.starts, windows.ends, windows.times, strict=True)):
        assert end - start == RATE and 0 <= start and end <= 3 * RATE  # every frame hears one full second
        if 0.5 <= i / 10 <= 2.5:
            assert centre == pytest.approx(i / 10, abs=0.5 / RATE)  # centred on the frame's time
    assert windows.starts[:6] == [0] * 6 and windows.ends[-5:] == [3 * RATE] * 5  # moved inside at the ends
    short = frame_windows(song(0.5), 10.0, 5, window=1.0)
    assert (short.starts, short.ends) == ([0] * 5, [RATE // 2] * 5) and "whole sound" in short.note


def test_windows_are_encoded_in_batches_and_silent_ones_borrow_their_neighbours(clip):
    audio = Audio(torch.cat([tone(1.0, 60.0), torch.zeros(1, 2 * RATE), tone(1.0, 3000.0)], 1), RATE)
    windows = frame_windows(audio, 4.0, 16, window=0.5)
    encoder, seen = Bands(clip.space), []
    heard = encode_frame_windows(encoder, audio, windows, batch_size=5, callback=lambda d, n: seen.append((d, n)))
    spans = list(zip(windows.starts, windows.ends, strict=True))
    audible = sum(1 for s, e in spans if audio.waveform[0, s:e].abs().max() > 0)
    assert heard.batch_size == 16 and encoder.calls == math.ceil(audible / 5) and seen[-1] == (16, 16)
    one_by_one = torch.cat([BandEncoder(clip.space).encode(audio.window(s / RATE, e / RATE)).vectors
                            for s, e in spans if audio.waveform[0, s:e].abs().max() > 0])
    assert torch.allclose(heard.vectors[[0, 1, 2, 12, 13, 14, 15]], one_by_one[[0, 1, 2, -4, -3, -2, -1]], atol=1e-6)
    # 1.25-1.75 s and 1.75-2.25 s hear only silence: they take the nearest window with sound (by start)
    assert torch.equal(heard.vectors[6], heard.vectors[4]) and torch.equal(heard.vectors[9], heard.vectors[12])


def test_smoothing_is_the_documented_gaussian_and_bounds_the_frame_to_frame_change(clip):
    """Three sounds nothing alike, a frame every 50 ms, 0.25 s windows: the raw embeddings jump at each change of
    sound; smoothed over 0.2 s (4 frames), each frame-to-frame step is bounded by the kernel's total variation
    (2 x its peak) and far smaller than the jump."""
    audio, fps = distinct_sounds(), 20.0
    windows = frame_windows(audio, fps, 60, window=0.25)
    raw = encode_frame_windows(Bands(clip.space), audio, windows)
    smooth = smooth_embeddings(raw, fps, 0.2)
    weights = gaussian_weights(0.2 * fps).numpy()
    assert len(weights) == 2 * 12 + 1 and weights.sum() == pytest.approx(1.0)
    assert weights[12] == pytest.approx(1 / (4 * math.sqrt(2 * math.pi)), rel=3e-3)  # cut at 3 sigma: 0.3% renormalised
    x = raw.vectors.double().numpy()
    padded = np.concatenate([np.repeat(x[:1], 12, 0), x, np.repeat(x[-1:], 12, 0)])
    direct = np.stack([(weights[:, None] * padded[i:i + 25]).sum(0) for i in range(60)])
    assert np.allclose(smooth.vectors.numpy(), direct / np.linalg.norm(direct, axis=1, keepdims=True), atol=1e-6)
    step = np.linalg.norm(np.diff(direct, axis=0), axis=1)
    assert step.max() <= 2 * weights.max() + 1e-9  # unit rows: |y_i+1 - y_i| <= total variation of w = 2 w_max
    cos_raw = 1 - (raw.vectors[1:] * raw.vectors[:-1]).sum(1)
    cos_smooth = 1 - (smooth.vectors[1:] * smooth.vectors[:-1]).sum(1)
    print(f"largest frame-to-frame 1 - cos: raw {cos_raw.max():.4f}, smoothed {cos_smooth.max():.4f}")
    assert cos_raw.max() > 0.3 and cos_smooth.max() < 0.1 * cos_raw.max()
    assert smooth_embeddings(raw, fps, 0.0) is raw
    with pytest.raises(SoundClipError, match="smoothing"):
        smooth_embeddings(raw, fps, -1.0)


def test_alpha_zero_gives_the_source_image_on_every_frame(g, clip, table, neutral):
    source = g.ws_from_seed(3)
    images, matched = instant_images(g, Bands(clip.space), distinct_sounds(), source, table, neutral,
                                     settings(alpha=0.0))
    assert images.shape == (12, 16, 16, 3) and matched.waveform.shape[-1] == 3 * RATE
    assert torch.equal(images, source_frames(g, source, 12))


def test_pulse_and_motion_apply_on_top_as_in_the_keyframe_mode(g, clip, table, neutral):
    """alpha 0 with pulse and motion = the keyframe mode's frames of a still image with the same pulse and motion."""
    source, audio = g.ws_from_seed(4), distinct_sounds()
    images, _ = instant_images(g, Bands(clip.space), audio, source, table, neutral,
                               settings(alpha=0.0, pulse=0.8, motion=0.5))
    still = Keyframes(source.repeat(2, 1, 1), torch.tensor([0.0, 3.0], dtype=torch.float64), 3.0, {})
    reference, _ = render_images(g, still, audio, 4.0, pulse=0.8, motion=0.5)
    assert torch.allclose(images, reference, atol=1e-6)
    assert (images - images[:1]).abs().amax() > 0.01  # the frames do move


def test_each_frame_edit_raises_the_clip_cosine_to_its_own_window(g, clip, table, neutral):
    """Three sounds nothing alike (a hum, noise, a chirp), one per second: every frame's edit raises its image's
    CLIP cosine to its own window's embedding more than to the other sounds'. Tiny random models make a weak
    CLIP: the margins asserted are what these seeds give (printed), not a quality claim."""
    encoder, audio = Bands(clip.space), distinct_sounds()
    targets = F.normalize(encode_frame_windows(encoder, audio, frame_windows(audio, 4.0, 12, 1.0)).vectors, dim=-1)
    gains = []
    for seed in (5, 6, 7):
        source = g.ws_from_seed(seed)
        edited, _ = instant_images(g, encoder, audio, source, table, neutral, settings(alpha=3.0))
        with torch.no_grad():
            before = F.normalize(clip.image_features(clip.prepare_images(g.synthesis(source))), dim=-1)
            after = F.normalize(clip.image_features(clip.prepare_images(edited.permute(0, 3, 1, 2) * 2 - 1)), dim=-1)
        gains.append((after - before) @ targets.T)  # [frame, window]
    gain = torch.stack(gains).mean(0)
    own = gain.diagonal()
    others = torch.stack([torch.cat([gain[i, :i], gain[i, i + 1:]]).mean() for i in range(12)])
    print(f"cosine gain to the frame's own window {own.mean():+.4f}, to the others {others.mean():+.4f}, own > others "
          f"on {int((own > others).sum())}/12 frames, smallest own gain {own.min():+.4f}")
    assert own.mean() > 0.01 and (own > 0).all() and own.mean() > others.mean() + 0.005
    assert (own > others).sum() >= 8


def test_a_per_frame_alpha_curve_applies_each_value_to_its_frame(g, clip, table, neutral):
    source, audio, encoder = g.ws_from_seed(8), distinct_sounds(), Bands(clip.space)
    curve = [0.0, 2.0, -1.5, 0.0] * 3
    images, _ = instant_images(g, encoder, audio, source, table, neutral, settings(alpha=curve))
    unedited = source_frames(g, source, 12)
    for value in (2.0, -1.5):
        constant, _ = instant_images(g, encoder, audio, source, table, neutral, settings(alpha=value))
        frames = [i for i, a in enumerate(curve) if a == value]
        assert torch.allclose(images[frames], constant[frames], atol=1e-6)
        assert (images[frames] - unedited[frames]).abs().amax() > 0.01
    assert all(torch.equal(images[i], unedited[i]) for i, a in enumerate(curve) if a == 0)
    with pytest.raises(SoundClipError, match="12 frames"):
        instant_images(g, encoder, audio, source, table, neutral, settings(alpha=[1.0] * 11))


def test_the_mp4_has_one_frame_per_frame_time_and_the_whole_sound(g, clip, table, neutral, tmp_path):
    audio = song(2.3)
    path = make_instant_video(tmp_path / "instant.mp4", g, Bands(clip.space), audio, g.ws_from_seed(1), table,
                              neutral, settings(fps=10.0, smooth=0.2, alpha=2.0))
    with av.open(str(path)) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        assert video.average_rate == 10 and (video.width, video.height) == (16, 16)
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
    assert frames == frame_count(audio.waveform.shape[-1], RATE, 10.0) == 23
    assert abs(samples / sound.rate - 2.3) < 0.05


def test_cancel_stops_within_one_batch(g, clip, table, neutral, monkeypatch, tmp_path):
    decoded, encoder = [], Bands(clip.space)
    synthesis = g.synthesis_from_styles
    monkeypatch.setattr(g, "synthesis_from_styles", lambda styles, *a: decoded.append(len(styles[0])) or
                        synthesis(styles, *a))
    done: list[int] = []
    with pytest.raises(Cancelled, match="frame 4 of 12"):
        instant_images(g, encoder, distinct_sounds(), g.ws_from_seed(2), table, neutral, settings(batch_size=4),
                       progress=lambda d, n, p: done.append(d), should_cancel=lambda: len(done) > 0 and done[-1] > 12)
    assert sum(decoded) == 4  # the first batch of 4 frames, then it stopped
    encoder.calls = 0
    with pytest.raises(Cancelled, match="encoding"):
        make_instant_video(tmp_path / "c.mp4", g, encoder, distinct_sounds(), g.ws_from_seed(2), table, neutral,
                           settings(encode_batch=2), should_cancel=lambda: encoder.calls >= 1)
    assert encoder.calls == 1 and not (tmp_path / "c.mp4").exists() and list(tmp_path.iterdir()) == []


def test_bad_input_is_refused_before_the_sound_is_encoded(g, clip, table, neutral):
    encoder, audio, source = Bands(clip.space), distinct_sounds(), g.ws_from_seed(0)
    cases = [(settings(alpha=float("nan")), "alpha nan at frame 0"), (settings(alpha=500.0), "outside"),
             (settings(smooth=-0.1), "smoothing"), (settings(layers="0-99"), "'0-99' is outside 0-5"),
             (settings(window=0.0), "window"), (settings(fps=0.0), "frame rate")]
    for bad, message in cases:
        with pytest.raises(SoundClipError, match=message):
            instant_images(g, encoder, audio, source, table, neutral, bad)
    with pytest.raises(EmbeddingSpaceError, match="table was made in"):
        instant_images(g, Bands("other/space"), audio, source, table, neutral, settings())
    with pytest.raises(EmbeddingSpaceError):
        instant_images(g, encoder, audio, source, table, Embedding(neutral.vectors, "other/space"), settings())
    with pytest.raises(SoundClipError, match="does not fit the generator"):
        instant_images(tiny_generator(32), encoder, audio, tiny_generator(32).ws_from_seed(0), table, neutral,
                       settings())
    assert encoder.calls == 0
    heard = hear_frames(encoder, audio, 8.0, window=1.0)  # heard at 8 fps, rendered at 4
    with pytest.raises(SoundClipError, match="heard as 24 frames, the video of 3.00 s at 4 fps has 12"):
        render_instant_images(g, heard, audio, source, table, neutral, settings())
    with pytest.raises(SoundClipError, match=r"beta 0.99 is above every channel's relevance at 0.00 s \(frame 0\)"):
        instant_images(g, encoder, audio, source, table, neutral, settings(beta=0.99))
