"""The video nodes as ComfyUI runs them (under inference mode) and `soundclip video` end to end."""

from __future__ import annotations

import importlib
import math

import av
import pytest
import torch
from devices import TEST_DEVICE
from pack_loading import pack_nodes
from tiny_models import write_sound, write_workflow_models

from soundclip_core.cli import main
from soundclip_core.errors import Cancelled, SoundClipError
from soundclip_core.video import load_keyframes

SECONDS, RATE = 3.0, 22050


def frames_in(path) -> tuple[int, float, float]:
    """(video frames, frame rate, audio seconds) read back from an mp4."""
    with av.open(str(path)) as container:
        rate = float(container.streams.video[0].average_rate)
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
        seconds = samples / container.streams.audio[0].rate
    return frames, rate, seconds


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_workflow_models(home, with_arcface=False)
    write_sound(home / "input" / "song.wav", seconds=SECONDS, rate=RATE)
    return home


@pytest.fixture(scope="module")
def nodes(home):
    with pack_nodes(home) as nodes_and_pack:
        yield nodes_and_pack


def test_song_to_keyframes_to_frames_and_to_a_file_under_inference_mode(nodes, home):
    nodes, _ = nodes
    with torch.inference_mode():
        (song,) = nodes["LoadAudio"].load("song.wav", 0.0, 0.0)
        (encoder,) = nodes["AudioEncoderLoader"].load("resnet18_57.pth", "auto")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (source,) = nodes["LatentFromSeed"].sample(generator, 7, 1, 0.7)
        text, _ = nodes["TextEncode"].encode(clip, "an oil painting")
        keyframes, report = nodes["SoundKeyframes"].run(song, encoder, clip, generator, source, 1.5, 1.5, "landscape",
                                                        3, 0.1, "learned", "", 0, 1, "fp32", text, 0.5)
        images, audio, fps = nodes["KeyframesToFrames"].render(generator, keyframes, song, 10.0, 0.3, 0.3, "const",
                                                               4, 0.0)
        result = nodes["WriteSoundVideo"].write(generator, keyframes, song, 8.0, 0.0, 0.0, "const", 4, 23,
                                                "soundclip/song")
    assert report.startswith("2 keyframes at 0.8, 2.2 s") and keyframes.ws.shape == (2, 8, 32)
    n = math.ceil(SECONDS * 10)
    assert images.shape == (n, 32, 32, 3) and fps == 10.0
    assert audio["waveform"].shape == (1, 1, round(n / 10 * RATE)) and audio["sample_rate"] == RATE
    (path,) = result["result"]
    assert path.endswith("soundclip/song_00001_.mp4") and result["ui"]["images"][0]["subfolder"] == "soundclip"
    frames, rate, seconds = frames_in(path)
    assert (frames, rate) == (math.ceil(SECONDS * 8), 8.0) and abs(seconds - SECONDS) < 0.05


def test_node_guards_memory_cancel_and_paths(nodes, monkeypatch):
    nodes, _ = nodes
    with torch.inference_mode():
        (song,) = nodes["LoadAudio"].load("song.wav", 0.0, 0.0)
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        keyframes = load_keyframes_for(generator)
        with pytest.raises(SoundClipError, match="memory budget.*Write Sound Video"):
            nodes["KeyframesToFrames"].render(generator, keyframes, song, 24.0, 0.0, 0.0, "const", 4, 1e-6)
        with pytest.raises(SoundClipError, match="leaves the output folder"):
            nodes["WriteSoundVideo"].write(generator, keyframes, song, 8.0, 0.0, 0.0, "const", 4, 23, "../../x")
        video_nodes = importlib.import_module(type(nodes["KeyframesToFrames"]).__module__)
        monkeypatch.setattr(video_nodes.comfy_env, "interrupted", lambda: True)
        with pytest.raises(Cancelled, match="frame 0"):
            nodes["KeyframesToFrames"].render(generator, keyframes, song, 24.0, 0.0, 0.0, "const", 4, 0.0)


def blend_one(latent):
    """The first latent of a WPLUS batch."""
    return {**latent, "ws": latent["ws"][:1]}


