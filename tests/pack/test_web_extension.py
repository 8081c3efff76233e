"""The pack's frontend extension (web/soundclip.js), run under Node.js against stand-ins for the two
frontend modules it imports: the widgets it adds to Load Audio (SoundCLIP) and their order, uploads
offered in every list, and seeds of new nodes fixed."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from paths import ROOT

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")

APP = """
export const app = {
  extensions: [],
  graph: { _nodes: [] },
  registerExtension(extension) { this.extensions.push(extension); },
};
"""
API = """
export const api = {
  calls: [],
  async fetchApi(route, options) {
    this.calls.push(route);
    const body = JSON.stringify(globalThis.uploadAnswer);
    return new Response(body, { status: 200, headers: { "Content-Type": "application/json" } });
  },
};
"""
SCENARIO = """
import { app } from "./scripts/app.js";
import { api } from "./scripts/api.js";
await import("./extensions/soundclip/soundclip.js");
const [extension] = app.extensions;
const out = {};

// the node definition as /object_info gives it, after core's Comfy.UploadAudio (had it seen audio_upload)
const nodeData = { name: "SoundCLIP_LoadAudio", input: { required: {
  audio: [["a.wav"], {}], start: ["FLOAT", {}], duration: ["FLOAT", {}], upload: ["AUDIOUPLOAD", {}] } } };
await extension.beforeRegisterNodeDef({}, nodeData);
out.inputs = Object.keys(nodeData.input.required);
const other = { name: "SoundCLIP_Decode", input: { required: { latent: ["SOUNDCLIP_WPLUS", {}] } } };
await extension.beforeRegisterNodeDef({}, other);
out.other_inputs = Object.keys(other.input.required);

const widget = (name, value, values) => ({ name, value, options: { values } });
const optimize = { comfyClass: "SoundCLIP_LatentOptimize",
                   widgets: [widget("seed", 0), widget("control_after_generate", "randomize")] };
const sampler = { comfyClass: "KSampler", widgets: [widget("seed", 0), widget("control_after_generate", "randomize")] };
await extension.nodeCreated(optimize);
await extension.nodeCreated(sampler);
out.seed_controls = [optimize.widgets[1].value, sampler.widgets[1].value];

const existing = { comfyClass: "SoundCLIP_LoadAudio", widgets: [widget("audio", "a.wav", ["a.wav", "z.wav"])] };
const latent = { comfyClass: "SoundCLIP_LoadLatentFromPNG", widgets: [widget("image", "b.png", ["b.png"])] };
const core = { comfyClass: "LoadImage", widgets: [widget("image", "b.png", ["b.png"])] };
app.graph._nodes.push(existing, latent, core);
globalThis.uploadAnswer = { name: "rain.wav", subfolder: "", type: "input" };
await api.fetchApi("/upload/image", { method: "POST" });
globalThis.uploadAnswer = { name: "photo.png", subfolder: "", type: "input" };
await api.fetchApi("/upload/image", { method: "POST" });
out.existing = existing.widgets[0].options.values;
out.latent = latent.widgets[0].options.values;
out.core = core.widgets[0].options.values;
const later = { comfyClass: "SoundCLIP_LoadAudio", widgets: [widget("audio", "a.wav", ["a.wav"])] };
await extension.nodeCreated(later);
out.later = later.widgets[0].options.values;
out.calls = api.calls;
console.log(JSON.stringify(out));
"""


def test_extension_gives_load_audio_the_upload_and_fixed_seeds(tmp_path):
    (tmp_path / "package.json").write_text(json.dumps({"type": "module"}))
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "app.js").write_text(APP)
    (tmp_path / "scripts" / "api.js").write_text(API)
    (tmp_path / "extensions" / "soundclip").mkdir(parents=True)
    shutil.copy(ROOT / "web" / "soundclip.js", tmp_path / "extensions" / "soundclip" / "soundclip.js")
    (tmp_path / "scenario.js").write_text(SCENARIO)
    result = subprocess.run([NODE, "scenario.js"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # the player before the upload button that looks it up, both after the saved widgets
    assert out["inputs"] == ["audio", "start", "duration", "audioUI", "upload"]
    assert out["other_inputs"] == ["latent"]
    assert out["seed_controls"] == ["fixed", "randomize"]  # ours fixed, core's untouched
    assert out["existing"] == ["a.wav", "rain.wav", "z.wav"]  # an audio upload listed at once, a picture not
    assert out["latent"] == ["b.png", "photo.png"]  # a PNG upload in Load Latent from PNG
    assert out["core"] == ["b.png"]  # core nodes keep their own lists
    assert out["later"] == ["a.wav", "rain.wav"]
    assert out["calls"] == ["/upload/image", "/upload/image"]  # the real request still made
