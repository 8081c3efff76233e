"""The example workflows load as ComfyUI expects and match our node declarations."""

from __future__ import annotations

import json

import pytest
from comfy_workflow import CORE_DEFINITIONS, run_prompt, to_api_prompt
from paths import ROOT

WORKFLOWS = sorted((ROOT / "example_workflows").glob("*.json"))


@pytest.fixture(scope="module")
def builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("workflow_builder", ROOT / "example_workflows" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_examples_exist():
    """Named by their titles: the template browser shows a custom node's template under its file name."""
    assert {p.stem for p in WORKFLOWS} == {
        "Sound to landscape", "Music to painting (WikiArt)", "Sound and text style mix on faces",
        "Several sounds, one seed", "AudioCLIP, a bark to a dog", "Your photo, inverted, then rain",
        "StyleGAN3, a purr to an animal", "A whole song to a video", "A portrait, aligned, laughing, pasted back",
        "A photo's sky made rainy (localised mask)", "A song to an instant video", "Teach three sounds, edit with one",
        "A song cut on its sections", "A semantic curve drives a weight", "Instant rain on a landscape"}


def test_committed_workflows_match_the_builder(builder):
    for name, workflow in builder.build_all().items():
        committed = json.loads((ROOT / "example_workflows" / f"{name}.json").read_text())
        assert committed == workflow, f"{name}.json is stale: run python example_workflows/build.py"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_is_consistent_and_converts(path, builder):
    workflow = json.loads(path.read_text())
    classes = builder.load_node_classes()
    definitions = {**CORE_DEFINITIONS, **{k: v.INPUT_TYPES() for k, v in classes.items()}}
    nodes = {n["id"]: n for n in workflow["nodes"]}
    assert workflow["last_node_id"] == max(nodes) and workflow["last_link_id"] == len(workflow["links"])
    for link_id, origin, origin_slot, target, target_slot, kind in workflow["links"]:
        assert nodes[origin]["outputs"][origin_slot]["type"] == kind
        assert link_id in nodes[origin]["outputs"][origin_slot]["links"]
        assert nodes[target]["inputs"][target_slot]["link"] == link_id
        assert nodes[target]["inputs"][target_slot]["type"] == kind
    prompt = to_api_prompt(workflow, definitions)
    for node_id, entry in prompt.items():
        cls = classes.get(entry["class_type"])
        if cls is None:
            continue
        spec = cls.INPUT_TYPES()
        assert set(spec["required"]) <= set(entry["inputs"]), (path.stem, node_id)
        for name, value in entry["inputs"].items():
            kind = {**spec["required"], **spec.get("optional", {})}[name][0]
            # the user's sounds and folders of sounds, listed from input/
            uploads = entry["class_type"] in ("SoundCLIP_LoadAudio", "SoundCLIP_TeachSounds")
            if isinstance(kind, list) and not isinstance(value, list) and not uploads:
                assert value in kind, f"{path.stem}: {entry['class_type']}.{name}={value!r} not offered"
    notes = [n for n in workflow["nodes"] if n["type"] == "MarkdownNote"]
    assert notes and "models/stylegan2/" in notes[0]["widgets_values"][0]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_nodes_do_not_overlap_on_the_canvas(path):
    title = 30  # the frontend draws a node's title bar above its `pos`
    boxes = [(n["pos"][0], n["pos"][1] - title, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1], n["type"])
             for n in json.loads(path.read_text())["nodes"]]
    for i, (ax0, ay0, ax1, ay1, a) in enumerate(boxes):
        for bx0, by0, bx1, by1, b in boxes[i + 1:]:
            assert not (ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1), f"{path.stem}: {a} overlaps {b}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_each_workflow_has_its_thumbnail(path, builder):
    """ComfyUI's template browser shows `<name>.jpg` beside `<name>.json`: it must be there and current."""
    import numpy as np
    from PIL import Image

    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file(), f"missing {thumbnail.name}: run python example_workflows/build.py"
    with Image.open(thumbnail) as image:
        assert image.format == "JPEG" and image.size == builder.THUMBNAIL_SIZE
        committed = np.asarray(image.convert("RGB"), dtype=np.float32)
    builder.load_node_classes()
    fresh = builder.render_thumbnail(json.loads(path.read_text()), path.stem,
                                     builder.display_names())
    assert np.abs(committed - np.asarray(fresh, dtype=np.float32)).mean() < 4, f"{thumbnail.name} is stale"
    assert committed.std() > 10  # a drawing, not a blank frame


