"""Where Is the Sound, Search by Sound and the region-confined edit, as ComfyUI runs them; the sky workflow."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from comfy_workflow import CORE_DEFINITIONS, run_prompt, to_api_prompt
from pack_loading import pack_nodes
from paths import ROOT
from PIL import Image
from tiny_models import write_sound, write_workflow_models

from soundclip_core.errors import Cancelled, SoundClipError
from soundclip_core.manipulate import feathered

WORKFLOW = ROOT / "example_workflows" / "A photo's sky made rainy (localised mask).json"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_workflow_models(home, with_arcface=False)
    with pack_nodes(home) as (nodes, _):
        yield nodes


def _sky_photo(height: int = 40, width: int = 48) -> torch.Tensor:
    """ComfyUI IMAGE [1, H, W, 3]: blue above, green below."""
    photo = torch.zeros(1, height, width, 3)
    photo[:, : height // 2] = torch.tensor([0.35, 0.55, 0.9])
    photo[:, height // 2:] = torch.tensor([0.2, 0.6, 0.2])
    return photo


def test_where_is_the_sound_gives_comfyuis_mask_at_the_pictures_size(nodes):
    with torch.inference_mode():
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        target, _ = nodes["TextEncode"].encode(clip, "the sky")
        overlay, mask, heat = nodes["WhereIsTheSound"].run(_sky_photo(), target, clip, 0.5, 1, 0.5)
    assert overlay.shape == (1, 40, 48, 3) and 0 <= float(overlay.min()) and float(overlay.max()) <= 1
    assert mask.shape == heat.shape == (1, 40, 48) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and float(heat.min()) == 0 and float(heat.max()) == 1
    assert torch.equal(mask, (heat >= 0.5).float())


def test_search_by_sound_returns_the_best_pictures_and_the_ranking(nodes, tmp_path):
    with torch.inference_mode():
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        target, _ = nodes["TextEncode"].encode(clip, "rain")
        batch = torch.rand(5, 32, 32, 3)
        best, ranking = nodes["SearchBySound"].run(target, clip, 2, "", batch)
        for i in range(3):
            Image.fromarray((batch[i].numpy() * 255).astype(np.uint8)).save(tmp_path / f"p{i}.png")
        (tmp_path / "bad.png").write_bytes(b"broken")
        from_folder, listing = nodes["SearchBySound"].run(target, clip, 3, str(tmp_path), None)
    lines = ranking.splitlines()
    assert best.shape == (2, 32, 32, 3) and len(lines) == 2 and lines[0].startswith("  1.")
    first = int(lines[0].split("#")[1])
    assert torch.allclose(best[0], batch[first], atol=1e-6)
    assert from_folder.shape == (3, 32, 32, 3) and "skipped" in listing and "bad.png" in listing
    with pytest.raises(SoundClipError, match="nothing to search"):
        nodes["SearchBySound"].run(target, clip, 2, "", None)


def test_search_by_sound_shows_its_indexing_and_cancel_keeps_what_was_encoded(nodes, tmp_path, monkeypatch):
    comfy_env = sys.modules[type(nodes["SearchBySound"]).__module__].comfy_env
    bars = []

    class ProgressBar:  # ComfyUI's comfy.utils.ProgressBar, recording
        def __init__(self, total):
            bars.append([])

        def update_absolute(self, value, total, preview=None):
            bars[-1].append((value, total))

    monkeypatch.setattr(comfy_env, "comfy_utils", SimpleNamespace(ProgressBar=ProgressBar))
    monkeypatch.setattr(comfy_env, "interrupted", lambda: bool(bars) and len(bars[-1]) == 2)  # Cancel after a batch
    for i in range(20):
        Image.fromarray(np.full((24, 24, 3), i * 12, np.uint8)).save(tmp_path / f"p{i:02}.png")
    with torch.inference_mode():
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        target, _ = nodes["TextEncode"].encode(clip, "rain")
        with pytest.raises(Cancelled, match="after 16 of 20 new files"):
            nodes["SearchBySound"].run(target, clip, 3, str(tmp_path), None)
        assert bars == [[(0, 20), (16, 20)]]
        monkeypatch.setattr(comfy_env, "interrupted", lambda: False)
        _, listing = nodes["SearchBySound"].run(target, clip, 3, str(tmp_path), None)
    assert bars[-1] == [(0, 4), (4, 4)] and len(listing.splitlines()) == 3  # only the 4 files not reached


def test_latent_optimize_refuses_an_all_black_mask(nodes):
    with torch.inference_mode():
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        target, _ = nodes["TextEncode"].encode(clip, "rain")
        (source,) = nodes["LatentFromSeed"].sample(generator, 1, 1, 0.7)
        with pytest.raises(SoundClipError, match="all black"):
            nodes["LatentOptimize"].run(generator, clip, target, source, "landscape", 2, 0.1, -1.0, -1.0, "learned",
                                        "", 0, "fp32", "area", 10, None, 0, torch.zeros(1, 32, 32))


def test_the_sky_workflow_runs_with_tiny_models_and_keeps_the_edit_inside_the_mask(tmp_path, monkeypatch):
    """Load Image -> Invert; Text "the sky" -> Where Is the Sound -> MASK -> Latent Optimize (rain) -> Decode."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("workflow_builder", ROOT / "example_workflows" / "build.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    write_workflow_models(tmp_path / "models", with_arcface=False)
    write_sound(tmp_path / "rain.wav")
    Image.fromarray((_sky_photo()[0].numpy() * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    shown: dict[str, list] = {"saved": [], "previewed": []}

    def load_image(image):
        pixels = torch.from_numpy(np.asarray(Image.open(tmp_path / image).convert("RGB"), dtype=np.float32) / 255)
        return pixels[None], torch.zeros(1, *pixels.shape[:2])

    core = {"LoadImage": load_image,
            "SaveImage": lambda images, filename_prefix: shown["saved"].append(images) or (),
            "PreviewImage": lambda images: shown["previewed"].append(images) or ()}
    classes = builder.load_node_classes()
    definitions = {**CORE_DEFINITIONS, **{k: v.INPUT_TYPES() for k, v in classes.items()}}
    prompt = to_api_prompt(json.loads(WORKFLOW.read_text()), definitions)
    for entry in prompt.values():
        if entry["class_type"] in ("SoundCLIP_LatentOptimize", "SoundCLIP_InvertImage"):
            entry["inputs"]["steps"] = 3 if entry["class_type"] == "SoundCLIP_InvertImage" else 30
    outputs = run_prompt(prompt, classes, core)
    (edit,), (heat, reconstruction) = shown["saved"], shown["previewed"]
    assert heat.shape == (1, 40, 48, 3) and edit.shape == reconstruction.shape == (1, 32, 32, 3)
    where = next(i for i, e in prompt.items() if e["class_type"] == "SoundCLIP_WhereIsTheSound")
    outside = feathered(outputs[where][1], 32)[0, 0] == 0
    optimize = next(e for e in prompt.values() if e["class_type"] == "SoundCLIP_LatentOptimize")
    del optimize["inputs"]["region_mask"], optimize["inputs"]["perceptual"]
    run_prompt(prompt, classes, core)  # the same edit without the mask
    unmasked = shown["saved"][1]

    def moved(image):
        return float((image[0] - reconstruction[0]).abs().mean(-1)[outside].mean())

    assert 0 < moved(edit) < 0.5 * moved(unmasked)  # the mask held the rest of the photo (tiny models: not all)
