"""The StyleGAN3 example workflow, executed node by node as ComfyUI would (outside ComfyUI, whose
own integration test needs a checkout): a sound edits a tiny StyleGAN3-T pickle saved under the
real file name, the edit is decoded and saved."""

from __future__ import annotations

import json

import torch
from comfy_workflow import run_prompt, to_api_prompt
from pack_loading import import_pack
from paths import ROOT
from tiny_models import write_sound, write_workflow_models

CORE = {  # ComfyUI's core nodes, reduced to what the graph needs
    "SaveImage": ({"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {})}}, None),
    "PreviewImage": ({"required": {"images": ("IMAGE",)}}, None),
}


def test_stylegan3_workflow_runs_on_a_tiny_pickle(tmp_path, monkeypatch):
    write_workflow_models(tmp_path, with_arcface=False)
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path))
    classes = import_pack().NODE_CLASS_MAPPINGS
    workflow = json.loads((ROOT / "example_workflows" / "StyleGAN3, a purr to an animal.json").read_text())
    prompt = to_api_prompt(workflow, {**{k: v for k, (v, _) in CORE.items()},
                                      **{k: c.INPUT_TYPES() for k, c in classes.items()}})
    for entry in prompt.values():
        if entry["class_type"] == "SoundCLIP_LatentOptimize":
            entry["inputs"].update(steps=3, preview_every=1)
        if entry["class_type"] == "SoundCLIP_LoadAudio":
            write_sound(tmp_path / "input" / entry["inputs"]["audio"])
    loader = next(e for e in prompt.values() if e["class_type"] == "SoundCLIP_StyleGANLoad")
    assert loader["inputs"]["generator_name"] == "stylegan3-t-afhqv2-512x512.pkl"
    monkeypatch.chdir(tmp_path / "input")  # outside ComfyUI, the input folder is the working directory
    shown: dict[str, list] = {}

    def show(kind: str):
        return lambda images, **_: shown.setdefault(kind, []).append(images) or ()

    run_prompt(prompt, classes, {kind: show(kind) for kind in ("SaveImage", "PreviewImage")})
    (saved,), (preview,) = shown["SaveImage"], shown["PreviewImage"]
    assert saved.shape == preview.shape == (1, 32, 32, 3) and 0 <= float(saved.min()) <= float(saved.max()) <= 1
    assert not torch.equal(saved, preview)  # the sound moved the latent
