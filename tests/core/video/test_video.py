"""A whole song -> a video: windows, keyframes, the C1 path, reactive controls, streamed mp4, bad input."""

from __future__ import annotations

import math
import weakref
from fractions import Fraction

import av
import pytest
import torch
from devices import TEST_DEVICE
from sounds import RATE, BandEncoder, distinct_sounds, song, tone
from stylegan_formats import tiny_generator
from tiny_models import TINY_DIM, stand_in_clip

from soundclip_core.audio import Audio
from soundclip_core.embedding import Embedding
from soundclip_core.encoders import build_audio_encoder
from soundclip_core.errors import AudioError, Cancelled, SoundClipError
from soundclip_core.manipulate import optimize
from soundclip_core.video import (
    Keyframes,
    check_image_batch_fits,
    cut_windows,
    encode_windows,
    frame_count,
    frame_latents,
    hermite,
    load_keyframes,
    make_video,
    render_images,
    render_video,
    sound_keyframes,
    write_mp4,
)
from soundclip_core.video import frames as frames_module
from soundclip_core.video import reactive as reactive_module
from soundclip_core.video import render as render_module
from soundclip_core.video import writer as writer_module


@pytest.fixture(scope="module")
def generator():
    return tiny_generator(resolution=16)


def still_keyframes(generator, duration: float, count: int = 3, seed: int = 0) -> Keyframes:
    ws = torch.cat([generator.ws_from_seed(seed + i) for i in range(count)])
    times = torch.linspace(0.25 * duration, 0.75 * duration, count, dtype=torch.float64)
    return Keyframes(ws, times, duration, {})


def read_mp4(path) -> dict:
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        info = {"rate": video.average_rate, "codec": video.codec_context.name, "pix_fmt": video.pix_fmt,
                "size": (video.width, video.height), "audio_codec": audio.codec_context.name}
        info["frames"] = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
        info["audio_seconds"] = samples / container.streams.audio[0].rate
    return info


# -- timing -----------------------------------------------------------------------------------------------

def test_frame_count_is_the_ceiling_of_duration_times_fps_exactly():
    assert frame_count(44100, 44100, 24) == 24  # a whole number of frames: no float round-up to 25
    assert frame_count(44101, 44100, 24) == 25  # one sample more needs one more frame
    assert frame_count(3 * 48000, 48000, 29.97) == math.ceil(3 * 29.97)
    assert frame_count(1, 48000, 24) == 1


@pytest.mark.parametrize(("seconds", "fps", "rate"), [(1.0, 24, 16000), (1.01, 24, 22050), (0.7, 29.97, 44100),
                                                      (1.3, 10, 48000)])
def test_mp4_has_the_right_frames_rate_and_sound(generator, tmp_path, seconds, fps, rate):
    audio = Audio(torch.cat([tone(seconds, rate=rate), tone(seconds, 660, rate=rate)]), rate, "stereo.wav")
    out = render_video(tmp_path / "v.mp4", generator, still_keyframes(generator, seconds), audio, fps)
    info = read_mp4(out)
    expected = math.ceil(Fraction(audio.waveform.shape[-1], rate) * Fraction(round(fps * 1000), 1000))
    assert info["frames"] == expected
    assert info["rate"] == Fraction(round(fps * 1000), 1000)
    assert (info["codec"], info["pix_fmt"], info["audio_codec"], info["size"]) == ("h264", "yuv420p", "aac", (16, 16))
    # the sound lasts as long as the video (padded by less than one frame), within one AAC frame
    assert abs(info["audio_seconds"] - expected / Fraction(round(fps * 1000), 1000)) < 1024 / rate + 1e-6
    assert info["audio_seconds"] >= seconds - 1e-3
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]  # no temporary file left


def test_odd_frame_sizes_are_padded_to_even(tmp_path):
    frames = [torch.full((2, 15, 17, 3), 200, dtype=torch.uint8)]
    write_mp4(tmp_path / "odd.mp4", frames, 12, song(0.5))
    assert read_mp4(tmp_path / "odd.mp4")["size"] == (18, 16)


# -- motion between keyframes --------------------------------------------------------------------------------

def velocity_change(path: torch.Tensor) -> float:
    """Largest frame-to-frame change of the per-frame step, relative to the largest step: a jump in
    velocity (a C0 kink) keeps this large at any frame rate, a C1 path makes it shrink with the frame time."""
    steps = path[1:] - path[:-1]
    return float((steps[1:] - steps[:-1]).flatten(1).norm(dim=1).max() / steps.flatten(1).norm(dim=1).max())


