"""The music drives the video (issue 25): keyframes cut on beats, bars and sections, a text per section, the
edit's strength following a shaped curve, bands driving their own W+ layers, blends of several sources, and
the documented answers to songs without beats, short clips and too many texts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("librosa", reason="the analysis needs librosa: pip install -e '.[test]'")

from music_signals import as_audio, chord, click, click_track, hihat, kick, place  # noqa: E402
from sounds import BandEncoder  # noqa: E402
from stylegan_formats import tiny_generator  # noqa: E402
from tiny_models import stand_in_clip  # noqa: E402

from soundclip_core.analysis import Envelope, analyze  # noqa: E402
from soundclip_core.errors import AnalysisError, SoundClipError  # noqa: E402
from soundclip_core.video import (  # noqa: E402
    Keyframes,
    MusicCut,
    MusicFrames,
    frame_latents,
    music_keyframes,
    music_reactive,
    music_windows,
    parse_band_layers,
    parse_envelope,
)
from soundclip_core.video.frames import frame_count  # noqa: E402
from soundclip_core.video.section_texts import (  # noqa: E402
    parse_section_texts,
    section_text_embedding,
    section_text_indices,
)

RATE = 22050
FPS = 20


def three_part_song(part: float = 12.0) -> np.ndarray:
    """A C major chord with clicks, then gated noise, then an A major chord, `part` seconds each."""
    n = int(part * RATE)
    y = np.zeros(3 * n)
    y[:n] = 0.3 * chord(part, RATE) + place(np.zeros(n), click(RATE), np.arange(0, part, 0.5), RATE)
    t = np.arange(n) / RATE
    y[n:2 * n] = 0.3 * np.random.default_rng(0).standard_normal(n) * (np.floor(t * 8) % 2 == 0)
    y[2 * n:] = 0.3 * chord(part, RATE, (220.0, 277.18, 329.63, 415.3))
    return y


def kicks_and_hats(seconds: float = 6.0):
    """(audio, kick times, hi-hat times): a 60 Hz kick every 0.8 s, a hi-hat 0.4 s after each."""
    kicks = np.arange(0.3, seconds - 0.3, 0.8)
    hats = kicks + 0.4
    y = place(np.zeros(int(seconds * RATE)), 0.8 * kick(RATE), kicks, RATE)
    return as_audio(place(y, hihat(RATE), hats, RATE), RATE), kicks, hats


@pytest.fixture(scope="module")
def generator():
    return tiny_generator(resolution=16)


@pytest.fixture(scope="module")
def accented():
    y, clicks = click_track(120, 8.0, RATE, accent_every=4)
    audio = as_audio(y, RATE)
    return audio, analyze(audio), clicks


@pytest.fixture(scope="module")
def sectioned():
    audio = as_audio(three_part_song(), RATE)
    return audio, analyze(audio)


def edges(windows) -> list[float]:
    return [s / windows.sample_rate for s in windows.starts] + [windows.ends[-1] / windows.sample_rate]


def still(generator, duration: float, count: int = 3) -> Keyframes:
    ws = torch.cat([generator.ws_from_seed(10 + i) for i in range(count)])
    times = torch.linspace(0.2 * duration, 0.8 * duration, count, dtype=torch.float64)
    return Keyframes(ws, times, duration, {}, None, generator.ws_from_seed(3))


def frames(keyframes, n, reactive=None) -> torch.Tensor:
    return torch.cat([b for _, b in frame_latents(keyframes, FPS, n, reactive)])


# -- keyframes on the music -----------------------------------------------------------------------------------

@pytest.mark.parametrize("cut, every", [("beats", 1), ("beats", 2), ("bars", 1)])
def test_windows_are_cut_on_beats_and_bars(accented, cut, every):
    audio, analysis, clicks = accented
    windows = music_windows(audio, analysis, cut, every)
    found = analysis.beats.times if cut == "beats" else analysis.bars.downbeats
    chosen = found[::every]
    assert windows.note == "" and windows.cut == cut
    assert windows.starts[1:] == windows.ends[:-1]  # contiguous: every moment heard once
    assert edges(windows)[0] == 0.0 and windows.ends[-1] == audio.waveform.shape[-1]
    assert edges(windows)[1:-1] == pytest.approx(list(chosen[1:]), abs=1 / RATE)
    step = 0.5 * every if cut == "beats" else 2.0  # 120 BPM, bars of 4
    assert np.diff(edges(windows)[1:-1]) == pytest.approx(step, abs=0.02)


def test_windows_are_cut_on_sections(sectioned):
    audio, analysis = sectioned
    windows = music_windows(audio, analysis, "sections")
    assert len(windows) == 3 and edges(windows)[1:3] == pytest.approx([12.0, 24.0], abs=1.0)
    assert edges(windows)[1:3] == pytest.approx(list(analysis.sections[1:]), abs=1 / RATE)


def test_keyframes_land_on_the_sections_and_hold_through_them(generator, sectioned):
    """One keyframe per section, optimised in the usual batch; the path rests on it from tau after the section
    starts to tau before it ends and turns into the next around the boundary."""
    audio, analysis = sectioned
    clip = stand_in_clip()
    plan = MusicCut("sections", transition=1.0)
    keyframes, _, notes = music_keyframes(generator, clip, BandEncoder(clip.space), audio, generator.ws_from_seed(1),
                                          plan, analysis=analysis, steps=3, preset="custom")
    b = [0.0, *analysis.sections[1:], audio.duration]
    assert notes == [] and keyframes.ws.shape[0] == 6 and keyframes.settings["cut"] == "sections"
    expected = [t for k in range(3) for t in (b[k] + 0.5, b[k + 1] - 0.5)]
    assert keyframes.times.tolist() == pytest.approx(expected, abs=1e-4)
    assert torch.equal(keyframes.ws[0], keyframes.ws[1]) and not torch.equal(keyframes.ws[1], keyframes.ws[2])
    n = frame_count(audio.waveform.shape[-1], audio.sample_rate, FPS)
    path = frames(keyframes, n)
    times = torch.arange(n) / FPS
    for k in range(3):  # held exactly through the section: no overshoot from the spline
        inside = (times >= b[k] + 0.5) & (times <= b[k + 1] - 0.5)
        assert torch.allclose(path[inside], keyframes.ws[2 * k].expand_as(path[inside]), atol=1e-6)
    boundary = int(round(b[1] * FPS))  # half-way between the two looks at the boundary
    middle = (keyframes.ws[1] + keyframes.ws[2]) / 2
    assert torch.allclose(path[boundary], middle, atol=0.1 * float((keyframes.ws[2] - keyframes.ws[1]).abs().max()))


def test_a_song_without_beats_falls_back_to_fixed_windows_and_says_why():
    t = np.arange(12 * RATE) / RATE
    drone = as_audio(0.3 * np.sin(2 * np.pi * 220 * t), RATE)
    windows = music_windows(drone, analyze(drone), "beats", window=4.0, hop=2.0)
    assert "no beats to cut on" in windows.note and "no regular pulse" in windows.note and windows.cut == "fixed"
    assert windows.starts == [round(s * RATE) for s in (0, 2, 4, 6, 8)] and windows.ends[-1] == 12 * RATE


def test_a_two_second_clip_is_one_section_window(accented):
    audio, _, _ = accented
    clip = as_audio(audio.waveform[0, :2 * RATE].numpy(), RATE)
    windows = music_windows(clip, analyze(clip), "sections")
    assert windows.starts == [0] and windows.ends == [2 * RATE] and "one section" in windows.note


def test_bad_cuts_are_refused_before_any_work(accented):
    audio, analysis, _ = accented
    with pytest.raises(SoundClipError, match="unknown cut"):
        music_windows(audio, analysis, "verses")
    with pytest.raises(SoundClipError, match="every"):
        music_windows(audio, analysis, "beats", every=0)
    with pytest.raises(SoundClipError, match="transition"):
        MusicCut("sections", transition=-1).check()


# -- a text per section ---------------------------------------------------------------------------------------

def test_section_texts_cycle_and_extra_ones_are_reported(sectioned):
    audio, analysis = sectioned
    windows = music_windows(audio, analysis, "sections")
    assert parse_section_texts(" at night ;fireworks; rain ") == ["at night", "fireworks", "rain"]
    with pytest.raises(SoundClipError, match="empty text"):
        parse_section_texts("at night;;rain")
    assert section_text_indices(windows, analysis.sections, 2) == ([0, 1, 0], "")  # verse, chorus, verse
    indices, note = section_text_indices(windows, analysis.sections, 5)
    assert indices == [0, 1, 2] and "the last 2 are unused" in note
    fixed = music_windows(audio, analysis, "fixed", window=6.0, hop=6.0)  # fixed windows: by their centres
    assert section_text_indices(fixed, analysis.sections, 3)[0] == [0, 0, 1, 1, 2, 2]
    clip = stand_in_clip()
    rows, _ = section_text_embedding(clip, ["at night", "fireworks"], windows, analysis.sections)
    texts = clip.encode_text(["at night", "fireworks"]).vectors
    assert torch.allclose(rows.vectors, texts[[0, 1, 0]])


def test_each_keyframe_mixes_its_sound_with_its_sections_text(generator, sectioned, monkeypatch):
    """The targets handed to the batched optimisation are combine(sound_k, text of k's section), renormalised."""
    audio, analysis = sectioned
    clip = stand_in_clip()
    encoder = BandEncoder(clip.space)
    seen = {}
    from soundclip_core.video import keyframes as keyframes_module

    real = keyframes_module.optimize

    def spy(generator, clip, targets, *args, **kwargs):
        seen["targets"] = targets.vectors.clone()
        return real(generator, clip, targets, *args, **kwargs)

    monkeypatch.setattr(keyframes_module, "optimize", spy)
    plan = MusicCut("sections", section_texts="at night; fireworks; rain; snow")
    _, _, notes = music_keyframes(generator, clip, encoder, audio, generator.ws_from_seed(1), plan, analysis=analysis,
                                  steps=1, text_weight=0.7, preset="custom")
    assert notes == ["4 section texts for 3 sections: the last 1 are unused"]
    windows = music_windows(audio, analysis, "sections")
    texts = clip.encode_text(["at night", "fireworks", "rain"]).vectors
    for k, (start, end) in enumerate(windows.spans):
        sound = encoder.encode(audio.window(start, end)).vectors[0]
        mixed = sound + 0.7 * texts[k]
        assert torch.allclose(seen["targets"][k], mixed / mixed.norm(), atol=1e-5)


# -- the strength follows a curve -----------------------------------------------------------------------------

def test_strength_follows_the_shaped_curve_frame_by_frame(generator):
    """w(t) = source + g(curve(t)) (keyframe(t) - source), g the Envelope of the named curve."""
    quiet_loud = np.concatenate([0.01 * chord(2.0, RATE), 0.5 * chord(2.0, RATE)])
    audio = as_audio(quiet_loud, RATE)
    keyframes = still(generator, 4.0)
    n = frame_count(audio.waveform.shape[-1], RATE, FPS)
    plain = frames(keyframes, n)
    settings = MusicFrames(strength_curve="rms", strength_envelope="attack=0.05, release=0.3, gamma=2")
    moved = frames(keyframes, n, music_reactive(generator, keyframes, audio, FPS, n, settings))
    g = Envelope(attack=0.05, release=0.3, gamma=2).apply(analyze(audio).curves(FPS)["loudness"], FPS)
    g = torch.from_numpy(g)[:, None, None]
    source = keyframes.source[0]
    assert torch.allclose(moved, source + g * (plain - source), atol=1e-5)
    assert float(g[:35].max()) < 0.01 and float(g[45:].min()) > 0.9  # quiet: barely an edit; loud: all of it
    assert torch.allclose(moved[:35], source.expand(35, -1, -1), atol=0.05 * float((plain - source).abs().max()))


def test_strength_takes_any_band_curve_and_refuses_unknown_names(generator):
    audio, kicks, _ = kicks_and_hats()
    keyframes = still(generator, 6.0)
    n = frame_count(audio.waveform.shape[-1], RATE, FPS)
    reactive = music_reactive(generator, keyframes, audio, FPS, n, MusicFrames(strength_curve="onset_30-120Hz"))
    curve = analyze(audio, bands=((30, 120),)).curves(FPS)["onset_30-120Hz"]
    assert torch.allclose(reactive.strength, torch.from_numpy(Envelope().apply(curve, FPS)))
    at = np.round(kicks * FPS).astype(int)
    assert float(torch.stack([reactive.strength[at + d] for d in (-1, 0, 1)]).amax(0).min()) > 0.5
    with pytest.raises(SoundClipError, match="no curve named 'loudnes'"):
        music_reactive(generator, keyframes, audio, FPS, n, MusicFrames(strength_curve="loudnes"))
    with pytest.raises(AnalysisError, match="attack"):
        music_reactive(generator, keyframes, audio, FPS, n, MusicFrames("rms", "attack=-1"))
    with pytest.raises(SoundClipError, match="NAME=VALUE"):
        parse_envelope("atack=0.1")
    unsourced = Keyframes(keyframes.ws, keyframes.times, 6.0, {})
    with pytest.raises(SoundClipError, match="edited from"):
        music_reactive(generator, unsourced, audio, FPS, n, MusicFrames(strength_curve="rms"))


# -- bands to layers ----------------------------------------------------------------------------------------------

def test_band_layer_pairs_parse_with_commas_and_strengths(generator):
    pairs = parse_band_layers("20-150Hz:0-1,3, 5000-11025Hz:4-5@0.5", generator.num_ws)
    assert [(p.band, p.layers, p.strength) for p in pairs] == [((20.0, 150.0), [0, 1, 3], None),
                                                             ((5000.0, 11025.0), [4, 5], 0.5)]
    for bad, match in [("20-150:0-1", "bad band"), ("0-1", "no band"), ("20-150Hz:0-9", "outside"),
                       ("150-20Hz:0-1", "empty or negative"), ("20-150Hz:0-1@x", "bad strength")]:
        with pytest.raises(SoundClipError, match=match):
            parse_band_layers(bad, generator.num_ws)


def test_a_bands_pulse_moves_only_its_layers(generator):
    """The kick band pulses layers 0-1 on the kicks, the hi-hat band layers 4-5 on the hats; layers 2-3 are
    bit-identical to the path without a pulse."""
    audio, kicks, hats = kicks_and_hats()
    keyframes = still(generator, 6.0)
    n = frame_count(audio.waveform.shape[-1], RATE, FPS)
    plain = frames(keyframes, n)
    settings = MusicFrames(pulse_bands="20-150Hz:0-1, 4000-11025Hz:4-5@0.3")
    reactive = music_reactive(generator, keyframes, audio, FPS, n, settings, pulse=0.8)
    pulsed = frames(keyframes, n, reactive)
    assert torch.equal(pulsed[:, 2:4], plain[:, 2:4])
    curves = analyze(audio, bands=((20, 150), (4000, 11025))).curves(FPS)
    w_avg = generator.w_avg
    for layers, name, strength in [(slice(0, 2), "onset_20-150Hz", 0.8), (slice(4, 6), "onset_4000-11025Hz", 0.3)]:
        c = torch.from_numpy(Envelope(normalise="none", release=0.2).apply(curves[name] / curves[name].max(), FPS))
        c = c[:, None, None]
        assert torch.allclose(pulsed[:, layers], w_avg + (1 + strength * c) * (plain[:, layers] - w_avg), atol=1e-5)
    push = (pulsed - plain).norm(dim=-1)  # [frames, layers]
    at = lambda times: np.floor(times * FPS).astype(int) + 1  # noqa: E731
    assert float(push[at(kicks), 0].min()) > 3 * float(push[at(hats), 0].max())  # bass layers on the kicks
    assert float(push[at(hats), 5].min()) > 3 * float(push[at(kicks), 5].max())  # fine layers on the hats


def test_a_bands_motion_moves_only_its_layers_and_hears_its_own_audio(generator):
    """Motion on the bass band from a separate stem (pulse_audio/motion_audio): layers outside the range are
    untouched, the ones inside share one offset, and it rests until the stem's first kick."""
    audio = as_audio(0.2 * chord(6.0, RATE), RATE)  # the song: a chord, no kicks
    stem, kicks, _ = kicks_and_hats()
    keyframes = still(generator, 6.0)
    n = frame_count(audio.waveform.shape[-1], RATE, FPS)
    plain = frames(keyframes, n)
    settings = MusicFrames(motion_bands="20-150Hz:3-5")
    own = frames(keyframes, n, music_reactive(generator, keyframes, audio, FPS, n, settings, motion=0.5))
    assert torch.allclose(own, plain, atol=1e-3 * float(plain.abs().max()))  # the chord has no bass onsets
    moved = frames(keyframes, n, music_reactive(generator, keyframes, audio, FPS, n, settings, motion=0.5,
                                                motion_audio=stem))
    assert torch.equal(moved[:, :3], plain[:, :3])
    offset = moved[:, 3:] - plain[:, 3:]
    assert torch.allclose(offset[:, 0], offset[:, 2], atol=1e-5)
    first = int(kicks[0] * FPS)
    assert float(offset[:first - 1].abs().max()) < 1e-3 < float(offset[first + 5:].abs().max())


def test_a_stem_at_another_rate_is_resampled_and_a_nearly_equal_one_padded(generator):
    """Stems go through the analysis' one door (assign_roles): the same kicks at 16 kHz drive the same pulse as
    at the song's rate; a stem 0.3 s short is padded with silence, with a warning naming the role."""
    audio, _, _ = kicks_and_hats(6.0)
    keyframes = still(generator, 6.0)
    n = frame_count(audio.waveform.shape[-1], RATE, FPS)
    settings = MusicFrames(pulse_bands="20-150Hz:0-1")
    same = music_reactive(generator, keyframes, audio, FPS, n, settings, pulse=1.0, pulse_audio=audio)
    low = audio.resample(16000)
    assert low.sample_rate == 16000
    with pytest.warns(UserWarning, match="pulse stem was resampled from 16000 Hz"):
        resampled = music_reactive(generator, keyframes, audio, FPS, n, settings, pulse=1.0, pulse_audio=low)
    a, b = same.drives[0].curve, resampled.drives[0].curve
    assert a.shape == b.shape == (n,) and float((a - b).abs().max()) < 0.1 and float(b.max()) > 0.5
    short = as_audio(audio.waveform[0, :int(5.7 * RATE)].numpy(), RATE)
    with pytest.warns(UserWarning, match="pulse stem was padded with 0.300 s"):
        padded = music_reactive(generator, keyframes, audio, FPS, n, settings, pulse=1.0, pulse_audio=short)
    c = padded.drives[0].curve
    assert c.shape == (n,) and float((c[:100] - a[:100]).abs().max()) < 0.05  # the same kicks, in time


@pytest.mark.parametrize("role", ["pulse", "motion", "beat", "meaning"])
def test_a_stem_3_s_shorter_is_refused_naming_its_role_before_any_optimisation(generator, tmp_path, role):
    """make_video fits every stem before the analysis and the optimisation: with no CLIP and no encoder at all,
    the refusal still comes first (any optimisation would fail on them), and no file is written."""
    from soundclip_core.video import make_video

    audio, _, _ = kicks_and_hats(6.0)
    stem = as_audio(audio.waveform[0, :3 * RATE].numpy(), RATE)
    music = MusicFrames(pulse_bands="20-150Hz:0-1", motion_bands="20-150Hz:2-3")
    roles = {f"{role}_audio": stem} if role in ("pulse", "motion") else {}
    with pytest.raises(AnalysisError, match=f"the {role} stem .*3.00 s long and the song 6.00 s") as refused:
        make_video(tmp_path / "v.mp4", generator, None, None, audio, generator.ws_from_seed(0), fps=FPS, steps=5,
                   plan=MusicCut("beats"), music=music, roles=roles, beat_audio=stem if role == "beat" else None,
                   meaning_audio=stem if role == "meaning" else None)
    assert f"give the {role} role a stem" in refused.value.fix and not (tmp_path / "v.mp4").exists()
    if role == "beat":  # the nodes' path (Sound to Keyframes): refused before the windows are encoded
        with pytest.raises(AnalysisError, match="the beat stem"):
            music_keyframes(generator, None, None, audio, generator.ws_from_seed(0), MusicCut("beats"),
                            beat_audio=stem, steps=5)


def test_a_meaning_stem_is_heard_in_the_songs_windows_instead_of_the_song(generator):
    """The keyframes' targets are the encoder's embeddings of the meaning stem (resampled to the song's rate) in the
    song's windows; the keyframe times stay the song's."""
    song, _, _ = kicks_and_hats(4.0)
    t = np.arange(4 * 16000) / 16000
    stem = as_audio(0.3 * np.sin(2 * np.pi * 440 * t), 16000)  # the "vocals": a tone at 16 kHz
    clip = stand_in_clip()
    heard = []

    class Recording(BandEncoder):
        def encode(self, audio, **kwargs):
            heard.append(audio)
            return super().encode(audio)

    with pytest.warns(UserWarning, match="the meaning stem was resampled from 16000 Hz"):
        keyframes, _, _ = music_keyframes(generator, clip, Recording(clip.space), song, generator.ws_from_seed(0),
                                          MusicCut(), window=2.0, hop=2.0, steps=1, meaning_audio=stem)
    fitted = stem.resample(RATE)
    assert len(heard) == 2 and keyframes.times.tolist() == [1.0, 3.0] and keyframes.duration == song.duration
    for clip_heard, (start, end) in zip(heard, [(0.0, 2.0), (2.0, 4.0)], strict=True):
        assert clip_heard.sample_rate == RATE and torch.equal(clip_heard.waveform, fitted.window(start, end).waveform)


# -- blends of sources ----------------------------------------------------------------------------------------

def test_chroma_blends_the_sources_frame_by_frame(generator):
    """A C note, then an A note: pitch class C (0) feeds source 0 of 2, A (9) source 1 (k mod 2); the source
    path is sum_i b_i(t) w_i with weights summing to 1, and the edit rides on top of it."""
    t = np.arange(2 * RATE) / RATE
    notes = np.concatenate([np.sin(2 * np.pi * 261.63 * t), np.sin(2 * np.pi * 440.0 * t)]) * 0.3
    audio = as_audio(notes, RATE)
    keyframes = still(generator, 4.0)
    sources = torch.cat([generator.ws_from_seed(20), generator.ws_from_seed(21)])
    n = frame_count(audio.waveform.shape[-1], RATE, FPS)
    settings = MusicFrames(blend_smoothing=0.0)
    reactive = music_reactive(generator, keyframes, audio, FPS, n, settings, sources=sources)
    b = reactive.blend
    assert b.shape == (n, 2) and torch.allclose(b.sum(1), torch.ones(n))
    assert float(b[5:35, 0].min()) > 0.6 and float(b[45:75, 1].min()) > 0.6
    curves = analyze(audio).curves(FPS)
    chroma = np.stack([curves[f"chroma_{c}"] for c in ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#",
                                                       "B")], 1)
    folded = torch.from_numpy(np.stack([chroma[:, 0::2].sum(1), chroma[:, 1::2].sum(1)], 1)).float()
    assert torch.allclose(b, folded / folded.sum(1, keepdim=True), atol=1e-5)
    plain = frames(keyframes, n)
    blended = frames(keyframes, n, reactive)
    base = torch.einsum("bs,snd->bnd", b, sources)
    assert torch.allclose(blended, base + plain - keyframes.source, atol=1e-5)


