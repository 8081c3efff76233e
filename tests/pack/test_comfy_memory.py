"""The pack shares the GPU with ComfyUI the way ComfyUI's own upscale-model nodes do: models wait on the offload
device, each node's work first asks `model_management.free_memory` for the weights plus what the work needs,
moves the models to the compute device, and moves them back and empties the cache afterwards, whatever
happened. Tested without ComfyUI: a fake `model_management` records the calls, and two dtypes stand in for
the two devices (float64 "compute", float32 "offload"), so that every tensor's placement can be read."""

from __future__ import annotations

import sys

import pytest
import torch
from pack_loading import pack_nodes
from stylegan_formats import tiny_generator
from tiny_models import write_e4e_checkpoint, write_inversion_models, write_sound, write_workflow_models

from soundclip_core import runtime
from soundclip_core.clip import tiny_clip
from soundclip_core.encoders import build_audio_encoder
from soundclip_core.errors import Cancelled
from soundclip_core.invert import load_e4e
from soundclip_core.memory import _tensors, edit_step_bytes, model_bytes
from soundclip_core.video.frames import frame_batch_bytes

COMPUTE, OFFLOAD = torch.float64, torch.float32


class Interrupted(Exception):
    """ComfyUI's InterruptProcessingException."""


class FakeManagement:
    """comfy.model_management as the pack calls it, recording each call (and, for free_memory, where the watched
    models lie at that moment)."""

    def __init__(self, watched=(), compute=COMPUTE, offload=OFFLOAD):
        self.calls: list[tuple] = []
        self.watched, self.compute, self.offload = watched, compute, offload

    def get_torch_device(self):
        return self.compute

    def unet_offload_device(self):
        return self.offload

    def free_memory(self, memory_required, device, keep_loaded=()):
        self.calls.append(("free_memory", memory_required, device, [placement(m) for m in self.watched]))

    def soft_empty_cache(self, force=False):
        self.calls.append(("soft_empty_cache",))

    def processing_interrupted(self):
        return False

    def throw_exception_if_processing_interrupted(self):
        raise Interrupted


def placement(model) -> set:
    """Where the floating-point tensors a model holds lie (here: their dtypes)."""
    return {t.dtype for t in _tensors(model) if t.is_floating_point()}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    write_workflow_models(home, with_arcface=False)
    write_inversion_models(home)
    write_sound(home / "input" / "rain.wav")
    return home


@pytest.fixture(scope="module")
def pack(home):
    with pack_nodes(home) as (nodes, _):
        yield nodes, sys.modules["soundclip_pack.nodes.comfy_env"]


@pytest.fixture()
def models(tmp_path):
    write_e4e_checkpoint(tmp_path / "e4e.pt", 8, 32)
    encoder = build_audio_encoder("soundclip", device="cpu")
    encoder.runner  # noqa: B018 (the inference twin must move too)
    return [tiny_generator(16), tiny_clip(device="cpu"), encoder, load_e4e(tmp_path / "e4e.pt", "cpu")]


def test_on_device_makes_room_first_then_moves_the_models_for_the_work_and_back(pack, models, monkeypatch):
    _, comfy_env = pack
    fake = FakeManagement(models)
    monkeypatch.setattr(comfy_env, "model_management", fake)
    weights = model_bytes(*models)
    during = []
    with comfy_env.on_device(*models, None, memory_required=lambda: 12345):
        during = [placement(m) for m in models]
        fake.calls.append(("work",))
    assert [call[0] for call in fake.calls] == ["free_memory", "work", "soft_empty_cache"]
    _, required, device, where = fake.calls[0]
    assert required >= weights + 12345 and device == COMPUTE
    assert where == [{OFFLOAD}] * len(models)  # room was made before anything moved
    assert during == [{COMPUTE}] * len(models)  # every tensor of every model, the e4e mean latent included
    assert [placement(m) for m in models] == [{OFFLOAD}] * len(models)
    assert comfy_env.load_device() == OFFLOAD  # where loaders put models inside ComfyUI


