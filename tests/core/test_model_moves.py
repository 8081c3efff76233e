"""Every model the nodes pass around moves completely with `.to(device)`, and the memory a node's work needs
is planned without a GPU.

ComfyUI's way for models outside its model patcher keeps them on the offload device (the CPU) and moves them
to the GPU for each node's work only; whatever a move leaves behind (a cached value of the old device) would
hold GPU memory for good, or mix devices. `meta` stands in for the other device here: a tensor there has a
shape and no memory, so placement is checked directly on any machine."""

from __future__ import annotations

import torch
from stylegan3_formats import tiny_sg3
from stylegan_formats import tiny_generator
from tiny_models import tiny_vgg, write_e4e_checkpoint

from soundclip_core.arcface import build_arcface
from soundclip_core.clip import tiny_clip
from soundclip_core.encoders import build_audio_encoder
from soundclip_core.generators.derived import derived
from soundclip_core.invert import load_e4e
from soundclip_core.memory import (
    BACKWARD_LIVE_ACTIVATIONS,
    DECODE_LIVE_ACTIVATIONS,
    decode_bytes,
    edit_step_bytes,
    largest_activation_bytes,
    model_bytes,
    saved_bytes_per_image,
)
from soundclip_core.video.frames import SYNTHESIS_CHUNK, frame_batch_bytes

META = torch.device("meta")


def _cached_tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    """The tensors held beside a module's parameters: derived values and per-label mean latents."""
    found = []
    for sub in module.modules():
        for name, value in vars(sub).items():
            if name.startswith("_derived_"):
                found += [t for t in torch.utils._pytree.tree_leaves(value) if isinstance(t, torch.Tensor)]
    found += list(getattr(module, "_label_avgs", {}).values())
    return found


def _images(generator, ws):
    with torch.no_grad():
        return generator.synthesis(ws, noise_mode="const")


def test_a_generator_move_drops_its_caches_and_draws_the_same_images():
    for generator in (tiny_generator(16, c_dim=3), tiny_sg3("stylegan3-t")):
        label = torch.eye(3)[:1] if generator.c_dim else None
        if label is not None:
            generator.per_label_avg = True
        ws = generator.ws_from_seed(1, truncation_psi=0.7, c=label)
        before = _images(generator, ws)
        assert _cached_tensors(generator), "the decode cached derived values (the test needs some)"
        assert not generator.c_dim or generator._label_avgs, "truncation cached a per-label mean"
        generator.to(torch.float64)
        assert not _cached_tensors(generator)  # nothing of the float32 model is left
        assert generator.latent_avg.dtype == torch.float64
        generator.to(torch.float32)
        assert not _cached_tensors(generator)
        assert torch.equal(_images(generator, ws), before)
        assert torch.equal(generator.ws_from_seed(1, truncation_psi=0.7, c=label), ws)
        generator.to(META)
        assert not _cached_tensors(generator)
        assert {t.device for t in [*generator.parameters(), *generator.buffers()]} == {META}


def test_vgg_lpips_drops_its_winograd_kernels_on_a_move():
    net = tiny_vgg()
    conv = net.convs[0]
    derived(conv, "winograd", conv.weight, lambda w: w * 2)  # what a gradient through the conv caches
    assert "_derived_winograd" in vars(conv)
    net.to(META)
    assert "_derived_winograd" not in vars(conv)
    assert {t.device for t in [*net.parameters(), *net.buffers()]} == {META}


def test_wrappers_move_everything_they_hold(tmp_path):
    clip = tiny_clip(device="cpu")
    clip.prepare_images(torch.zeros(1, 3, 32, 32))  # caches the normalisation on the CPU
    assert clip._normalisation
    assert clip.to(META) is clip and clip.device == META and not clip._normalisation
    assert {p.device for p in clip.model.parameters()} == {META}

    encoder = build_audio_encoder("soundclip", device="cpu")
    twin = encoder.runner  # the inference twin, built on first use
    assert encoder.to(META) is encoder and encoder.device == META
    assert encoder._twin is twin and {p.device for p in twin.parameters()} == {META}

    arcface = build_arcface(device="cpu")
    assert arcface.to(META) is arcface and {p.device for p in arcface.model.parameters()} == {META}

    write_e4e_checkpoint(tmp_path / "e4e.pt", 8, 32)
    e4e = load_e4e(tmp_path / "e4e.pt", "cpu")
    assert e4e.to(META) is e4e and e4e.latent_avg.device == META
    assert {p.device for p in e4e.net.parameters()} == {META}