def test_named_curves_blend_with_softmax_and_bad_blends_are_refused(generator):
    audio, kicks, _ = kicks_and_hats()
    keyframes = still(generator, 6.0)
    sources = torch.cat([generator.ws_from_seed(20 + i) for i in range(2)])
    n = frame_count(audio.waveform.shape[-1], RATE, FPS)
    settings = MusicFrames(blend_by="onset_20-150Hz, onset_4000-11025Hz", blend_smoothing=0.0, blend_mode="softmax")
    b = music_reactive(generator, keyframes, audio, FPS, n, settings, sources=sources).blend
    assert torch.allclose(b.sum(1), torch.ones(n)) and float(b[np.floor(kicks * FPS).astype(int), 0].min()) > 0.9
    many = torch.cat([generator.ws_from_seed(i) for i in range(13)])
    with pytest.raises(SoundClipError, match="12 pitch classes"):
        music_reactive(generator, keyframes, audio, FPS, n, MusicFrames(), sources=many)
    with pytest.raises(SoundClipError, match="1 blend curves for 2 sources"):
        music_reactive(generator, keyframes, audio, FPS, n, MusicFrames(blend_by="rms"), sources=sources)
    with pytest.raises(SoundClipError, match="blend mode"):
        music_reactive(generator, keyframes, audio, FPS, n, MusicFrames(blend_mode="max"), sources=sources)


