"""Every example workflow runs inside a real ComfyUI, headless on the CPU, through its HTTP API.

ComfyUI is not on PyPI, so this runs only when COMFYUI_PATH points to a ComfyUI checkout
whose requirements are installed (COMFYUI_PYTHON may name the interpreter to run it with;
default: this one). CI has no ComfyUI and skips it; run it by hand as the README shows.
The pack is linked into a temporary ComfyUI base directory with tiny random models saved
under the file names the workflows expect.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from comfy_workflow import to_api_prompt
from paths import ROOT
from photos import astronaut_path
from PIL import Image
from tiny_models import write_sound, write_workflow_models

COMFYUI = os.environ.get("COMFYUI_PATH")
pytestmark = pytest.mark.skipif(not COMFYUI, reason="COMFYUI_PATH is not set (ComfyUI is not on PyPI)")
STEPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else {}


def api_prompt(workflow: dict, object_info: dict) -> dict:
    """The workflow as the frontend would queue it."""
    return to_api_prompt(workflow, {k: v["input"] for k, v in object_info.items()})


def run(url: str, prompt: dict, base: Path, seconds: float = 300) -> dict:
    """Queue a prompt and wait for its history entry (status, outputs)."""
    answer = request(f"{url}/prompt", {"prompt": prompt, "client_id": "soundclip-test"})
    assert not answer.get("node_errors"), answer
    prompt_id = answer["prompt_id"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        history = request(f"{url}/history/{prompt_id}").get(prompt_id)
        if history and history.get("status", {}).get("completed") is not None:
            return history
        time.sleep(1)
    pytest.fail(f"prompt did not finish:\n{(base / 'comfyui.log').read_text()[-4000:]}")


@pytest.fixture(scope="module")
def comfyui(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfyui")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "soundclip").symlink_to(ROOT, target_is_directory=True)
    write_workflow_models(base / "models")
    (base / "input").mkdir()
    for workflow in (ROOT / "example_workflows").glob("*.json"):
        for node in json.loads(workflow.read_text())["nodes"]:
            if node["type"] == "SoundCLIP_LoadAudio":
                name = node["widgets_values"][0]  # a song must be longer than one video window (5 s)
                write_sound(base / "input" / name, seconds=12.0 if name == "song.wav" else 2.0)
            if node["type"] == "LoadImage" and node["widgets_values"][0] == "portrait.png":  # a real face
                shutil.copy(astronaut_path(), base / "input" / "portrait.png")
            elif node["type"] == "LoadImage":  # a photo of another size and aspect than the generator's
                Image.new("RGB", (48, 40), (90, 140, 200)).save(base / "input" / node["widgets_values"][0])
            if node["type"] == "SoundCLIP_TeachSounds":  # a folder of three labels of four clips each
                for k, label in enumerate(("rain", "synth_pad", "kettle")):
                    for n in range(4):
                        write_sound(base / "input" / node["widgets_values"][0] / label / f"{n}.wav", seconds=1.0,
                                    seed=3 * k + n % 2)
    port = free_port()
    log = open(base / "comfyui.log", "w")
    server = subprocess.Popen(
        [os.environ.get("COMFYUI_PYTHON", sys.executable), "main.py", "--cpu", "--listen", "127.0.0.1",
         "--port", str(port), "--base-directory", str(base), "--disable-auto-launch"],
        cwd=COMFYUI, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                object_info = request(f"{url}/object_info")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"ComfyUI did not start:\n{(base / 'comfyui.log').read_text()[-4000:]}")
                time.sleep(1)
        yield url, object_info, base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_pack_loads_all_nodes(comfyui):
    _, object_info, base = comfyui
    ours = {k for k in object_info if k.startswith("SoundCLIP_")}
    assert len(ours) >= 12, (base / "comfyui.log").read_text()[-3000:]
    assert "SaveImage" in object_info and "CreateVideo" in object_info  # core nodes still there


def test_nodes_show_descriptions_tooltips_and_the_web_extension(comfyui):
    url, object_info, _ = comfyui
    ours = {k: v for k, v in object_info.items() if k.startswith("SoundCLIP_")}
    assert all(v["description"] and v["category"].startswith("SoundCLIP/") for v in ours.values())
    steps = ours["SoundCLIP_LatentOptimize"]["input"]["required"]["steps"]
    assert steps[1]["tooltip"]
    assert ours["SoundCLIP_StyleGANLoad"]["display_name"] == "Load StyleGAN (SoundCLIP)"
    encoders = ours["SoundCLIP_AudioEncoderLoader"]["input"]["required"]["encoder_name"]
    assert encoders[1]["default"] == "resnet18_57.pth"
    folders = set(request(f"{url}/models"))  # the missing-models dialog looks each model's directory up here
    for path in (ROOT / "example_workflows").glob("*.json"):
        for node in json.loads(path.read_text())["nodes"]:
            assert {m["directory"] for m in node["properties"].get("models", [])} <= folders, path.name
    assert "soundclip_audio_encoders" in folders and "audio_encoders" in folders  # ours beside core's
    assert "/extensions/soundclip/soundclip.js" in request(f"{url}/extensions")
    with urllib.request.urlopen(f"{url}/extensions/soundclip/soundclip.js", timeout=30) as response:
        assert b"AUDIOUPLOAD" in response.read()


def test_a_missing_sound_fails_the_run_with_its_message(comfyui):
    """With a sound absent, ComfyUI must not run the rest and call it a success: the run fails, and the
    execution error the UI shows names the file and how to fix it."""
    url, object_info, base = comfyui
    workflow = json.loads((ROOT / "example_workflows" / "Sound to landscape.json").read_text())
    prompt = api_prompt(workflow, object_info)
    for entry in prompt.values():
        if entry["class_type"] == "SoundCLIP_LoadAudio":
            entry["inputs"]["audio"] = "not_uploaded.wav"
        if entry["class_type"] == "SoundCLIP_LatentOptimize":
            entry["inputs"]["steps"] = STEPS
    history = run(url, prompt, base)
    assert history["status"]["status_str"] == "error"
    errors = [data for event, data in history["status"]["messages"] if event == "execution_error"]
    assert errors and errors[0]["node_type"] == "SoundCLIP_LoadAudio"
    assert "not_uploaded.wav" in errors[0]["exception_message"] and "upload" in errors[0]["exception_message"]


def test_an_unknown_model_fails_the_run_naming_its_folder(comfyui):
    """A shared workflow naming a model file this machine lacks (and soundclip does not know): not ComfyUI's
    bare "Value not in list", but the loader's error, with the folder to put the file in."""
    url, object_info, base = comfyui
    workflow = json.loads((ROOT / "example_workflows" / "Sound to landscape.json").read_text())
    prompt = api_prompt(workflow, object_info)
    for entry in prompt.values():
        if entry["class_type"] == "SoundCLIP_StyleGANLoad":
            entry["inputs"]["generator_name"] = "someone_elses.pkl"
    history = run(url, prompt, base)
    assert history["status"]["status_str"] == "error"
    errors = [data for event, data in history["status"]["messages"] if event == "execution_error"]
    assert errors and errors[0]["node_type"] == "SoundCLIP_StyleGANLoad"
    message = errors[0]["exception_message"]
    assert "someone_elses.pkl" in message and str(base / "models" / "stylegan2") in message and "Fix:" in message