def load_keyframes_for(generator):
    from soundclip_core.video import Keyframes

    ws = torch.cat([generator.ws_from_seed(1), generator.ws_from_seed(2)])
    return Keyframes(ws, torch.tensor([0.5, 2.5], dtype=torch.float64), SECONDS, {})


def test_cli_video_writes_mp4_and_keyframes(home, tmp_path, capsys):
    m = home
    out, kf = tmp_path / "song.mp4", tmp_path / "song.safetensors"
    common = ["video", "--audio", str(home / "input" / "song.wav"),
              "--generator", str(m / "stylegan2" / "landscape.pt"),
              "--encoder", str(m / "audio_encoders" / "resnet18_57.pth"),
              "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"), "--device", str(TEST_DEVICE)]
    assert main([*common, "--fps", "8", "--window", "1.5", "--hop", "1.5", "--steps", "2", "--seed", "3",
                 "--text", "a storm", "--pulse", "0.3", "--motion", "0.3", "--out", str(out),
                 "--keyframes", str(kf)]) == 0
    frames, rate, seconds = frames_in(out)
    assert (frames, rate) == (24, 8.0) and abs(seconds - SECONDS) < 0.05
    keyframes = load_keyframes(kf)
    assert keyframes.ws.shape == (2, 8, 32) and keyframes.times.tolist() == [0.75, 2.25]
    assert keyframes.settings["text"] and "wrote" in capsys.readouterr().out
    bad = tmp_path / "bad.mp4"
    assert main([*common, "--fps", "0", "--out", str(bad)]) == 2
    assert "frame rate 0.0 is outside" in capsys.readouterr().err
    assert not bad.exists()
    short = tmp_path / "short.mp4"  # a window longer than the song: one window of the whole song, said so
    assert main([*common, "--window", "10", "--fps", "4", "--steps", "1", "--out", str(short)]) == 0
    assert f"shorter than one 10 s window: using one {SECONDS:.2f} s window" in capsys.readouterr().out
    assert frames_in(short)[0] == round(SECONDS * 4)
    from PIL import Image

    Image.new("RGB", (40, 30), (90, 140, 200)).save(tmp_path / "photo.png")  # your picture as the source
    photo_video = tmp_path / "photo.mp4"
    assert main([*common, "--image", str(tmp_path / "photo.png"), "--vgg", str(m / "perceptual" / "vgg16-397923af.pth"),
                 "--lpips-weights", str(m / "perceptual" / "vgg.pth"), "--invert-steps", "2", "--fps", "4",
                 "--window", "1.5", "--hop", "1.5", "--steps", "1", "--out", str(photo_video)]) == 0
    assert frames_in(photo_video)[0] == 12
    assert main([*common, "--image", str(tmp_path / "missing.png"), "--window", "1.5", "--out", str(bad)]) == 2
    assert "missing.png" in capsys.readouterr().err and not bad.exists()


def test_the_song_to_video_example_runs_with_core_video_nodes_emulated(nodes, home, tmp_path):
    """The example graph, executed node by node as ComfyUI would; core CreateVideo / SaveVideo are emulated as
    their ComfyUI implementations behave (SaveVideo: H.264 + AAC at the VIDEO's frame rate)."""
    import json

    from comfy_workflow import CORE_DEFINITIONS, run_prompt, to_api_prompt
    from paths import ROOT

    from soundclip_core.audio import Audio
    from soundclip_core.video import write_mp4
    from soundclip_core.video.frames import to_uint8_frames

    classes, _ = nodes
    write_sound(home / "input" / "long_song.wav", seconds=6.0, rate=RATE)  # longer than one 5 s window
    workflow = json.loads((ROOT / "example_workflows" / "A whole song to a video.json").read_text())
    definitions = {**CORE_DEFINITIONS, **{f"SoundCLIP_{k}": v.INPUT_TYPES() for k, v in classes.items()}}
    prompt = to_api_prompt(workflow, definitions)
    (load,) = [entry for entry in prompt.values() if entry["class_type"] == "SoundCLIP_LoadAudio"]
    load["inputs"]["audio"] = "long_song.wav"
    saved = []

    def create_video(images, fps, audio=None):
        return ({"images": images, "fps": fps, "audio": audio},)

    def save_video(video, filename_prefix, format, codec):
        path = tmp_path / "output" / f"{filename_prefix}_00001_.mp4"
        batches = (to_uint8_frames(chunk.permute(0, 3, 1, 2) * 2 - 1) for chunk in video["images"].split(8))
        saved.append(write_mp4(path, batches, video["fps"], Audio.from_comfy(video["audio"])[0]))
        return ()

    for entry in prompt.values():
        if entry["class_type"] == "SoundCLIP_SoundKeyframes":
            entry["inputs"]["steps"] = 2
    run_prompt(prompt, {f"SoundCLIP_{k}": type(v) for k, v in classes.items()},
               {"CreateVideo": create_video, "SaveVideo": save_video})
    (path,) = saved
    frames, rate, seconds = frames_in(path)
    assert (frames, rate) == (6 * 24, 24.0) and abs(seconds - 6.0) < 0.05


