"""What only a CUDA GPU shows: the device mixes users met, host syncs inside loops, the memory an edit step
really takes, reduced-precision gradients, and a two-GPU training run. Run with `pytest --device cuda`
(benchmarks/gpu.sh does); elsewhere every test here skips with one line."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.multiprocessing as mp
from devices import TEST_DEVICE
from stylegan3_formats import tiny_sg3
from stylegan_formats import tiny_generator
from tiny_models import write_cli_files

from soundclip_core.cli import main
from soundclip_core.clip import tiny_clip
from soundclip_core.embedding import Embedding, combine
from soundclip_core.generators.stylegan3 import Stylegan3Generator
from soundclip_core.manipulate import optimize
from soundclip_core.memory import saved_bytes_per_image

pytestmark = pytest.mark.cuda


def test_sound_and_text_mix_on_the_gpu(tmp_path, capsys):
    """`manipulate --audio --text` crashed on CUDA: the sound's embedding came back on the CPU, the text's
    stayed on CLIP's device."""
    files = write_cli_files(tmp_path)
    m = files / "models"
    code = main(["manipulate", "--audio", str(files / "rain.wav"), "--text", "a rainy street",
                 "--encoder", str(m / "audio_encoders" / "resnet18_57.pth"),
                 "--generator", str(m / "stylegan2" / "landscape.pt"),
                 "--clip", str(m / "clip_soundclip" / "ViT-B-32.pt"),
                 "--steps", "3", "--device", str(TEST_DEVICE), "--out", str(tmp_path / "edit.png")])
    assert code == 0, capsys.readouterr().err
    clip = tiny_clip(device=TEST_DEVICE)
    sound = Embedding(torch.randn(1, clip.dim), clip.space, "sound")
    assert combine([(sound, 1.0), (clip.encode_text(["rain"]), 1.0)]).vectors.device.type == "cpu"


def sync_warnings(fn) -> int:
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchronizing" in str(w.message).lower() for w in caught)


def test_no_host_sync_inside_the_optimisation_loop():
    """torch.cuda.set_sync_debug_mode counts every sync: 2 steps and 8 steps must sync equally often (set-up
    and the final read only)."""
    generator = tiny_generator(32).to(TEST_DEVICE)
    clip = tiny_clip(device=TEST_DEVICE)
    target = clip.encode_text(["a red sunset"])
    w = generator.ws_from_seed(1).to(TEST_DEVICE)
    counts = [sync_warnings(lambda n=n: optimize(generator, clip, target, w, steps=n, preview_every=1,
                                                  callback=lambda *a: None)) for n in (2, 8)]
    assert counts[0] == counts[1], counts