def test_template_browser_lists_the_examples_with_thumbnails(comfyui):
    url, _, _ = comfyui
    names = sorted(p.stem for p in (ROOT / "example_workflows").glob("*.json"))
    assert sorted(request(f"{url}/workflow_templates")["soundclip"]) == names
    for name in names:
        thumbnail = urllib.parse.quote(f"{name}.jpg")  # the browser asks for the titled name, escaped
        with urllib.request.urlopen(f"{url}/api/workflow_templates/soundclip/{thumbnail}", timeout=30) as response:
            assert response.headers["Content-Type"] == "image/jpeg" and response.read(3) == b"\xff\xd8\xff"


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "example_workflows").glob("*.json")))
def test_example_workflow_runs(comfyui, name):
    url, object_info, base = comfyui
    workflow = json.loads((ROOT / "example_workflows" / f"{name}.json").read_text())
    prompt = api_prompt(workflow, object_info)
    for entry in prompt.values():
        if entry["class_type"] in ("SoundCLIP_LatentOptimize", "SoundCLIP_InvertImage"):
            entry["inputs"]["steps"] = STEPS
            entry["inputs"]["preview_every"] = 1
        if entry["class_type"] == "SoundCLIP_SoundKeyframes":
            entry["inputs"]["steps"] = STEPS
        if entry["class_type"] == "SoundCLIP_TeachSounds":
            entry["inputs"]["epochs"] = 1
        if entry["class_type"] == "SoundCLIP_ComputeStyleSpaceTable":
            entry["inputs"]["samples"] = 2
        if entry["class_type"] == "SoundCLIP_InstantVideo":  # a tiny random model's relevances are small
            entry["inputs"]["beta"] = 0.02
    history = run(url, prompt, base)
    status = history["status"]
    assert status["status_str"] == "success", json.dumps(status["messages"])[-4000:]
    saved = [image for output in history["outputs"].values() for image in output.get("images", [])
             if image["type"] == "output"]
    assert saved, history["outputs"]
    expected = {"Several sounds, one seed": 4, "Your photo, inverted, then rain": 2}.get(name, 1)
    assert len(saved) == expected
    for image in saved:
        assert (base / "output" / image["subfolder"] / image["filename"]).stat().st_size > 0


def test_cancel_stops_the_optimisation_promptly(comfyui):
    url, object_info, base = comfyui
    workflow = json.loads((ROOT / "example_workflows" / "Sound to landscape.json").read_text())
    prompt = api_prompt(workflow, object_info)
    for entry in prompt.values():
        if entry["class_type"] == "SoundCLIP_LatentOptimize":
            entry["inputs"]["steps"] = 10000  # the widget maximum: far longer than the test waits
            entry["inputs"]["seed"] = 12345  # not cached from the other test
    prompt_id = request(f"{url}/prompt", {"prompt": prompt, "client_id": "soundclip-test"})["prompt_id"]
    deadline = time.monotonic() + 60
    while not request(f"{url}/queue")["queue_running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # well inside the optimisation
    request(f"{url}/interrupt", {})
    interrupted_at = time.monotonic()
    while time.monotonic() - interrupted_at < 30:
        history = request(f"{url}/history/{prompt_id}").get(prompt_id)
        if history and history.get("status", {}).get("completed") is not None:
            break
        time.sleep(0.2)
    stopped_after = time.monotonic() - interrupted_at
    assert stopped_after < 10, f"still running {stopped_after:.0f} s after Cancel"
    events = [event for event, _ in history["status"]["messages"]]
    assert "execution_interrupted" in events, events
