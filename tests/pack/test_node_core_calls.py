"""What the nodes hand to the core, and the pack's UI plumbing: each node is its inputs + one core call +
its outputs, so the logic the nodes used to carry (mask strings, decode batching, e4e checks, saved-file
entries, previews, the model folders) is tested here on its own."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from pack_loading import import_pack
from stylegan_formats import tiny_generator
from tiny_models import write_e4e_checkpoint, write_sound

from soundclip_core.audio import Audio
from soundclip_core.errors import AudioError, SoundClipError
from soundclip_core.image import grid, to_comfy_image
from soundclip_core.invert import load_e4e
from soundclip_core.manipulate import mask_options
from soundclip_core.noise_maps import decode, noise_buffers, synthesize
from soundclip_core.picture import fit_square
from soundclip_core.video import Keyframes, render_images, render_video
from soundclip_core.weights import FORMER_FOLDERS, KIND_FOLDERS, cache_dir, load_manifest, local_copy


@pytest.fixture(scope="module")
def generator():
    return tiny_generator(resolution=16)


@pytest.fixture(scope="module")
def pack():
    return import_pack("soundclip_pack_core_calls")


def test_mask_options_read_the_layers_field_for_each_mask():
    assert mask_options("freeze", " 0-3 ", 8) == {"layers": "0-3"}
    assert mask_options("freeze", "", 8) == {"layers": None}  # every layer may move
    assert mask_options("fixed", "1,1,1,1,0.5,0.5,0,0", 8) == {"mask_weights": [1, 1, 1, 1, 0.5, 0.5, 0, 0]}
    assert mask_options("fixed", " ", 8) == {}  # all ones
    assert mask_options("learned", "0-3", 8) == {}
    with pytest.raises(SoundClipError, match="8 W\\+ layers"):
        mask_options("fixed", "1,1", 8)


def test_decode_in_batches_equals_one_synthesis_with_per_sample_noise(generator):
    ws = torch.cat([generator.ws_from_seed(s) for s in range(5)])
    torch.manual_seed(0)
    noise = [torch.randn(5, *b.shape[1:]) for b in noise_buffers(generator)]
    noise[0] = noise[0][:1]  # a shared map serves every latent
    with torch.no_grad():
        whole = synthesize(generator, ws, [n.expand(5, -1, -1, -1) for n in noise])
    for batch_size in (1, 2, 4, 8):
        assert torch.allclose(decode(generator, ws, noise, batch_size=batch_size), whole, atol=1e-5), batch_size
    assert not decode(generator, ws[:2]).requires_grad


def test_e4e_start_checks_the_generator_then_encodes_the_square_picture(generator, tmp_path):
    write_e4e_checkpoint(tmp_path / "e4e.pt", generator.num_ws, generator.w_dim)
    encoder = load_e4e(tmp_path / "e4e.pt")
    photo = torch.rand(1, 3, 20, 30) * 2 - 1
    expected = encoder.encode(fit_square(photo, generator.resolution, "pad"))
    assert torch.equal(encoder.start_for(generator, photo, "pad"), expected)
    write_e4e_checkpoint(tmp_path / "small.pt", generator.num_ws - 2, generator.w_dim)
    with pytest.raises(SoundClipError, match="small.pt") as error:
        load_e4e(tmp_path / "small.pt").start_for(generator, photo)
    assert "Fix:" in str(error.value)


def test_frames_phase_previews_each_batch(generator, tmp_path):
    duration, fps = 1.0, 8
    ws = torch.cat([generator.ws_from_seed(i) for i in range(2)])
    keyframes = Keyframes(ws, torch.tensor([0.25, 0.75], dtype=torch.float64), duration, {})
    song = Audio((0.3 * torch.sin(torch.arange(16000) / 10.0))[None], 16000, "song.wav")
    for render in ("images", "video"):
        seen: list[tuple] = []
        if render == "images":
            images, _ = render_images(generator, keyframes, song, fps, batch_size=3,
                                      progress=lambda *report: seen.append(report))  # noqa: B023 (called at once)
        else:
            render_video(tmp_path / "v.mp4", generator, keyframes, song, fps, batch_size=3,
                         progress=lambda *report: seen.append(report))  # noqa: B023 (called at once)
        assert [(d, t) for d, t, _ in seen] == [(3, 8), (6, 8), (8, 8)], render
        assert all(p.shape == (1, 3, 16, 16) for _, _, p in seen)
        if render == "images":  # the preview is the batch's first frame
            assert torch.allclose(to_comfy_image(seen[1][2])[0], images[3], atol=1e-5)


def test_a_batch_preview_shows_every_edit_as_a_grid(pack):
    comfy_env = pack.nodes.comfy_env
    batch = torch.rand(4, 3, 8, 8) * 2 - 1
    assert torch.equal(comfy_env.preview_grid(batch), grid(batch, columns=2))
    assert comfy_env.preview_grid(batch).shape == (1, 3, 16, 16)
    assert comfy_env.preview_grid(torch.rand(5, 3, 8, 8)).shape == (1, 3, 16, 24)  # 3 columns, 2 rows
    assert math.isclose(float(comfy_env.preview_grid(batch[:1]).sub(batch[:1]).abs().max()), 0.0)


def test_saved_file_entries_agree_at_the_root_and_in_subfolders(pack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    comfy_env = pack.nodes.comfy_env
    root, nested = comfy_env.output_file("edit", ".png"), comfy_env.output_file("soundclip/a/video", ".mp4")
    assert comfy_env.saved_files([root, nested]) == [
        {"filename": root.name, "subfolder": "", "type": "output"},
        {"filename": nested.name, "subfolder": "soundclip/a", "type": "output"}]


def test_encoders_have_their_own_folder_and_the_former_one_still_works(pack, tmp_path, monkeypatch, caplog):
    """`audio_encoders` is also ComfyUI core's folder for its wav2vec2/whisper encoders: ours is now
    `soundclip_audio_encoders`, and a file placed in the former folder is still listed and loaded, with a
    notice saying where to move it (core's .safetensors encoders there are not listed)."""
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path))
    comfy_env = pack.nodes.comfy_env
    assert KIND_FOLDERS["audio_encoder"] == "soundclip_audio_encoders" != "audio_encoders"
    former = tmp_path / FORMER_FOLDERS["audio_encoder"]
    former.mkdir()
    (former / "my_encoder.pth").write_bytes(b"x")
    (former / "whisper_large_v3.safetensors").write_bytes(b"x")  # core's
    (former / "resnet18_57.pth").write_bytes(b"old")
    choices = comfy_env.model_choices("audio_encoder")
    assert "my_encoder.pth" in choices and "whisper_large_v3.safetensors" not in choices
    with caplog.at_level(logging.WARNING):
        assert comfy_env.resolve_model("audio_encoder", "my_encoder.pth") == former / "my_encoder.pth"
    assert "soundclip_audio_encoders" in caplog.text and "my_encoder.pth" in caplog.text
    # the core's own lookup (the CLI, scripts) finds a download kept in the former cache folder too
    entry = next(e for e in load_manifest() if e.filename == "resnet18_57.pth")
    assert local_copy(entry) == former / "resnet18_57.pth"
    current = cache_dir() / KIND_FOLDERS["audio_encoder"]
    current.mkdir()
    (current / "resnet18_57.pth").write_bytes(b"new")
    assert local_copy(entry) == current / "resnet18_57.pth"  # the current folder wins
    assert comfy_env.resolve_model("audio_encoder", "resnet18_57.pth") == current / "resnet18_57.pth"


