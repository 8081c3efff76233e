"""The instant-edit nodes as ComfyUI runs them (under torch.inference_mode()), outside ComfyUI."""

from __future__ import annotations

import pytest
import torch
from pack_loading import pack_nodes
from tiny_models import write_workflow_models

from soundclip_core.directions import DEFAULT_BETA
from soundclip_core.errors import SoundClipError


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_workflow_models(home, with_arcface=False)
    return home


@pytest.fixture(scope="module")
def nodes(home):
    with pack_nodes(home) as (nodes, _):
        yield nodes


def test_table_direction_apply_and_decode_under_inference_mode(nodes, home):
    with torch.inference_mode():
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        target, _ = nodes["TextEncode"].encode(clip, "rain")
        (latent,) = nodes["LatentFromSeed"].sample(generator, 3, 2, 0.7)
        table, info = nodes["ComputeStyleSpaceTable"].compute(generator, clip, "gradient", 2, 5)
        cached = list((home / "soundclip_tables").glob("*.safetensors"))
        assert [p.name for p in cached] == [p.name for p in cached if ".partial." not in p.name] and len(cached) == 1
        assert table.generator in cached[0].name and f"{table.layout.total} channels" in info
        again, _ = nodes["ComputeStyleSpaceTable"].compute(generator, clip, "gradient", 2, 5)
        assert torch.equal(again.rows, table.rows)  # read back from models/soundclip_tables
        direction, channels, info = nodes["SoundDirection"].direct(target, clip, "a photo of a landscape", table)
        assert channels == direction.moved(0.15) and f"{channels} of {table.layout.total} channels" in info
        (plain,) = nodes["Decode"].decode(generator, latent, "const")
        styles, _ = nodes["ApplyDirection"].apply(generator, latent, direction, 0.0, 0.1, "")
        (same,) = nodes["Decode"].decode(generator, latent, "const", styles)
        styles, report = nodes["ApplyDirection"].apply(generator, latent, direction, 4.0, 0.1, "")
        (edited,) = nodes["Decode"].decode(generator, latent, "const", styles)
        coarse, _ = nodes["ApplyDirection"].apply(generator, latent, direction, 4.0, 0.1, "0-1")
        stacked, _ = nodes["ApplyDirection"].apply(generator, latent, direction, 4.0, 0.1, "", styles)
        left = torch.zeros(1, 32, 32)
        left[..., :16] = 1  # a MASK: the edit in the left half only
        (confined,) = nodes["Decode"].decode(generator, latent, "const", styles, left)
        with pytest.raises(SoundClipError, match="no edited styles are connected"):
            nodes["Decode"].decode(generator, latent, "const", None, left)
    assert torch.equal(confined[:, :, 16:], plain[:, :, 16:])  # right half: the source's pixels exactly
    assert torch.allclose(confined[:, :, :4], edited[:, :, :4], atol=1e-6)  # left, inside the feather: the edit
    assert torch.equal(same, plain) and same.shape == (2, 32, 32, 3)  # alpha 0: the source exactly
    assert (edited - plain).abs().mean() > 1e-3 and "channels moved by alpha 4" in report
    kept = [i for i, la in enumerate(generator.style_layers) if la.w_index > 1]
    source = generator.styles(latent["ws"])
    assert all(torch.equal(coarse["styles"][i], source[i]) for i in kept)  # other layers bit-identical
    assert any(not torch.equal(coarse["styles"][i], source[i]) for i in range(len(source)) if i not in kept)
    shift = [b - a for a, b in zip(source, styles["styles"], strict=True)]
    assert all(torch.allclose(c - b, d, atol=1e-5) for b, c, d in zip(styles["styles"], stacked["styles"], shift,
                                                                       strict=True))


def test_the_estimate_without_a_table_and_clear_errors(nodes):
    with torch.inference_mode():
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        target, _ = nodes["TextEncode"].encode(clip, "rain")
        quiet, _ = nodes["TextEncode"].encode(clip, "a quiet room")
        (latent,) = nodes["LatentFromSeed"].sample(generator, 3, 1, 0.7)
        direction, channels, info = nodes["SoundDirection"].direct(target, clip, "", None, generator, quiet, 2)
        assert direction.method == "estimate" and "estimate" in info
        assert channels == int((direction.scores.abs() >= DEFAULT_BETA).any(dim=0).sum()) > 0
        styles, _ = nodes["ApplyDirection"].apply(generator, latent, direction, 2.0, 0.0, "")
        (image,) = nodes["Decode"].decode(generator, latent, "const", styles)
        assert image.shape == (1, 32, 32, 3)
        with pytest.raises(SoundClipError, match="noise maps"):  # checked as the latent's, not deep in synthesis
            nodes["Decode"].decode(generator, latent, "const", dict(styles, noise=[torch.zeros(1, 3, 3)]))
        with pytest.raises(SoundClipError, match="needs a table or a generator"):
            nodes["SoundDirection"].direct(target, clip, "a photo")
        with pytest.raises(SoundClipError, match="no channel would move"):
            nodes["ApplyDirection"].apply(generator, latent, direction, 2.0, direction.largest + 0.01, "")
