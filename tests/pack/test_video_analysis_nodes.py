"""The analysis nodes feed the video nodes (issue 25): Analyze Sound's and Semantic Curves' analysis drives
Sound to Keyframes' cut and Keyframes to Frames' strength without analysing again, a named curve sets the
instant video's alpha, and Sound Curve's FLOAT list plugs into Sound to Instant Video's alpha_curve as ComfyUI
passes it (one value holding the list: neither OUTPUT_IS_LIST nor INPUT_IS_LIST)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("librosa", reason="the analysis needs librosa: pip install -e '.[test]'")

from comfy_workflow import run_prompt  # noqa: E402
from pack_loading import pack_nodes  # noqa: E402
from tiny_models import write_sound, write_workflow_models  # noqa: E402

import soundclip_core.analysis as analysis_package  # noqa: E402
from soundclip_core.analysis import Envelope  # noqa: E402
from soundclip_core.clip import load_clip  # noqa: E402
from soundclip_core.directions import compute_table, save_table  # noqa: E402
from soundclip_core.directions.files import style_layout_json  # noqa: E402
from soundclip_core.errors import SoundClipError  # noqa: E402
from soundclip_core.generators import load_generator  # noqa: E402
from soundclip_core.image import to_comfy_image  # noqa: E402
from soundclip_core.noise_maps import decode  # noqa: E402

SECONDS, RATE, FPS = 3.0, 22050, 10.0
TABLE = "landscape.table.safetensors"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_workflow_models(home, with_arcface=False)
    write_sound(home / "input" / "song.wav", seconds=SECONDS, rate=RATE)
    generator = load_generator(home / "stylegan2" / "landscape.pt", "cpu")
    clip = load_clip(None, home / "clip_soundclip" / "ViT-B-32.pt", "cpu")
    table = compute_table(generator, clip, "finite", images=2, stats_samples=400, max_resolution=None)
    save_table(table, home / "stylegan2" / TABLE, style_layout_json(generator))
    with pack_nodes(home) as (instances, _):
        yield instances


def _refuse_analysis(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the song was analysed again")

    monkeypatch.setattr(analysis_package, "analyze", refuse)


def _curve_inputs(analysis: list, curve: str) -> dict:
    return {"analysis": analysis, "curve": curve, "normalise": "song", "window": 10.0, "threshold": 0.0,
            "ceiling": 1.0, "attack": 0.0, "hold": 0.0, "release": 0.0, "smoothing": 0.0, "gamma": 1.0,
            "invert": False, "schedule_format": "keyframes", "frame": 0}


def test_sound_curves_float_list_plugs_into_instant_videos_alpha_curve(nodes):
    """A workflow Analyze Sound -> Sound Curve (loudness) -> Sound to Instant Video's alpha_curve gives the same
    frames as naming the curve on the instant node with the analysis connected."""
    assert not getattr(type(nodes["SoundCurve"]), "OUTPUT_IS_LIST", None)  # the list travels as one value
    assert not getattr(type(nodes["InstantVideo"]), "INPUT_IS_LIST", False)  # and arrives as that one value
    assert nodes["SoundCurve"].RETURN_TYPES[0] == nodes["InstantVideo"].INPUT_TYPES()["optional"]["alpha_curve"][0]
    prompt = {
        "1": {"class_type": "SoundCLIP_LoadAudio", "inputs": {"audio": "song.wav", "start": 0.0, "duration": 0.0}},
        "2": {"class_type": "SoundCLIP_AudioEncoderLoader", "inputs": {"encoder_name": "resnet18_57.pth",
                                                                       "kind": "auto"}},
        "3": {"class_type": "SoundCLIP_CLIPLoader", "inputs": {"clip_name": "ViT-B-32.pt", "arch": "ViT-B-32"}},
        "4": {"class_type": "SoundCLIP_StyleGANLoad", "inputs": {"generator_name": "landscape.pt"}},
        "5": {"class_type": "SoundCLIP_LatentFromSeed", "inputs": {"generator": ["4", 0], "seed": 7, "batch_size": 1,
                                                                   "truncation_psi": 0.7}},
        "6": {"class_type": "SoundCLIP_HearFrames", "inputs": {"audio": ["1", 0], "encoder": ["2", 0], "fps": FPS,
                                                              "window": 1.0, "smooth": 0.2}},
        "7": {"class_type": "SoundCLIP_AnalyzeSound", "inputs": {"audio": ["1", 0], "fps": FPS,
                                                                "bands": "20-150, 150-2000, 2000-11025",
                                                                "min_bpm": 0.0, "max_bpm": 0.0, "sections": 0}},
        "8": {"class_type": "SoundCLIP_SoundCurve", "inputs": _curve_inputs(["7", 0], "loudness")},
        "9": {"class_type": "SoundCLIP_InstantVideo", "inputs": {
            "frame_sounds": ["6", 0], "audio": ["1", 0], "generator": ["4", 0], "latent": ["5", 0], "clip": ["3", 0],
            "table_file": TABLE, "neutral": "a photo", "alpha": 3.0, "beta": 0.02, "layers": "", "pulse": 0.0,
            "motion": 0.0, "noise_mode": "const", "batch_size": 4, "memory_budget_gb": 0.0, "alpha_curve": ["8", 0]}},
    }
    out = run_prompt(prompt, {f"SoundCLIP_{k}": type(v) for k, v in nodes.items()}, {})
    curved = out["9"][0]
    analysis, floats = out["7"][0], out["8"][0]
    assert isinstance(floats, list) and len(floats) == curved.shape[0] == 30
    inputs = {k: (out[v[0]][v[1]] if isinstance(v, list) else v) for k, v in prompt["9"]["inputs"].items()}
    del inputs["alpha_curve"]
    with torch.inference_mode():
        named, _, _ = nodes["InstantVideo"].render(**inputs, analysis=analysis, alpha_curve_name="loudness")
        constant, _, _ = nodes["InstantVideo"].render(**inputs)
        with pytest.raises(SoundClipError, match="needs an analysis"):
            nodes["InstantVideo"].render(**inputs, alpha_curve_name="loudness")
        with pytest.raises(SoundClipError, match="both alpha_curve and alpha_curve_name"):
            nodes["InstantVideo"].render(**inputs, alpha_curve=floats, analysis=analysis, alpha_curve_name="onset")
    assert torch.allclose(named, curved, atol=1e-6) and (named - constant).abs().amax() > 1e-3
    quiet = min(range(30), key=lambda i: floats[i])
    assert floats[quiet] == 0.0 and floats == pytest.approx(Envelope().apply(analysis.curve("loudness"), FPS).tolist())


def test_a_semantic_curve_drives_the_strength_and_the_cut_reuses_the_analysis(nodes, monkeypatch):
    """Analyze Sound + Semantic Curves (label_rain) -> Sound to Keyframes cut on the analysis' sections (nothing
    analysed again) -> Keyframes to Frames with strength_curve label_rain: where the shaped curve is 0 the frame is
    the source image."""
    with torch.inference_mode():
        (song,) = nodes["LoadAudio"].load("song.wav", 0.0, 0.0)
        (encoder,) = nodes["AudioEncoderLoader"].load("resnet18_57.pth", "auto")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (source,) = nodes["LatentFromSeed"].sample(generator, 7, 1, 0.7)
        analysis, _ = nodes["AnalyzeSound"].analyze(song, FPS, "20-150, 150-2000", 0.0, 0.0, 2)
        analysis, _ = nodes["SemanticCurves"].add(analysis, song, encoder, clip, "rain\nwind", "{}", 1.0, 0.5)
        _refuse_analysis(monkeypatch)
        keyframes, report = nodes["SoundKeyframes"].run(
            song, encoder, clip, generator, source, 1.0, 1.0, "landscape", 2, 0.1, "learned", "", 0, 8, "fp32",
            cut="sections", transition=0.0, analysis=analysis)
        assert keyframes.ws.shape[0] == len(analysis.rhythm.sections) == 2
        frame_inputs = (generator, keyframes, song, FPS, 0.0, 0.0, "const", 4, 0.0)
        full, _, _ = nodes["KeyframesToFrames"].render(*frame_inputs, analysis=analysis)
        rainy, _, _ = nodes["KeyframesToFrames"].render(*frame_inputs, strength_curve="label_rain",
                                                        analysis=analysis)
        with pytest.raises(SoundClipError, match="the video is at 5 fps"):
            nodes["KeyframesToFrames"].render(generator, keyframes, song, 5.0, 0.0, 0.0, "const", 4, 0.0,
                                              strength_curve="label_rain", analysis=analysis)
        plain = to_comfy_image(decode(generator, source["ws"], batch_size=1))[0]
    strength = Envelope().apply(analysis.curve("label_rain"), FPS)
    low, high = int(strength.argmin()), int(strength.argmax())
    assert strength[low] == 0.0 and strength[high] == 1.0
    assert torch.allclose(rainy[low], plain, atol=1e-5) and (full[low] - plain).abs().amax() > 1e-3
    assert torch.allclose(rainy[high], full[high], atol=1e-5)
