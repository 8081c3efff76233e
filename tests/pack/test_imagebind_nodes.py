"""ImageBind through the pack's generic nodes: the encoder loader detects it, the CLIP loader offers the same file
(its ViT-H-14 towers), and a sound and a text from them mix in one space."""

from __future__ import annotations

import torch
from imagebind_formats import write_imagebind
from pack_loading import pack_nodes

from soundclip_core.clip import VIT_H_SPACE
from soundclip_core.weights import KIND_FOLDERS


def test_one_imagebind_file_is_the_encoder_and_the_clip_in_the_nodes(tmp_path):
    folder = tmp_path / KIND_FOLDERS["audio_encoder"]
    folder.mkdir(parents=True)
    write_imagebind(folder / "imagebind_huge.pth")
    with pack_nodes(tmp_path) as (nodes, _):
        assert "imagebind" in nodes["AudioEncoderLoader"].INPUT_TYPES()["required"]["kind"][0]
        assert "imagebind_huge.pth" in nodes["CLIPLoader"].INPUT_TYPES()["required"]["clip_name"][0]
        assert "ViT-H-14" in nodes["CLIPLoader"].INPUT_TYPES()["required"]["arch"][0]
        with torch.inference_mode():
            (encoder,) = nodes["AudioEncoderLoader"].load("imagebind_huge.pth", "auto")
            (clip,) = nodes["CLIPLoader"].load("imagebind_huge.pth", "ViT-H-14")
            sound = {"waveform": torch.randn(1, 1, 3 * 16000) * 0.1, "sample_rate": 16000}
            embedding, _ = nodes["AudioEncode"].encode(sound, encoder, "average", 0.0)
            text, _ = nodes["TextEncode"].encode(clip, "a dog barking")
            mixed, description = nodes["EmbeddingMix"].mix(embedding, 1.0, text, 0.5)
    assert encoder.kind == "imagebind" and embedding.space == text.space == clip.space == VIT_H_SPACE
    assert VIT_H_SPACE in description