def test_the_path_passes_through_keyframes_with_no_jump_at_window_boundaries():
    torch.manual_seed(0)
    ws = torch.randn(5, 3, 4)
    times = torch.tensor([0.5, 1.0, 2.2, 2.8, 4.0], dtype=torch.float64)
    assert torch.allclose(hermite(ws, times, times), ws, atol=1e-6)
    coarse, fine = (velocity_change(hermite(ws, times, torch.arange(0, int(4.5 * fps)) / fps)) for fps in (50, 200))
    assert coarse < 0.25 and fine < 0.3 * coarse  # O(1/fps): no kink at any window boundary
    at = torch.arange(0, 900) / 200
    index = (torch.searchsorted(times, at.double(), right=True) - 1).clamp(0, 3)
    s = ((at - times[index]) / (times[index + 1] - times[index])).clamp(0, 1).float()[:, None, None]
    assert velocity_change(ws[index] * (1 - s) + ws[index + 1] * s) > 1.0  # linear interpolation would fail
    eps = 1e-4  # left and right derivatives agree at every keyframe (C1)
    for t in times[1:-1]:
        left = (hermite(ws, times, t[None]) - hermite(ws, times, t[None] - eps)) / eps
        right = (hermite(ws, times, t[None] + eps) - hermite(ws, times, t[None])) / eps
        assert torch.allclose(left, right, atol=2e-2)


def test_frame_latents_follow_the_spline_and_hold_at_the_ends(generator):
    keyframes = still_keyframes(generator, 2.0)
    batches = list(frame_latents(keyframes, 10, 20, batch_size=6))
    assert [first for first, _ in batches] == [0, 6, 12, 18] and sum(b.shape[0] for _, b in batches) == 20
    ws = torch.cat([b for _, b in batches])
    assert torch.equal(ws[0], keyframes.ws[0]) and torch.allclose(ws[10], keyframes.ws[1], atol=1e-6)
    assert torch.equal(ws[-1], keyframes.ws[-1])


# -- reactive controls -----------------------------------------------------------------------------------------

def test_loudness_level_is_calibrated_and_follows_the_envelope():
    sine = Audio(tone(1.0, 1000, amplitude=0.5, rate=22050), 22050)
    level, _ = reactive_module._spectral_curves(sine)
    assert abs(float(level[20:-20].mean()) - 10 * math.log10(0.5**2 / 2)) < 0.1  # mean square of a sine: A^2/2
    quiet_then_loud = Audio(torch.cat([tone(1.0, amplitude=0.01), tone(1.0, amplitude=0.5)], 1), RATE)
    loudness, _ = reactive_module.loudness_and_onsets(quiet_then_loud, 20, 40)
    assert loudness.shape == (40,) and float(loudness[:15].max()) < float(loudness[25:].min())


def test_onsets_peak_at_clicks():
    audio = torch.zeros(1, 2 * RATE)
    for click in (0.5, 1.0, 1.5):
        audio[0, int(click * RATE):int(click * RATE) + 160] = torch.randn(160) * 0.5
    _, onsets = reactive_module.loudness_and_onsets(Audio(audio + 1e-4 * torch.randn_like(audio), RATE), 20, 40)
    for click in (0.5, 1.0, 1.5):
        frame = int(click * 20)
        assert float(onsets[frame:frame + 2].max()) > 0.5
    assert float(onsets[2:8].max()) < 0.05  # nothing starts in the first 0.4 s


def test_pulse_and_motion_move_the_latent_as_documented(generator):
    audio = Audio(torch.cat([tone(1.0, amplitude=0.01), tone(1.0)], 1), RATE)
    keyframes = still_keyframes(generator, 2.0)
    plain = torch.cat([b for _, b in frame_latents(keyframes, 10, 20)])
    off = reactive_module.build_reactive(generator, audio, 10, 20, 0.0, 0.0)
    assert torch.equal(torch.cat([b for _, b in frame_latents(keyframes, 10, 20, off)]), plain)
    pulse = reactive_module.build_reactive(generator, audio, 10, 20, pulse=0.8)
    pulsed = torch.cat([b for _, b in frame_latents(keyframes, 10, 20, pulse)])
    gain = 1 + 0.8 * pulse.loudness
    assert torch.allclose(pulsed, generator.w_avg + gain[:, None, None] * (plain - generator.w_avg), atol=1e-5)
    motion = reactive_module.build_reactive(generator, audio, 10, 20, motion=0.5)
    moved = torch.cat([b for _, b in frame_latents(keyframes, 10, 20, motion)])
    offset = (moved - plain)[:, 0]
    assert torch.allclose(offset, (moved - plain)[:, -1], atol=1e-5)  # the same shift on every layer
    assert float(offset[:5].norm(dim=-1).max()) < 0.2 * float(offset[15:].norm(dim=-1).max())  # rests in silence


