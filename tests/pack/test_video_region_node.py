"""Sound to Keyframes' located region under inference mode, as ComfyUI runs it: each keyframe's edit held outside
where its window's sound is in the source image."""

from __future__ import annotations

import pytest
import torch
from pack_loading import pack_nodes
from tiny_models import write_sound, write_workflow_models

from soundclip_core.errors import SoundClipError
from soundclip_core.noise_maps import decode


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_workflow_models(home, with_arcface=False)
    write_sound(home / "input" / "song.wav", seconds=3.0)
    with pack_nodes(home) as (instances, _):
        yield instances


def test_sound_to_keyframes_confines_each_keyframe_to_its_located_region(nodes):
    with torch.inference_mode():
        (song,) = nodes["LoadAudio"].load("song.wav", 0.0, 0.0)
        (encoder,) = nodes["AudioEncoderLoader"].load("resnet18_57.pth", "auto")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (source,) = nodes["LatentFromSeed"].sample(generator, 7, 1, 0.7)
        inputs = (song, encoder, clip, generator, source, 1.0, 1.0, "landscape", 20, 0.1, "learned", "", 0, 8, "fp32")
        free, _ = nodes["SoundKeyframes"].run(*inputs)
        held, report = nodes["SoundKeyframes"].run(*inputs, region_by_sound=True, region_threshold=0.5)
        with pytest.raises(SoundClipError, match="both a text and each window's sound"):
            nodes["SoundKeyframes"].run(*inputs, region_text="the sky", region_by_sound=True)
        before = decode(generator, source["ws"])
        moved = [(decode(generator, k.ws) - before).abs().mean() for k in (free, held)]
    assert held.settings["located_region"] == "each window's sound" and held.ws.shape == free.ws.shape
    assert float(moved[1]) < float(moved[0])  # held outside each region, the edit moves the picture less