def test_invert_workflow_runs_with_tiny_models(builder, tmp_path, monkeypatch):
    """Load Image -> Invert -> Sound-Guided Latent Optimize -> Decode -> Save, on tiny models saved under the
    file names the workflow expects."""
    import numpy as np
    import torch
    from PIL import Image
    from tiny_models import write_sound, write_workflow_models

    write_workflow_models(tmp_path / "models", with_arcface=False)
    write_sound(tmp_path / "rain.wav")  # read by Load Audio (SoundCLIP) from the input folder: here, the cwd
    Image.new("RGB", (48, 40), (90, 140, 200)).save(tmp_path / "photo.png")
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
    workflow = json.loads((ROOT / "example_workflows" / "Your photo, inverted, then rain.json").read_text())
    definitions = {**CORE_DEFINITIONS, **{k: v.INPUT_TYPES() for k, v in classes.items()}}
    prompt = to_api_prompt(workflow, definitions)
    for entry in prompt.values():
        if entry["class_type"] in ("SoundCLIP_LatentOptimize", "SoundCLIP_InvertImage"):
            entry["inputs"]["steps"] = 3
    run_prompt(prompt, classes, core)
    (edit,), (reconstruction,) = shown["saved"], shown["previewed"]
    assert edit.shape == reconstruction.shape == (1, 32, 32, 3)
    assert not torch.equal(edit, reconstruction)  # the sound changed the inverted photo
    assert len(list((tmp_path / "output" / "soundclip").glob("photo_rain_latent_*.png"))) == 1


def test_portrait_workflow_aligns_inverts_edits_and_pastes_back(builder, tmp_path, monkeypatch):
    """Load Image (a real portrait) -> Align Face (the real detector) -> Invert -> Optimize -> Decode -> Paste
    Back -> Save, on tiny models: the photo comes back whole, changed only inside the face's square."""
    import numpy as np
    import torch
    from photos import astronaut_path
    from PIL import Image
    from tiny_models import write_sound, write_workflow_models

    write_workflow_models(tmp_path / "models")
    write_sound(tmp_path / "laughing.wav")
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    photo = torch.from_numpy(np.asarray(Image.open(astronaut_path()).convert("RGB"), dtype=np.float32) / 255)
    saved, previewed = [], []
    core = {"LoadImage": lambda image: (photo[None], torch.zeros(1, *photo.shape[:2])),
            "SaveImage": lambda images, filename_prefix: saved.append(images) or (),
            "PreviewImage": lambda images: previewed.append(images) or ()}
    classes = builder.load_node_classes()
    workflow = json.loads((ROOT / "example_workflows" / "A portrait, aligned, laughing, pasted back.json").read_text())
    prompt = to_api_prompt(workflow, {**CORE_DEFINITIONS, **{k: v.INPUT_TYPES() for k, v in classes.items()}})
    for entry in prompt.values():
        if entry["class_type"] in ("SoundCLIP_LatentOptimize", "SoundCLIP_InvertImage"):
            entry["inputs"]["steps"] = 2
    run_prompt(prompt, classes, core)
    (pasted,), (reconstruction,) = saved, previewed
    assert pasted.shape == (1, 512, 512, 3) and reconstruction.shape == (1, 32, 32, 3)
    changed = (pasted[0] - photo).abs().amax(-1) > 1e-5  # (float rounding of the [-1, 1] round trip aside)
    rows, cols = torch.nonzero(changed, as_tuple=True)
    assert 0.05 < float(changed.float().mean()) < 0.2  # her face's square, about a tenth of the photo
    assert 100 < float(cols.float().mean()) < 300 and float(rows.float().mean()) < 200  # up where her face is


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_loaders_carry_their_models_for_the_missing_models_dialog(path, builder):
    """As ComfyUI's own templates: `properties.models` [{name, url, directory}] on each node that loads a file,
    URL and folder those of weights/manifest.json, so the frontend lists every absent file when it opens."""
    from soundclip_core.weights import KIND_FOLDERS, load_manifest

    manifest = {e.filename: e for e in load_manifest()}
    loaders = [n for n in json.loads(path.read_text())["nodes"] if n["type"] in builder.LOADER_KINDS]
    assert len(loaders) >= 3
    for node in loaders:
        models = node["properties"]["models"]
        files = [v for v in node["widgets_values"] if v in manifest]
        assert [m["name"] for m in models] == files and files, (node["type"], node["widgets_values"])
        for m in models:
            entry = manifest[m["name"]]
            assert m == {"name": entry.filename, "url": entry.urls[0], "directory": KIND_FOLDERS[entry.kind]}
            assert m["url"].startswith("https://")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_the_note_is_at_the_top_left_in_view_and_names_every_model(path):
    workflow = json.loads(path.read_text())
    (note,) = [n for n in workflow["nodes"] if n["type"] == "MarkdownNote"]
    others = [n for n in workflow["nodes"] if n is not note]
    scale, (dx, dy) = workflow["extra"]["ds"]["scale"], workflow["extra"]["ds"]["offset"]
    title = 30
    left, top = (note["pos"][0] + dx) * scale, (note["pos"][1] - title + dy) * scale
    right, bottom = (note["pos"][0] + note["size"][0] + dx) * scale, (note["pos"][1] + note["size"][1] + dy) * scale
    assert 0 <= left and 0 <= top and right <= 1280 and bottom <= 720  # inside a small laptop's canvas
    assert all(n["pos"][0] >= note["pos"][0] + note["size"][0] for n in others)  # nothing left of it
    text = note["widgets_values"][0]
    for model in (m for n in others for m in n["properties"].get("models", [])):
        assert f"models/{model['directory']}/{model['name']}` from {model['url']}" in text
    for sound in (n["widgets_values"][0] for n in others if n["type"] == "SoundCLIP_LoadAudio"):
        assert sound in text


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_seeds_are_saved_fixed_and_sounds_load_through_our_node(path, builder):
    """A "randomize" seed reruns a minutes-long optimisation on every Run; core Load Audio lets ComfyUI drop a
    missing sound's branch silently (see nodes/audio.py), ours fails the run with a message."""
    classes = builder.load_node_classes()
    nodes = json.loads(path.read_text())["nodes"]
    assert not any(n["type"] == "LoadAudio" for n in nodes)
    seeded = 0
    for node in nodes:
        cls = classes.get(node["type"])
        if cls is None:
            continue
        spec = cls.INPUT_TYPES()
        widgets = [name for name, d in {**spec["required"], **spec.get("optional", {})}.items()
                   if builder.is_widget(d)]
        if "seed" in widgets:
            assert node["widgets_values"][widgets.index("seed") + 1] == "fixed", node["type"]
            seeded += 1
    assert seeded >= 1