def test_a_missing_sound_fails_the_run_with_a_message_not_a_dropped_branch(pack, tmp_path, monkeypatch):
    """ComfyUI runs whatever outputs still validate when one node's VALIDATE_INPUTS refuses, and reports the
    refusal only in its console: the run "succeeds" with the unedited image. Load Audio validates any name,
    and the load raises, which ComfyUI shows in the UI and which stops the run."""
    monkeypatch.chdir(tmp_path)
    load = pack.NODE_CLASS_MAPPINGS["SoundCLIP_LoadAudio"]
    assert load.VALIDATE_INPUTS("rain.wav") is True
    assert load.IS_CHANGED("rain.wav", 0.0, 0.0).startswith("missing")
    with pytest.raises(AudioError, match="rain.wav") as error:
        load().load("rain.wav", 0.0, 0.0)
    assert "upload" in str(error.value)
    write_sound(tmp_path / "rain.wav")
    first = load.IS_CHANGED("rain.wav", 0.0, 0.0)
    assert not first.startswith("missing") and load().load("rain.wav", 0.0, 0.0)[0]["sample_rate"] > 0
    write_sound(tmp_path / "rain.wav", seed=1)
    assert load.IS_CHANGED("rain.wav", 0.0, 0.0) != first  # a replaced file reruns


FILE_INPUTS = {"LoadAudio": ["audio"], "LoadLatentFromPNG": ["image"], "StyleGANLoad": ["generator_name"],
               "AudioEncoderLoader": ["encoder_name"], "CLIPLoader": ["clip_name"], "ArcFaceLoader": ["arcface_name"],
               "PerceptualLoader": ["vgg_name", "lpips_weights"], "E4ELoader": ["e4e_name"],
               "TeachSounds": ["sounds"]}


def test_file_inputs_pass_validation_and_fail_in_the_node(pack, tmp_path, monkeypatch):
    """ComfyUI validates an input itself unless the node's VALIDATE_INPUTS names it (execution.py reads the
    argument names with inspect.getfullargspec): our file inputs are named, no other input is, so a missing
    or unknown file fails where the UI shows the node's own error, naming the folder and the fix."""
    import inspect

    from soundclip_core.errors import CheckpointError

    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path))
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        names = FILE_INPUTS.get(node_id.removeprefix("SoundCLIP_"))
        if names is None:
            assert not hasattr(cls, "VALIDATE_INPUTS"), node_id
            continue
        spec = inspect.getfullargspec(cls.VALIDATE_INPUTS)
        assert spec.args == ["cls", *names] and spec.varkw is None, node_id
        assert cls.VALIDATE_INPUTS(**{name: "unknown.pkl" for name in names}) is True
    with pytest.raises(CheckpointError, match="stylegan2") as error:
        pack.NODE_CLASS_MAPPINGS["SoundCLIP_StyleGANLoad"]().load("someone_elses.pkl")
    assert "someone_elses.pkl" in str(error.value) and "Fix:" in str(error.value)