# -- keyframes -----------------------------------------------------------------------------------------------

def test_windows_cover_the_whole_sound_and_refuse_bad_lengths():
    windows = cut_windows(song(7.0), window=2.0, hop=2.0)
    assert windows.starts == [0, 2 * RATE, 4 * RATE, 5 * RATE] and windows.ends[-1] == 7 * RATE
    assert windows.times == [1.0, 3.0, 5.0, 6.0]
    assert cut_windows(song(2.0), window=2.0, hop=1.0).times == [1.0]  # exactly one window: one keyframe
    assert cut_windows(song(2.0), window=2.0, hop=1.0).note == ""
    short = cut_windows(song(3.0), window=5.0, hop=1.0)  # a shorter sound is one shorter window, and says so
    assert (short.starts, short.ends, short.times) == ([0], [3 * RATE], [1.5])
    assert short.note == "the sound is 3.00 s long, shorter than one 5 s window: using one 3.00 s window"
    with pytest.raises(SoundClipError, match="positive"):
        cut_windows(song(3.0), window=1.0, hop=0.0)


def test_silent_windows_borrow_their_neighbours_sound_and_a_silent_song_is_refused():
    encoder = build_audio_encoder("wav2clip", device=TEST_DEVICE)
    audio = Audio(torch.cat([tone(1.0), torch.zeros(1, RATE), tone(1.0, 880)], 1), RATE)
    embedding = encode_windows(encoder, audio, cut_windows(audio, 1.0, 1.0))
    assert embedding.batch_size == 3 and torch.equal(embedding.vectors[1], embedding.vectors[0])
    with pytest.raises(AudioError, match="silent"):
        encode_windows(encoder, Audio(torch.zeros(1, 3 * RATE), RATE), cut_windows(Audio(torch.zeros(1, 3 * RATE),
                                                                                        RATE), 1.0, 1.0))


def test_chunked_optimisation_equals_the_whole_batch(generator):
    clip = stand_in_clip()
    targets = clip.encode_text(["a red sea", "a green forest", "a white storm"])
    w0 = generator.ws_from_seed(3)
    whole = optimize(generator, clip, targets, w0, steps=4, preset="landscape")
    chunked = optimize(generator, clip, targets, w0, steps=4, preset="landscape", chunk_size=2)
    # the same optimisation up to float summation order (Adam divides by the gradient's size, so 1e-4)
    assert torch.allclose(whole.w, chunked.w, atol=1e-4) and torch.allclose(whole.mask, chunked.mask, atol=1e-3)
    assert torch.allclose(whole.loss_history, chunked.loss_history, atol=1e-5)
    assert not torch.allclose(whole.w, w0, atol=1e-2)  # it did move


def test_each_keyframe_is_closest_to_its_own_window(generator):
    clip = stand_in_clip()
    encoder = BandEncoder(clip.space)
    audio = distinct_sounds()
    targets = encode_windows(encoder, audio, cut_windows(audio, 1.0, 1.0)).vectors
    assert float((targets @ targets.T - torch.eye(3)).abs().max()) < 0.9  # three different targets
    keyframes, result = sound_keyframes(generator, clip, encoder, audio, generator.ws_from_seed(1), window=1.0,
                                        hop=1.0, steps=25, lr=0.1, preset="custom", chunk_size=2)
    assert keyframes.ws.shape == (3, generator.num_ws, generator.w_dim)
    assert keyframes.times.tolist() == [0.5, 1.5, 2.5] and keyframes.duration == 3.0
    with torch.no_grad():
        features = torch.nn.functional.normalize(
            clip.image_features(clip.prepare_images(generator.synthesis(keyframes.ws))), dim=-1)
    similarity = features @ targets.T  # [keyframe, window]
    gain = similarity - result.source_similarity[None]  # the source image's similarity to each window
    for k in range(3):
        # of all keyframe images, window k's embedding is closest to keyframe k's (the tiny random CLIP's image
        # features fill a narrow cone, so some windows are far from every image: compare within a window)
        assert similarity[k, k] == similarity[:, k].max(), similarity
        assert gain[k, k] > 0.02 and gain[k, k] == gain[:, k].max(), gain