def test_the_song_cut_on_sections_example_runs_with_tiny_models(nodes, home, tmp_path):
    """The music example, executed as ComfyUI would, on a synthetic song of three parts: one keyframe per
    section, each with its own text, and an mp4 with the song written by Write Sound Video."""
    import json

    import numpy as np
    import soundfile
    from comfy_workflow import CORE_DEFINITIONS, run_prompt, to_api_prompt
    from music_signals import chord, click, place
    from paths import ROOT

    classes, _ = nodes
    rate, part = 22050, 10
    n = part * rate
    y = np.zeros(3 * n)
    y[:n] = 0.3 * chord(part, rate) + place(np.zeros(n), click(rate), np.arange(0, part, 0.5), rate)
    t = np.arange(n) / rate
    y[n:2 * n] = 0.3 * np.random.default_rng(0).standard_normal(n) * (np.floor(t * 8) % 2 == 0)
    y[2 * n:] = 0.3 * chord(part, rate, (220.0, 277.18, 329.63, 415.3))
    soundfile.write(home / "input" / "three_parts.wav", y.astype(np.float32), rate)
    workflow = json.loads((ROOT / "example_workflows" / "A song cut on its sections.json").read_text())
    definitions = {**CORE_DEFINITIONS, **{f"SoundCLIP_{k}": v.INPUT_TYPES() for k, v in classes.items()}}
    prompt = to_api_prompt(workflow, definitions)
    by_type = {entry["class_type"]: entry["inputs"] for entry in prompt.values()}
    by_type["SoundCLIP_LoadAudio"]["audio"] = "three_parts.wav"
    by_type["SoundCLIP_SoundKeyframes"]["steps"] = 2
    by_type["SoundCLIP_WriteSoundVideo"]["fps"] = 4.0
    outputs = run_prompt(prompt, {f"SoundCLIP_{k}": type(v) for k, v in classes.items()}, {})
    ids = {entry["class_type"]: node_id for node_id, entry in prompt.items()}
    keyframes, report = outputs[ids["SoundCLIP_SoundKeyframes"]]
    assert keyframes.settings["cut"] == "sections" and len(keyframes.settings["section_texts"]) == 3
    assert keyframes.ws.shape[0] == 6 and report.startswith("6 keyframes")  # 3 sections, each held
    starts = keyframes.times[::2].tolist()
    assert starts[1] - 0.5 == pytest.approx(10.0, abs=1.0) and starts[2] - 0.5 == pytest.approx(20.0, abs=1.0)
    (path,) = outputs[ids["SoundCLIP_WriteSoundVideo"]]
    frames, fps, seconds = frames_in(path)
    assert (frames, fps) == (3 * part * 4, 4.0) and abs(seconds - 3 * part) < 0.05


