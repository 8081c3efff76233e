"""The nodes as ComfyUI runs them: a whole graph under torch.inference_mode(), outside ComfyUI."""

from __future__ import annotations

import sys

import pytest
import torch
from pack_loading import import_pack, pack_nodes
from tiny_models import write_sound, write_workflow_models

from soundclip_core.errors import CheckpointError, SoundClipError


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_workflow_models(home, with_arcface=False)
    write_sound(home / "input" / "rain.wav")
    write_sound(home / "input" / "fire.wav", seed=1)
    with pack_nodes(home) as (nodes, _):
        yield nodes


def test_a_whole_graph_under_inference_mode(nodes):
    assert "rain.wav" in nodes["LoadAudio"].INPUT_TYPES()["required"]["audio"][0]
    choices = nodes["StyleGANLoad"].INPUT_TYPES()["required"]["generator_name"][0]
    assert "landscape.pt" in choices and "metfaces.pkl" in choices  # local files and known models
    with torch.inference_mode():
        (rain,) = nodes["LoadAudio"].load("rain.wav", 0.5, 1.0)
        (fire,) = nodes["LoadAudio"].load("fire.wav", 0.0, 0.0)
        assert rain["waveform"].shape == (1, 1, 22050) and rain["sample_rate"] == 22050
        (encoder,) = nodes["AudioEncoderLoader"].load("resnet18_57.pth", "auto")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        generator, info = nodes["StyleGANLoad"].load("landscape.pt")
        assert "32 px" in info
        sound, _ = nodes["AudioEncode"].encode(rain, encoder, "average", 0.0)
        other, _ = nodes["AudioEncode"].encode(fire, encoder, "window", 0.5)
        text, _ = nodes["TextEncode"].encode(clip, "a stormy sea")
        target, description = nodes["EmbeddingMix"].mix(sound, 1.0, text, 0.5)
        assert "openai/ViT-B-32" in description
        (batch,) = nodes["EmbeddingBatch"].stack(sound, other)
        (source,) = nodes["LatentFromSeed"].sample(generator, 7, 1, 0.7)
        edited, report = nodes["LatentOptimize"].run(generator, clip, target, source, "landscape", 5, 0.05, -1.0,
                                                     -1.0, "freeze", "0-3", 0, "fp32", "area", 2)
        grid, _ = nodes["LatentOptimize"].run(generator, clip, batch, source, "custom", 2, 0.05, 0.01, 0.0,
                                              "fixed", "1,1,1,1,1,1,1,2", 0, "fp32", "area", 1)
        (mixed,) = nodes["StyleMix"].mix(edited, source, "")
        (image,) = nodes["Decode"].decode(generator, mixed, "const")
        (images,) = nodes["Decode"].decode(generator, grid, "const")
    assert "CLIP similarity" in report
    assert torch.equal(edited["ws"][:, 4:], source["ws"][:, 4:])  # frozen layers untouched
    assert torch.equal(mixed["ws"][:, :4], edited["ws"][:, :4])
    assert image.shape == (1, 32, 32, 3) and 0 <= float(image.min()) and float(image.max()) <= 1
    assert images.shape == (2, 32, 32, 3)


def test_node_errors_are_clear(nodes):
    with torch.inference_mode():
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        wrong = {"ws": torch.zeros(1, 18, 512), "num_ws": 18, "w_dim": 512, "generator": "ffhq.pt"}
        with pytest.raises(SoundClipError, match="18 W\\+ layers"):
            nodes["Decode"].decode(generator, wrong, "const")
        with pytest.raises(CheckpointError, match="no stylegan2 model named 'nope.pt'"):
            nodes["StyleGANLoad"].load("nope.pt")
        with pytest.raises(SoundClipError, match="layer weights"):
            (source,) = nodes["LatentFromSeed"].sample(generator, 0, 1, 0.7)
            (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
            text, _ = nodes["TextEncode"].encode(clip, "x")
            nodes["LatentOptimize"].run(generator, clip, text, source, "custom", 1, 0.1, -1, -1, "fixed", "1,a", 0,
                                        "fp32", "area", 1)


def test_output_files_are_numbered_as_comfyui_does_and_stay_in_the_output_folder(tmp_path, monkeypatch):
    import_pack()
    comfy_env = sys.modules["soundclip_pack.nodes.comfy_env"]
    monkeypatch.chdir(tmp_path)  # outside ComfyUI the output folder is ./output
    first = comfy_env.output_file("soundclip/video", ".mp4")
    assert first == (tmp_path / "output" / "soundclip" / "video_00001_.mp4").resolve() and first.parent.is_dir()
    first.write_bytes(b"x")
    (first.parent / "video_00007_.mp4").write_bytes(b"x")
    assert comfy_env.output_file("soundclip/video", ".mp4").name == "video_00008_.mp4"  # one past the highest
    assert comfy_env.output_file("soundclip/video", ".png").name == "video_00001_.png"
    with pytest.raises(SoundClipError, match="leaves the output folder"):
        comfy_env.output_file("../escape", ".png")