def test_each_keyframe_image_is_closer_to_its_own_window_than_to_the_others(generator):
    """The issue's wording, row by row: keyframe k's image is closer in CLIP space to window k's embedding than
    to any other window's. The stand-in encoder hears which of three sounds a window holds (a hum, noise, a
    chirp) and answers with the CLIP look of one of three other generator images, so every target is one an
    image can reach (the tiny random CLIP's image features fill a narrow cone)."""
    clip = stand_in_clip()
    with torch.no_grad():
        sources = torch.cat([generator.ws_from_seed(seed, truncation_psi=1.0) for seed in (11, 12, 13)])
        looks = torch.nn.functional.normalize(clip.image_features(clip.prepare_images(generator.synthesis(sources))),
                                              dim=-1)

    class HearingEncoder:
        kind, space = "hearing", clip.space

        def encode(self, audio, **_):
            power = torch.fft.rfft(audio.waveform.mean(0)).abs().square()  # 1 Hz bins for one second
            hum = power[:200].sum() > 0.5 * power.sum()
            which = 0 if hum else 1 if power[:2500].sum() > 0.1 * power.sum() else 2  # noise reaches low bands
            return Embedding(looks[which][None], clip.space, audio.source)

    audio = distinct_sounds()
    targets = encode_windows(HearingEncoder(), audio, cut_windows(audio, 1.0, 1.0)).vectors
    assert torch.allclose(targets, looks, atol=1e-6)  # the three windows were told apart
    keyframes, _ = sound_keyframes(generator, clip, HearingEncoder(), audio, generator.ws_from_seed(1), window=1.0,
                                   hop=1.0, steps=25, lr=0.1, preset="custom", chunk_size=2)
    with torch.no_grad():
        features = torch.nn.functional.normalize(
            clip.image_features(clip.prepare_images(generator.synthesis(keyframes.ws))), dim=-1)
    similarity = features @ targets.T  # [keyframe, window]
    for k in range(3):
        others = torch.cat([similarity[k, :k], similarity[k, k + 1:]])
        assert similarity[k, k] > others.max() + 1e-3, similarity


def test_keyframes_round_trip_with_their_times(generator, tmp_path):
    keyframes = still_keyframes(generator, 3.0)
    keyframes.save(tmp_path / "k.safetensors", "tiny")
    again = load_keyframes(tmp_path / "k.safetensors")
    assert torch.equal(again.ws, keyframes.ws) and torch.equal(again.times, keyframes.times)
    assert again.duration == 3.0