def test_no_host_sync_inside_the_inversion_loop():
    from tiny_models import tiny_vgg

    from soundclip_core.invert import project

    generator, vgg = tiny_generator(32).to(TEST_DEVICE), tiny_vgg().to(TEST_DEVICE)
    photo = generator.synthesis(generator.ws_from_seed(4).to(TEST_DEVICE)).detach()
    counts = [sync_warnings(lambda n=n: project(generator, photo, vgg, steps=n, w_fraction=0.5, optimize_noise=True,
                                                callback=lambda *a: None)) for n in (4, 12)]
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("arch,size,ceiling_gib", [("stylegan3-t", 512, None), ("stylegan3-t", 1024, 12.0)])
def test_an_edit_steps_peak_memory(arch, size, ceiling_gib):
    """What the GPU really holds for one image's edit step: the plan (benchmarks/memory.py) plus the weights,
    CLIP and the transients of one layer; SG3-T at 1024 px fits in 12 GiB."""
    generator = Stylegan3Generator.from_schedule(size, arch, mapping_layers=2).eval().requires_grad_(False)
    planned = saved_bytes_per_image(generator)
    generator = generator.to(TEST_DEVICE)
    clip = tiny_clip(device=TEST_DEVICE, image_size=224)
    target = clip.encode_text(["a red sunset"])
    w = generator.w_avg.expand(1, generator.num_ws, -1).clone()
    optimize(generator, clip, target, w, steps=1)  # warm-up: cuDNN workspaces, allocator
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    optimize(generator, clip, target, w, steps=2)
    peak = torch.cuda.max_memory_allocated() - base
    assert peak < 1.5 * planned + 2**30, (peak / 2**30, planned / 2**30)
    if ceiling_gib is not None:
        assert torch.cuda.max_memory_allocated() < ceiling_gib * 2**30


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_edits_move_like_fp32(precision):
    """A 256 px image's CLIP gradient falls below fp16's normal range unless the loss is scaled: the first
    Adam step (the sign of the gradient) must agree with fp32's."""
    if precision == "bf16" and torch.cuda.get_device_capability(TEST_DEVICE)[0] < 8:
        pytest.skip("this GPU has no native bf16")
    generator = tiny_generator(256).to(TEST_DEVICE)
    clip = tiny_clip(device=TEST_DEVICE, image_size=224)
    target = clip.encode_text(["a red sunset"])
    w = generator.ws_from_seed(3).to(TEST_DEVICE)
    moves = {p: optimize(generator, clip, target, w, steps=2, precision=p).w - w for p in ("fp32", precision)}
    cosine = torch.nn.functional.cosine_similarity(moves["fp32"].flatten(), moves[precision].flatten(), dim=0)
    assert float(cosine) > 0.9 and bool(moves[precision].abs().sum() > 0)


def test_training_on_one_gpu_with_a_bare_cuda(tmp_path):
    """`soundclip train --device cuda` raised in torch.cuda.set_device(torch.device("cuda"))."""
    from sound_datasets import write_esc50
    from train_helpers import FRONTEND, small_net

    from soundclip_core.train import TrainConfig, train

    data = write_esc50(tmp_path / "ESC-50", per_fold=2)
    clip = tiny_clip(device=TEST_DEVICE)
    result = train(TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=8, frontend=FRONTEND,
                               workers=0, progress=False, prompt="{}", device="cuda"), clip=clip, net=small_net())
    assert result.encoder is not None and result.encoder.is_file()


def test_two_gpus_train_with_nccl(tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    from sound_datasets import write_esc50
    from train_helpers import FRONTEND, ddp_worker

    data = write_esc50(tmp_path / "ESC-50", per_fold=2)
    kwargs = {"data": str(data), "out": str(tmp_path / "ddp"), "epochs": 1, "batch_size": 8, "frontend": FRONTEND,
              "workers": 0, "progress": False, "prompt": "{}", "device": "cuda"}
    results = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(ddp_worker, args=(2, 29533, kwargs, results, "cuda"), nprocs=2, start_method="spawn")
    assert len(results.get()) == 1 and (tmp_path / "ddp" / "encoder.pth").is_file()


def test_stylegan3_gradients_on_the_gpu_match_the_cpu():
    generator = tiny_sg3("stylegan3-r")
    ws = generator.w_avg.expand(2, generator.num_ws, -1).clone().requires_grad_(True)
    generator.synthesis(ws).square().mean().backward()
    on_gpu = generator.to(TEST_DEVICE)
    ws_gpu = ws.detach().to(TEST_DEVICE).requires_grad_(True)
    on_gpu.synthesis(ws_gpu).square().mean().backward()
    assert torch.allclose(ws_gpu.grad.cpu(), ws.grad, rtol=1e-2, atol=1e-5)


def test_progress_values_arrive_without_a_sync():
    from soundclip_core.runtime import LateValues

    values = LateValues()
    loss = torch.ones((), device=TEST_DEVICE)
    assert sync_warnings(lambda: [values.push({"loss": loss * i}) or values.latest() for i in range(20)]) == 0
    assert values.wait() == {"loss": 19.0}