def test_semantic_curve_workflow_runs_with_tiny_models(builder, tmp_path, monkeypatch):
    """Analyze Sound -> Semantic Curves -> Sound Curve: the rain curve's value at frame 48 becomes the text's
    weight in Mix Embeddings, then the edit runs; the plot and the curve's bars are previewed."""
    pytest.importorskip("librosa", reason="the analysis needs librosa: pip install -e '.[test]'")
    import torch
    from tiny_models import write_sound, write_workflow_models

    write_workflow_models(tmp_path / "models", with_arcface=False)
    write_sound(tmp_path / "song.wav", seconds=6.0)
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    shown: dict[str, list] = {"saved": [], "previewed": []}
    core = {"SaveImage": lambda images, filename_prefix: shown["saved"].append(images) or (),
            "PreviewImage": lambda images: shown["previewed"].append(images) or ()}
    classes = builder.load_node_classes()
    workflow = json.loads((ROOT / "example_workflows" / "A semantic curve drives a weight.json").read_text())
    definitions = {**CORE_DEFINITIONS, **{k: v.INPUT_TYPES() for k, v in classes.items()}}
    prompt = to_api_prompt(workflow, definitions)
    for entry in prompt.values():
        if entry["class_type"] == "SoundCLIP_LatentOptimize":
            entry["inputs"]["steps"] = 2
    outputs = run_prompt(prompt, classes, core)
    by_type = {prompt[i]["class_type"]: out for i, out in outputs.items()}
    floats, _, schedule, _, bars, value, count = by_type["SoundCLIP_SoundCurve"]
    assert count == 144 and value == floats[48] and schedule.startswith("0:(")
    mix = next(i for i in prompt if prompt[i]["class_type"] == "SoundCLIP_EmbeddingMix")
    assert prompt[mix]["inputs"]["weight_b"][0] in [i for i in prompt if prompt[i]["class_type"] ==
                                                   "SoundCLIP_SoundCurve"]  # linked, not the widget's value
    (image,) = shown["saved"]
    plot, preview = shown["previewed"]
    assert image.shape == (1, 32, 32, 3) and plot.shape[0] == 1 and plot.shape[-1] == 3
    assert torch.equal(preview, bars) and bars.shape == (144, 64, 64, 3)


def test_instant_rain_workflow_runs_with_tiny_models_and_alpha_zero_is_the_source(builder, tmp_path, monkeypatch):
    """Load Audio -> table -> Sound Direction -> Apply Direction -> Decode(styles), on tiny models: the edit differs
    from the source; with alpha 0 (the widget an artist drags) it is the source exactly; the table is cached."""
    import torch
    from tiny_models import write_sound, write_workflow_models

    write_workflow_models(tmp_path / "models", with_arcface=False)
    write_sound(tmp_path / "rain.wav")
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    classes = builder.load_node_classes()
    workflow = json.loads((ROOT / "example_workflows" / "Instant rain on a landscape.json").read_text())
    definitions = {**CORE_DEFINITIONS, **{k: v.INPUT_TYPES() for k, v in classes.items()}}

    def run(alpha: float) -> tuple:
        shown: dict[str, list] = {"saved": [], "previewed": []}
        core = {"SaveImage": lambda images, filename_prefix: shown["saved"].append(images) or (),
                "PreviewImage": lambda images: shown["previewed"].append(images) or ()}
        prompt = to_api_prompt(workflow, definitions)
        for entry in prompt.values():
            if entry["class_type"] == "SoundCLIP_ComputeStyleSpaceTable":
                entry["inputs"]["samples"] = 2
            if entry["class_type"] == "SoundCLIP_ApplyDirection":
                entry["inputs"].update(alpha=alpha, beta=0.05)
        run_prompt(prompt, classes, core)
        (edit,), (source,) = shown["saved"], shown["previewed"]
        return edit, source

    edit, source = run(4.0)
    assert edit.shape == source.shape == (1, 32, 32, 3) and (edit - source).abs().mean() > 1e-3
    same, source = run(0.0)
    assert torch.equal(same, source)
    assert len(list((tmp_path / "models" / "soundclip_tables").glob("*.safetensors"))) == 1