def test_an_inverted_sources_noise_maps_travel_to_every_keyframe_and_frame(generator, tmp_path):
    """A source latent with its own noise maps (an inversion's) keeps them: the keyframes carry them (also
    through a file) and every frame is decoded with them, not with the generator's const noise."""
    from soundclip_core.noise_maps import noise_buffers, synthesize

    noise = [torch.randn(b.shape, generator=torch.Generator().manual_seed(k)) for k, b in
             enumerate(noise_buffers(generator))]
    clip, encoder = stand_in_clip(), build_audio_encoder("soundclip", embed_dim=TINY_DIM, device=TEST_DEVICE)
    keyframes, _ = sound_keyframes(generator, clip, encoder, song(3.0), generator.ws_from_seed(1), window=1.0,
                                   hop=1.0, steps=1, noise=noise)
    assert keyframes.noise is not None and all(torch.equal(a, b) for a, b in zip(keyframes.noise, noise,
                                                                                   strict=True))
    keyframes.save(tmp_path / "k.safetensors", "tiny")
    again = load_keyframes(tmp_path / "k.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(again.noise, noise, strict=True))
    images, _ = render_images(generator, again, song(3.0), fps=2.0)
    first = ((synthesize(generator, again.ws[:1], noise) + 1) * 127.5).round().clamp(0, 255)
    const = ((generator.synthesis(again.ws[:1]) + 1) * 127.5).round().clamp(0, 255)
    assert not torch.equal(first, const)  # the maps matter at all
    assert (images[0] * 255 - first[0].permute(1, 2, 0)).abs().max() <= 1.0  # frame 0 holds keyframe 0


# -- streaming, cancel, bad input -----------------------------------------------------------------------------

def test_streaming_holds_at_most_one_batch_of_frames(generator, tmp_path, monkeypatch):
    alive, peak = [0], [0]

    def track(tensor):
        alive[0] += 1
        peak[0] = max(peak[0], alive[0])
        weakref.finalize(tensor, lambda: alive.__setitem__(0, alive[0] - 1))
        return tensor

    to_uint8 = render_module.to_uint8_frames  # sees every decoded batch and makes its uint8 copy
    monkeypatch.setattr(render_module, "to_uint8_frames", lambda images: track(to_uint8(track(images))))
    audio = song(6.0)
    render_video(tmp_path / "long.mp4", generator, still_keyframes(generator, 6.0), audio, 20, batch_size=4)
    assert read_mp4(tmp_path / "long.mp4")["frames"] == 120  # 30 batches went through ...
    # ... but never more than the batch being rendered and its uint8 copy, plus what the encoder thread holds: at
    # most two queued batches and the one it is compressing (writer.py's bounded queue)
    assert 2 <= peak[0] <= 5


def test_cancel_stops_within_one_step_or_batch_and_leaves_no_file(generator, tmp_path):
    clip = stand_in_clip()
    encoder = BandEncoder(clip.space)
    calls = [0]

    def cancel_after(n):
        def should_cancel():
            calls[0] += 1
            return calls[0] > n
        return should_cancel

    out = tmp_path / "v.mp4"
    with pytest.raises(Cancelled, match="step 2"):
        make_video(out, generator, clip, encoder, song(2.0), generator.ws_from_seed(0), fps=10, window=1.0, hop=1.0,
                   steps=50, chunk_size=1, should_cancel=cancel_after(2 + 2 * 2))  # 2 encodes, 2 steps of 2 chunks
    calls[0] = 0
    with pytest.raises(Cancelled, match="frame 8 of 20"):
        render_video(out, generator, still_keyframes(generator, 2.0), song(2.0), 10, batch_size=4,
                     should_cancel=cancel_after(2))
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_refused_before_any_work(generator, tmp_path, monkeypatch):
    keyframes = still_keyframes(generator, 2.0)
    for fps in (0, -5, float("nan"), 1000, "fast"):
        with pytest.raises(SoundClipError, match="frame rate"):
            render_video(tmp_path / "v.mp4", generator, keyframes, song(), fps)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(SoundClipError, match="cannot write"):
        render_video(blocker / "v.mp4", generator, keyframes, song(), 10)
    with pytest.raises(SoundClipError, match=r"\.mp4"):
        render_video(tmp_path / "v.avi", generator, keyframes, song(), 10)
    started = []
    monkeypatch.setattr(frames_module, "hermite", lambda *a, **k: started.append(1))
    monkeypatch.setattr(writer_module.shutil, "disk_usage", lambda p: type("U", (), {"free": 10_000})())
    hours = Audio(torch.zeros(1, 1), 8000)
    object.__setattr__(hours, "waveform", torch.zeros(1, 1).expand(1, 3 * 3600 * 8000))  # 3 h, no memory
    with pytest.raises(SoundClipError, match="GiB, only 0.00 GiB is free"):
        render_video(tmp_path / "v.mp4", generator, keyframes, hours, 24)
    assert not started and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_image_batches_that_would_not_fit_are_refused_with_the_fix(generator):
    with pytest.raises(SoundClipError, match="Write Sound Video"):
        check_image_batch_fits(10_000, 1024, 1024, budget=1024**3)
    assert check_image_batch_fits(4, 16, 16, budget=1024**3) == 4 * 16 * 16 * 3 * 4
    images, audio = render_images(generator, still_keyframes(generator, 1.0), song(1.0), 12)
    assert images.shape == (12, 16, 16, 3) and audio.waveform.shape[-1] == RATE
    assert 0 <= float(images.min()) and float(images.max()) <= 1


def test_progress_runs_over_the_whole_job_keyframes_then_frames(generator, tmp_path):
    clip = stand_in_clip()
    reports = []
    keyframes, _ = make_video(tmp_path / "v.mp4", generator, clip, BandEncoder(clip.space), distinct_sounds(),
                              generator.ws_from_seed(0), fps=5, window=1.0, hop=0.5, steps=3, batch_size=4,
                              progress=lambda done, total, preview: reports.append((done, total)))
    assert len(keyframes.times) == 5
    done = [d for d, _ in reports]
    assert {t for _, t in reports} == {3 + 15} and done == sorted(done) and done[-1] == 18
    assert done[:3] == [1, 2, 3] and done[3:] == [7, 11, 15, 18]  # 3 steps, then 15 frames in batches of 4