def test_wrappers_survive_a_dtype_round_trip(tmp_path):
    clip = tiny_clip(device="cpu")
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    before = clip.encode_image(images).vectors
    clip.to(torch.float64)
    assert clip.model.text_projection.dtype == torch.float64 and not clip._normalisation
    assert torch.equal(clip.to(torch.float32).encode_image(images).vectors, before)

    write_e4e_checkpoint(tmp_path / "e4e.pt", 8, 32)
    e4e = load_e4e(tmp_path / "e4e.pt", "cpu")
    start = e4e.encode(images)
    e4e.to(torch.float64)
    assert e4e.latent_avg.dtype == torch.float64
    assert torch.equal(e4e.to(torch.float32).encode(images), start)


def _weights(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def test_model_bytes_count_each_tensor_once_also_inside_wrappers(tmp_path):
    generator = tiny_generator(16)
    assert model_bytes(generator) == _weights(generator) == model_bytes(generator, generator)
    clip = tiny_clip(device="cpu")
    assert model_bytes(clip) == _weights(clip.model)
    write_e4e_checkpoint(tmp_path / "e4e.pt", 8, 32)
    e4e = load_e4e(tmp_path / "e4e.pt", "cpu")
    assert model_bytes(e4e) == _weights(e4e.net) + e4e.latent_avg.numel() * 4  # the mean latent too
    encoder = build_audio_encoder("soundclip", device="cpu")
    encoder.runner  # noqa: B018 (builds the inference twin: a second copy on the device)
    assert model_bytes(encoder) == _weights(encoder.net) + _weights(encoder._twin)


def test_memory_plans_scale_with_the_rows_and_are_made_once():
    generator = tiny_sg3("stylegan3-t").requires_grad_(False)
    per_image = saved_bytes_per_image(generator)
    largest = largest_activation_bytes(generator)
    assert 0 < largest < per_image
    assert edit_step_bytes(generator, 1) == per_image + BACKWARD_LIVE_ACTIVATIONS * largest
    assert edit_step_bytes(generator, 5) == 5 * edit_step_bytes(generator, 1)
    assert decode_bytes(generator, 4) == 4 * DECODE_LIVE_ACTIVATIONS * largest < edit_step_bytes(generator, 4)
    pixels = 3 * generator.resolution**2 * 4
    assert frame_batch_bytes(generator, 8) == decode_bytes(generator, SYNTHESIS_CHUNK) + 8 * pixels
    assert set(generator._memory_plans) == {("saved per image", torch.float32), ("largest activation", torch.float32)}
    generator._memory_plans = {key: 7 for key in generator._memory_plans}  # kept: not planned again
    assert edit_step_bytes(generator, 1) == 7 + BACKWARD_LIVE_ACTIVATIONS * 7
    generator.to(META)
    assert edit_step_bytes(generator, 1) == 21  # a plain number survives a move


def test_memory_is_planned_for_inference_mode_weights_as_comfyui_loads_them():
    """ComfyUI runs nodes under torch.inference_mode(), and autograd refuses the weights loaders make there:
    the plan runs on a weightless copy, and equals the plan of ordinary weights."""
    for make in (lambda: tiny_generator(16), lambda: tiny_sg3("stylegan3-r")):
        ordinary = make()
        expected = edit_step_bytes(ordinary, 3), decode_bytes(ordinary, 3)
        assert expected[0] == 3 * (saved_bytes_per_image(ordinary) +
                                   BACKWARD_LIVE_ACTIVATIONS * largest_activation_bytes(ordinary))
        with torch.inference_mode():
            generator = make()
            assert generator.latent_avg.is_inference()
            assert (edit_step_bytes(generator, 3), decode_bytes(generator, 3)) == expected
            assert generator.latent_avg.is_inference() and not _cached_tensors(generator)  # the model is untouched