@pytest.mark.parametrize("error", [Cancelled("cancelled at step 3"), RuntimeError("out of memory")])
def test_models_go_back_and_the_cache_is_emptied_when_the_work_fails(pack, models, monkeypatch, error):
    _, comfy_env = pack
    fake = FakeManagement(models)
    monkeypatch.setattr(comfy_env, "model_management", fake)
    during = []

    def work():
        during.extend(placement(m) for m in models)
        raise error

    # Cancel becomes ComfyUI's own interrupt; any other error passes through
    with pytest.raises(Interrupted if isinstance(error, Cancelled) else RuntimeError):
        comfy_env.run_long(work, *models, memory_required=100)
    assert during == [{COMPUTE}] * len(models)
    assert [placement(m) for m in models] == [{OFFLOAD}] * len(models)
    assert fake.calls[0][0] == "free_memory" and fake.calls[0][1] >= model_bytes(*models) + 100
    assert fake.calls[-1] == ("soft_empty_cache",)
    assert comfy_env._in_use == {}


def test_nested_blocks_move_a_model_once(pack, models, monkeypatch):
    _, comfy_env = pack
    generator, clip = models[:2]
    fake = FakeManagement(models)
    monkeypatch.setattr(comfy_env, "model_management", fake)
    with comfy_env.on_device(generator, clip):
        with comfy_env.on_device(generator):
            assert placement(generator) == {COMPUTE}
        assert placement(generator) == placement(clip) == {COMPUTE}  # still in use by the outer block
    assert placement(generator) == placement(clip) == {OFFLOAD}
    assert [call[0] for call in fake.calls].count("free_memory") == 2


def test_outside_comfyui_models_load_on_the_compute_device_and_stay(pack, models):
    _, comfy_env = pack
    assert comfy_env.model_management is None
    assert comfy_env.load_device() == runtime.pick_device()
    with comfy_env.on_device(*models, memory_required=lambda: pytest.fail("planned outside ComfyUI")):
        pass
    assert [placement(m) for m in models] == [{torch.float32}] * len(models)


def test_latent_optimize_asks_for_its_chunk_and_the_weights(pack, monkeypatch):
    """The node's whole path inside a (fake) ComfyUI whose offload and compute devices are both the CPU."""
    nodes, comfy_env = pack
    fake = FakeManagement(compute=torch.device("cpu"), offload=torch.device("cpu"))
    monkeypatch.setattr(comfy_env, "model_management", fake)
    with torch.inference_mode():
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        (batch,) = nodes["EmbeddingBatch"].stack(*(nodes["TextEncode"].encode(clip, t)[0] for t in ("sea", "fire")))
        (source,) = nodes["LatentFromSeed"].sample(generator, 7, 1, 0.7)
        fake.calls.clear()
        nodes["LatentOptimize"].run(generator, clip, batch, source, "landscape", 2, 0.05, -1.0, -1.0, "learned", "",
                                    0, "fp32", "area", 1, None, 1)
    frees = [call for call in fake.calls if call[0] == "free_memory"]
    assert len(frees) == 1 and frees[0][2] == torch.device("cpu")
    assert frees[0][1] == model_bytes(generator, clip) + edit_step_bytes(generator, 1)  # one row at a time
    assert fake.calls[-1] == ("soft_empty_cache",)


def test_invert_image_moves_the_e4e_encoder_too_and_asks_for_its_batch(pack, home, monkeypatch):
    nodes, comfy_env = pack
    fake = FakeManagement(compute=torch.device("cpu"), offload=torch.device("cpu"))
    monkeypatch.setattr(comfy_env, "model_management", fake)
    with torch.inference_mode():
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        write_e4e_checkpoint(home / "e4e" / "tiny_e4e.pt", generator.num_ws, generator.w_dim)
        (perceptual,) = nodes["PerceptualLoader"].load("vgg16.pt", "none (unweighted VGG distance)")
        (e4e,) = nodes["E4ELoader"].load("tiny_e4e.pt")
        fake.calls.clear()
        latent, _, _ = nodes["InvertImage"].run(torch.rand(3, 24, 24, 3), generator, perceptual, "fast", 1, "crop", 0,
                                                2, 1, e4e)
    assert latent["ws"].shape[0] == 3
    frees = [call for call in fake.calls if call[0] == "free_memory"]
    assert len(frees) == 1
    assert frees[0][1] == model_bytes(generator, perceptual, e4e) + edit_step_bytes(generator, 2)  # 2 at once
    assert fake.calls[-1] == ("soft_empty_cache",)


