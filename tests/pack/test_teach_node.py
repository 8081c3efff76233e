"""Teach Sounds (SoundCLIP): the node fine-tunes an encoder on a folder of labelled sounds and saves it in the
encoder folder; Cancel keeps the best epoch; the example workflow teaches three sounds and edits with one."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch
from comfy_workflow import CORE_DEFINITIONS, run_prompt, to_api_prompt
from pack_loading import import_pack
from paths import ROOT
from sound_datasets import TEXT_SEED, write_folder
from train_helpers import FRONTEND, small_net

from soundclip_core.checkpoints import read_state_dict
from soundclip_core.clip import tiny_clip
from soundclip_core.encoders import encoder_config, load_audio_encoder
from soundclip_core.encoders.encoder import AudioEncoder
from soundclip_core.encoders.registry import metadata_path
from soundclip_core.errors import Cancelled, DatasetError, SoundClipError


@pytest.fixture(scope="module")
def pack():
    return import_pack("soundclip_pack_teach")


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    """Outside ComfyUI: the input and output folders under the working directory, models under SOUNDCLIP_HOME."""
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    return tmp_path


def small_encoder(clip) -> AudioEncoder:
    """The tests' small SoundCLIP network with the reduced front end, in the tiny CLIP's space."""
    config = {**encoder_config("soundclip"), **FRONTEND, "embed_dim": clip.dim, "space": clip.space}
    return AudioEncoder("soundclip", small_net(clip.dim), clip.space, "small test encoder", config)


def test_node_teaches_saves_and_cancel_keeps_the_best_epoch(pack, comfy, monkeypatch):
    comfy_env = sys.modules[f"{pack.__name__}.nodes.comfy_env"]  # the pack's own module, as ComfyUI loads it
    write_folder(comfy / "my_sounds", per_class=8)
    node = pack.NODE_CLASS_MAPPINGS["SoundCLIP_TeachSounds"]()
    clip = tiny_clip(seed=TEXT_SEED, device="cpu")
    encoder = small_encoder(clip)
    before = {k: v.clone() for k, v in encoder.net.state_dict().items()}
    with torch.inference_mode():  # as ComfyUI runs nodes
        taught, report = node.teach(encoder, clip, "my_sounds", "", "mine", 3, 0)
    saved = comfy / "models" / "soundclip_audio_encoders" / "mine.pth"
    assert saved.is_file() and taught.space == clip.space and taught.config["n_mels"] == 32
    assert all(torch.equal(v, encoder.net.state_dict()[k]) for k, v in before.items())  # the input is untouched
    assert "held-out zero-shot accuracy" in report and f"saved {saved}" in report
    meta = json.loads(metadata_path(saved).read_text())
    run = next((comfy / "output" / "soundclip_teach").glob("mine_*_run"))
    assert meta["epoch"] == json.loads((run / "log.json").read_text())[-1]["best_epoch"]

    calls = []
    monkeypatch.setattr(comfy_env, "interrupted", lambda: calls.append(1) or len(calls) >= 4)
    with pytest.raises(Cancelled), torch.inference_mode():
        node.teach(encoder, clip, "my_sounds", "", "mine", 10, 0)
    runs = sorted((comfy / "output" / "soundclip_teach").glob("mine_*_run"))
    log = json.loads((runs[-1] / "log.json").read_text())
    assert log[-1]["epoch"] == 4  # cancelled after the 4th epoch
    kept = read_state_dict(saved, "an encoder", "export it")
    best = read_state_dict(runs[-1] / "encoder.pth", "an encoder", "export it")
    assert all(torch.equal(kept[k], best[k]) for k in best)  # the model folder got the run's best epoch
    assert json.loads(metadata_path(saved).read_text())["epoch"] == log[-1]["best_epoch"]



def test_installing_a_run_replaces_the_encoder_and_its_sidecar_together(pack, comfy, monkeypatch):
    teach = sys.modules[f"{pack.__name__}.nodes.teach"]
    run, target = comfy / "run", comfy / "models" / "mine.pth"
    run.mkdir()
    for path, text in ((run / "encoder.pth", "new weights"), (metadata_path(run / "encoder.pth"), "new sidecar"),
                       (target, "old weights"), (metadata_path(target), "old sidecar")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    copy = teach.shutil.copyfile
    copies = []

    def copy_then_fail(src, dst):
        copies.append(src)
        if len(copies) == 2:  # the .pth, copied after the sidecar
            raise OSError("No space left on device")
        return copy(src, dst)

    monkeypatch.setattr(teach.shutil, "copyfile", copy_then_fail)
    with pytest.raises(OSError, match="No space"):
        teach.install(run, target)
    assert (target.read_text(), metadata_path(target).read_text()) == ("old weights", "old sidecar")
    assert sorted(p.name for p in target.parent.iterdir()) == ["mine.pth", "mine.pth.json"]
    monkeypatch.setattr(teach.shutil, "copyfile", copy)
    assert teach.install(run, target)
    assert (target.read_text(), metadata_path(target).read_text()) == ("new weights", "new sidecar")

def test_node_refuses_a_missing_folder_and_a_bad_name(pack, comfy):
    node = pack.NODE_CLASS_MAPPINGS["SoundCLIP_TeachSounds"]()
    clip = tiny_clip(seed=TEXT_SEED, device="cpu")
    with pytest.raises(DatasetError, match="folder of labelled sounds not found"):
        node.teach(small_encoder(clip), clip, "(the path below)", "", "mine", 1, 0)
    write_folder(comfy / "d", per_class=2)
    with pytest.raises(SoundClipError, match="not a plain file name"):
        node.teach(small_encoder(clip), clip, "(the path below)", str(comfy / "d"), "../up", 1, 0)


def test_teach_workflow_runs_with_tiny_models(pack, comfy):
    """Load the models, teach three sounds, encode one of them with the taught encoder, edit a seed, save."""
    from tiny_models import write_sound, write_workflow_models

    spec = importlib.util.spec_from_file_location("workflow_builder", ROOT / "example_workflows" / "build.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    write_workflow_models(comfy / "models", with_arcface=False)
    for k, label in enumerate(("rain", "synth_pad", "kettle")):
        for n in range(4):
            write_sound(comfy / "my_sounds" / label / f"{n}.wav", seconds=1.0, seed=3 * k + n % 2)
    write_sound(comfy / "my_rain.wav", seconds=1.0, seed=0)
    saved = []
    core = {"SaveImage": lambda images, filename_prefix: saved.append(images) or ()}
    classes = builder.load_node_classes()
    workflow = json.loads((ROOT / "example_workflows" / "Teach three sounds, edit with one.json").read_text())
    prompt = to_api_prompt(workflow, {**CORE_DEFINITIONS, **{k: v.INPUT_TYPES() for k, v in classes.items()}})
    for entry in prompt.values():
        if entry["class_type"] == "SoundCLIP_LatentOptimize":
            entry["inputs"]["steps"] = 2
        if entry["class_type"] == "SoundCLIP_TeachSounds":
            entry["inputs"]["epochs"] = 1
    outputs = run_prompt(prompt, classes, core)
    (image,) = saved
    assert image.shape == (1, 32, 32, 3) and torch.isfinite(image).all()
    taught = load_audio_encoder(comfy / "models" / "soundclip_audio_encoders" / "my_sounds.pth", device="cpu")
    report = next(out[1] for node_id, out in outputs.items()
                  if prompt[node_id]["class_type"] == "SoundCLIP_TeachSounds")
    assert "held-out zero-shot accuracy" in report and taught.kind == "soundclip"
