"""The instant-video nodes as ComfyUI runs them (under inference mode), and the song-to-instant-video example."""

from __future__ import annotations

import importlib
import json
import math

import pytest
import torch
from comfy_workflow import CORE_DEFINITIONS, run_prompt, to_api_prompt
from pack_loading import pack_nodes
from paths import ROOT
from tiny_models import write_sound, write_workflow_models

from soundclip_core.audio import Audio
from soundclip_core.clip import load_clip
from soundclip_core.directions import compute_table, load_table, save_table
from soundclip_core.directions.files import style_layout_json
from soundclip_core.errors import Cancelled, SoundClipError
from soundclip_core.generators import load_generator
from soundclip_core.image import to_comfy_image
from soundclip_core.noise_maps import decode
from soundclip_core.video import write_mp4
from soundclip_core.video.frames import SYNTHESIS_CHUNK, to_uint8_frames

SECONDS, RATE = 3.0, 22050
TABLE = "landscape.table.safetensors"  # the example's table_file, beside the generator


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_workflow_models(home, with_arcface=False)
    write_sound(home / "input" / "song.wav", seconds=SECONDS, rate=RATE)
    generator = load_generator(home / "stylegan2" / "landscape.pt", "cpu")
    clip = load_clip(None, home / "clip_soundclip" / "ViT-B-32.pt", "cpu")
    table = compute_table(generator, clip, "finite", images=2, stats_samples=400, max_resolution=None)
    save_table(table, home / "stylegan2" / TABLE, style_layout_json(generator))
    return home


@pytest.fixture(scope="module")
def nodes(home):
    with pack_nodes(home) as nodes_and_pack:
        yield nodes_and_pack


def _models(nodes):
    (song,) = nodes["LoadAudio"].load("song.wav", 0.0, 0.0)
    (encoder,) = nodes["AudioEncoderLoader"].load("resnet18_57.pth", "auto")
    (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
    generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
    (source,) = nodes["LatentFromSeed"].sample(generator, 7, 1, 0.7)
    return song, encoder, clip, generator, source


def _render(nodes, heard, song, generator, source, clip, alpha=3.0, **optional):
    return nodes["InstantVideo"].render(heard, song, generator, source, clip, TABLE, "a photo", alpha, 0.02, "", 0.0,
                                        0.0, "const", 4, 0.0, **optional)


def test_hear_once_then_edit_every_frame_under_inference_mode(nodes, home):
    nodes, _ = nodes
    with torch.inference_mode():
        song, encoder, clip, generator, source = _models(nodes)
        (heard,) = nodes["HearFrames"].hear(song, encoder, 10.0, 1.0, 0.2)
        images, audio, fps = _render(nodes, heard, song, generator, source, clip)
        still, _, _ = _render(nodes, heard, song, generator, source, clip, alpha=0.0)
        table = load_table(home / "stylegan2" / TABLE, generator)
        linked, _, _ = _render(nodes, heard, song, generator, source, clip, table=table)
        curve = [0.0, 1.0] * 15  # alpha x curve: every other frame unedited
        curved, _, _ = _render(nodes, heard, song, generator, source, clip, alpha_curve=curve)
        unedited = to_comfy_image(decode(generator, source["ws"].expand(30, -1, -1), batch_size=SYNTHESIS_CHUNK))
    n = math.ceil(SECONDS * 10)
    assert heard["fps"] == 10.0 and heard["embedding"].batch_size == n
    assert images.shape == (n, 32, 32, 3) and fps == 10.0
    assert audio["waveform"].shape == (1, 1, round(n / 10 * RATE)) and audio["sample_rate"] == RATE
    assert torch.equal(still, unedited) and (images - unedited).abs().amax() > 0.01
    assert torch.equal(linked, images)  # a connected table is the same table as the file
    assert torch.equal(curved[0::2], unedited[0::2]) and torch.allclose(curved[1::2], images[1::2], atol=1e-6)


def test_instant_node_guards_table_and_cancel(nodes, monkeypatch):
    nodes, _ = nodes
    with torch.inference_mode():
        song, encoder, clip, generator, source = _models(nodes)
        (heard,) = nodes["HearFrames"].hear(song, encoder, 4.0, 1.0, 0.0)
        with pytest.raises(SoundClipError, match="table_file is empty"):
            nodes["InstantVideo"].render(heard, song, generator, source, clip, " ", "a photo", 3.0, 0.02, "", 0.0,
                                         0.0, "const", 4, 0.0)
        with pytest.raises(SoundClipError, match="missing.safetensors: no StyleSpace table here"):
            nodes["InstantVideo"].render(heard, song, generator, source, clip, "missing.safetensors", "a photo", 3.0,
                                         0.02, "", 0.0, 0.0, "const", 4, 0.0)
        with pytest.raises(SoundClipError, match="alpha_curve must be numbers"):
            _render(nodes, heard, song, generator, source, clip, alpha_curve=["loud"] * 12)
        instant_nodes = importlib.import_module(type(nodes["InstantVideo"]).__module__)
        monkeypatch.setattr(instant_nodes.comfy_env, "interrupted", lambda: True)
        with pytest.raises(Cancelled, match="frame 0"):
            _render(nodes, heard, song, generator, source, clip)
        with pytest.raises(Cancelled, match="encoding"):
            nodes["HearFrames"].hear(song, encoder, 4.0, 1.0, 0.0)


def test_the_song_to_instant_video_example_runs_with_core_video_nodes_emulated(nodes, home, tmp_path):
    """The example graph, executed node by node as ComfyUI would; core CreateVideo / SaveVideo emulated (H.264 +
    AAC at the VIDEO's frame rate). beta is lowered for the tiny random models (their relevances are small)."""
    classes, _ = nodes
    workflow = json.loads((ROOT / "example_workflows" / "A song to an instant video.json").read_text())
    definitions = {**CORE_DEFINITIONS, **{f"SoundCLIP_{k}": v.INPUT_TYPES() for k, v in classes.items()}}
    prompt = to_api_prompt(workflow, definitions)
    saved = []

    def create_video(images, fps, audio=None):
        return ({"images": images, "fps": fps, "audio": audio},)

    def save_video(video, filename_prefix, format, codec):
        path = tmp_path / "output" / f"{filename_prefix}_00001_.mp4"
        batches = (to_uint8_frames(chunk.permute(0, 3, 1, 2) * 2 - 1) for chunk in video["images"].split(8))
        saved.append(write_mp4(path, batches, video["fps"], Audio.from_comfy(video["audio"])[0]))
        return ()

    for entry in prompt.values():
        if entry["class_type"] == "SoundCLIP_InstantVideo":
            entry["inputs"]["beta"] = 0.02
        if entry["class_type"] == "SoundCLIP_ComputeStyleSpaceTable":  # the linked table, small for a tiny model
            entry["inputs"]["samples"] = 2
    run_prompt(prompt, {f"SoundCLIP_{k}": type(v) for k, v in classes.items()},
               {"CreateVideo": create_video, "SaveVideo": save_video})
    (path,) = saved
    import av

    with av.open(str(path)) as container:
        assert float(container.streams.video[0].average_rate) == 24.0
        assert sum(1 for _ in container.decode(video=0)) == SECONDS * 24
    with av.open(str(path)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
        assert abs(samples / container.streams.audio[0].rate - SECONDS) < 0.05