def test_latent_optimize_in_chunks_equals_the_whole_batch(pack):
    nodes, _ = pack
    with torch.inference_mode():
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        texts = [nodes["TextEncode"].encode(clip, t)[0] for t in ("a red sea", "a green forest", "a white storm")]
        (batch,) = nodes["EmbeddingBatch"].stack(*texts)
        (source,) = nodes["LatentFromSeed"].sample(generator, 3, 1, 0.7)
        settings = (generator, clip, batch, source, "landscape", 4, 0.1, -1.0, -1.0, "learned", "", 0, "fp32", "area",
                    2, None)
        whole, _ = nodes["LatentOptimize"].run(*settings)
        chunked, report = nodes["LatentOptimize"].run(*settings, 2)
        single, _ = nodes["LatentOptimize"].run(*settings, 0)  # 0: all rows at once, the default
    assert whole["ws"].shape == chunked["ws"].shape == (3, generator.num_ws, generator.w_dim)
    # the same optimisation up to float summation order (as the core's own chunking test)
    assert torch.allclose(whole["ws"], chunked["ws"], atol=1e-4)
    assert torch.equal(whole["ws"], single["ws"])
    assert not torch.allclose(whole["ws"], source["ws"], atol=1e-2)  # it did move


def test_a_failed_move_gives_back_what_it_moved_and_nothing_held_by_an_outer_block(pack, models, monkeypatch):
    _, comfy_env = pack
    generator, clip = models[:2]
    fake = FakeManagement(models)
    monkeypatch.setattr(comfy_env, "model_management", fake)

    class TooLarge:
        """A model whose move to the compute device runs out of memory."""

        def to(self, device):
            if device == COMPUTE:
                raise torch.OutOfMemoryError("CUDA out of memory")
            return self

    with comfy_env.on_device(clip):
        with pytest.raises(torch.OutOfMemoryError):
            with comfy_env.on_device(generator, clip, TooLarge()):
                pass
        assert placement(generator) == {OFFLOAD}  # moved by the failed block, given back
        assert placement(clip) == {COMPUTE}  # still the outer block's
    assert placement(clip) == {OFFLOAD} and comfy_env._in_use == {}


def test_video_nodes_ask_for_their_chunk_and_frame_batch(pack, monkeypatch):
    nodes, comfy_env = pack
    fake = FakeManagement(compute=torch.device("cpu"), offload=torch.device("cpu"))
    monkeypatch.setattr(comfy_env, "model_management", fake)
    with torch.inference_mode():
        (song,) = nodes["LoadAudio"].load("rain.wav", 0.0, 0.0)  # 2 s: 4 windows of 0.5 s
        (encoder,) = nodes["AudioEncoderLoader"].load("resnet18_57.pth", "auto")
        (clip,) = nodes["CLIPLoader"].load("ViT-B-32.pt", "ViT-B-32")
        generator, _ = nodes["StyleGANLoad"].load("landscape.pt")
        (source,) = nodes["LatentFromSeed"].sample(generator, 7, 1, 0.7)
        fake.calls.clear()
        keyframes, _ = nodes["SoundKeyframes"].run(song, encoder, clip, generator, source, 0.5, 0.5, "landscape", 1,
                                                   0.1, "learned", "", 0, 3, "fp32")
        nodes["KeyframesToFrames"].render(generator, keyframes, song, 4.0, 0.0, 0.0, "const", 6, 0.0)
    assert len(keyframes.times) == 4
    frees = [call[1] for call in fake.calls if call[0] == "free_memory"]
    assert frees == [model_bytes(encoder, clip, generator) + edit_step_bytes(generator, 3),  # a chunk of 3 rows
                     model_bytes(generator) + frame_batch_bytes(generator, 6)]