def test_cli_video_follows_the_music_and_says_when_it_falls_back(home, tmp_path, capsys):
    """`soundclip video --cut beats` on a song without beats: fixed windows and a note saying why; the section
    texts, strength curve, bass pulse on layers 0-3 and a blend of two seeds all run to an mp4; bad music
    settings are one clear error before any work."""
    m = home
    out, kf = tmp_path / "music.mp4", tmp_path / "music.safetensors"
    common = ["video", "--audio", str(home / "input" / "song.wav"),
              "--generator", str(m / "stylegan2" / "landscape.pt"),
              "--encoder", str(m / "audio_encoders" / "resnet18_57.pth"),
              "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"), "--device", str(TEST_DEVICE), "--fps", "4",
              "--steps", "1", "--window", "1.5", "--hop", "1.5"]
    assert main([*common, "--cut", "beats", "--section-texts", "at night; fireworks; rain; snow; dawn",
                 "--strength-curve", "rms", "--strength-envelope", "release=0.5", "--pulse", "0.5",
                 "--pulse-bands", "20-150Hz:0-3",
                 "--blend-seeds", "3,4", "--blend-smoothing", "0.5", "--out", str(out), "--keyframes", str(kf)]) == 0
    printed = capsys.readouterr().out
    assert "no beats to cut on" in printed and "5 section texts for" in printed and "unused" in printed, printed
    frames, rate, _ = frames_in(out)
    assert (frames, rate) == (round(SECONDS * 4), 4.0)
    keyframes = load_keyframes(kf)
    assert keyframes.settings["cut"] == "fixed" and keyframes.times.tolist() == [0.75, 2.25]  # the fallback
    bad = tmp_path / "bad.mp4"
    for flags, message in [(["--cut", "verses"], "invalid choice"), (["--every", "0", "--cut", "bars"], "every"),
                           (["--strength-envelope", "attack=-1"], "attack"),
                           (["--pulse-bands", "20-150Hz:0-40"], "outside 0-7"),
                           (["--section-texts", "a;;b"], "empty text")]:
        assert main([*common, *flags, "--out", str(bad)]) == 2
        assert message in capsys.readouterr().err and not bad.exists()


def test_frame_nodes_take_the_music_drives_under_inference_mode(nodes):
    """Keyframes to Frames with a strength curve, a bass pulse on layers 0-3 heard from a separate AUDIO and a
    blend of two seeds runs under inference mode (as ComfyUI calls it) and changes the frames; a layer range
    outside the generator is one clear error; Sound to Keyframes cuts the song on a drum stem's every other beat.
    (The formulas are tested in tests/core/video/test_music.py.)"""
    from soundclip_core.video import Keyframes

    nodes, _ = nodes
    with torch.inference_mode():
        (song,) = nodes["LoadAudio"].load("song.wav", 0.0, 0.0)
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (blend,) = nodes["LatentFromSeed"].sample(generator, 11, 2, 0.7)
        plain = load_keyframes_for(generator)
        keyframes = Keyframes(plain.ws, plain.times, SECONDS, {}, None, generator.ws_from_seed(5))
        render = nodes["KeyframesToFrames"].render
        base = (generator, keyframes, song, 10.0, 0.5, 0.0, "const", 4, 0.0)
        images, _, _ = render(*base, "rms", "release=0.3", "20-150Hz:0-3", "", song, None, blend, "chroma", 0.5,
                              "normalise")
        unpulsed, _, _ = render(*base, "rms", "release=0.3", "", "", None, None, blend, "chroma", 0.5, "normalise")
        plain_images, _, _ = render(*base)
    assert images.shape == plain_images.shape == (30, 32, 32, 3)
    from music_signals import click_track

    clicks, times = click_track(120, SECONDS, RATE)  # a drum stem cuts the song on its beats
    stem = {"waveform": torch.from_numpy(clicks).float()[None, None], "sample_rate": RATE}
    with torch.inference_mode():
        (encoder,) = nodes["AudioEncoderLoader"].load("resnet18_57.pth", "auto")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        cut, report = nodes["SoundKeyframes"].run(song, encoder, clip, generator, blend_one(blend), 1.5, 1.5,
                                                  "landscape", 1, 0.1, "learned", "", 0, 4, "fp32", None, 0.5,
                                                  "beats", 2, 0.2, "", stem)
    assert cut.settings["cut"] == "beats" and cut.ws.shape[0] == 2 * len(times[::2])
    assert cut.times[2::2].tolist() == pytest.approx([t + 0.1 for t in times[2::2]], abs=0.03)
    assert not torch.equal(unpulsed, plain_images)  # the strength and the blend changed the frames
    with pytest.raises(SoundClipError, match="outside 0-7"):
        render(*base, "", "", "20-150Hz:0-9")