def test_a_separate_beat_audio_cuts_the_song_on_its_beats(accented):
    """A drone has no beats of its own; a click track given as beat_audio (a drum stem) cuts it on the clicks."""
    from soundclip_core.video.music import plan_windows

    clicks_audio, clicks_analysis, _ = accented
    t = np.arange(8 * RATE) / RATE
    drone = as_audio(0.3 * np.sin(2 * np.pi * 220 * t), RATE)
    windows, analysis = plan_windows(drone, MusicCut("bars"), beat_audio=clicks_audio)
    assert analysis is None and windows.cut == "bars" and windows.note == ""  # the song itself was not analysed
    assert edges(windows)[1:-1] == pytest.approx(list(clicks_analysis.bars.downbeats[1:]), abs=1 / RATE)
    own, _ = plan_windows(drone, MusicCut("bars"))
    assert own.cut == "fixed" and "no bars to cut on" in own.note


# -- a song already heard (Analyze Sound, Semantic Curves) drives the video ------------------------------------

def _refuse_analysis(monkeypatch) -> None:
    import soundclip_core.analysis as analysis_package

    def refuse(*args, **kwargs):
        raise AssertionError("the song was analysed again")

    monkeypatch.setattr(analysis_package, "analyze", refuse)


def test_a_hearing_drives_the_frames_without_analysing_again(generator, monkeypatch):
    """A hearing with a pulse stem and a (stand-in) semantic curve: the strength follows label_rain, the bass
    band pulses from the hearing's pulse stem exactly as from the stem given directly, and nothing is analysed."""
    from soundclip_core.analysis import hear

    song = as_audio(0.2 * chord(6.0, RATE), RATE)  # no kicks of its own
    stem, _, _ = kicks_and_hats()
    heard = hear(song, FPS, stems={"pulse": stem}, bands=((20.0, 150.0), (4000.0, 11025.0)))
    rain = np.linspace(0.0, 1.0, heard.frame_count, dtype=np.float32) ** 2
    heard = heard.with_curves({"label_rain": rain})
    keyframes = still(generator, 6.0)
    n = frame_count(song.waveform.shape[-1], RATE, FPS)
    settings = MusicFrames(strength_curve="label_rain", pulse_bands="20-150Hz:0-1")
    direct = music_reactive(generator, keyframes, song, FPS, n, MusicFrames(pulse_bands="20-150Hz:0-1"), pulse=0.8,
                            pulse_audio=stem)
    _refuse_analysis(monkeypatch)
    reactive = music_reactive(generator, keyframes, song, FPS, n, settings, pulse=0.8, hearing=heard)
    assert heard.frame_count == n
    assert torch.allclose(reactive.strength, torch.from_numpy(Envelope().apply(rain, FPS)).float())
    assert torch.equal(reactive.drives[0].curve, direct.drives[0].curve) and float(direct.drives[0].curve.max()) > 0.5
    with pytest.raises(SoundClipError, match="no curve named 'label_snow'"):
        music_reactive(generator, keyframes, song, FPS, n, MusicFrames(strength_curve="label_snow"), hearing=heard)
    with pytest.raises(SoundClipError, match="pulse stem without the band.s. 500-1000Hz"):
        music_reactive(generator, keyframes, song, FPS, n, MusicFrames(pulse_bands="500-1000Hz:0-1"), hearing=heard)
    with pytest.raises(SoundClipError, match="one value per frame at 20 fps, the video is at 10 fps") as other:
        music_reactive(generator, keyframes, song, 10, n // 2, settings, hearing=heard)
    assert "set Analyze Sound's fps to 10" in other.value.fix
    with pytest.raises(SoundClipError, match="heard 6.00 s of sound, the song is 3.00 s long"):
        music_reactive(generator, still(generator, 3.0), as_audio(0.2 * chord(3.0, RATE), RATE), FPS, n // 2,
                       settings, hearing=heard)


def test_keyframes_cut_on_a_hearings_beat_stem_without_analysing_again(accented, monkeypatch):
    """A drone heard with a click track as its beat stem: the cut on bars follows the stem's downbeats."""
    from soundclip_core.analysis import hear
    from soundclip_core.video.heard import check_hearing
    from soundclip_core.video.music import plan_windows

    clicks_audio, clicks_analysis, _ = accented
    t = np.arange(8 * RATE) / RATE
    drone = as_audio(0.3 * np.sin(2 * np.pi * 220 * t), RATE)
    heard = hear(drone, FPS, stems={"beat": clicks_audio})
    _refuse_analysis(monkeypatch)
    windows, analysis = plan_windows(drone, MusicCut("bars"), analysis=check_hearing(heard, drone).rhythm)
    assert analysis is heard.rhythm and windows.cut == "bars" and windows.note == ""
    assert edges(windows)[1:-1] == pytest.approx(list(clicks_analysis.bars.downbeats[1:]), abs=1 / RATE)
