"""Device choice and placement, checked on any machine: a GPU asked for that is not there, CUDA's fast
defaults, native bf16 only, embeddings that combine wherever they were made, and each training process
on its own GPU before anything lands there."""

from __future__ import annotations

import pytest
import torch

from soundclip_core import runtime
from soundclip_core.clip import tiny_clip
from soundclip_core.embedding import Embedding, combine, stack
from soundclip_core.errors import SoundClipError
from soundclip_core.train import distributed


def test_a_gpu_that_is_not_there_is_one_clear_error():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(SoundClipError, match="Fix:") as error:
        runtime.pick_device(f"cuda:{count}" if count else "cuda")
    assert "\n" not in str(error.value)
    with pytest.raises(SoundClipError, match="unknown device 'gpu0'"):
        runtime.pick_device("gpu0")
    if not runtime.mps_available():
        with pytest.raises(SoundClipError, match="MPS"):
            runtime.pick_device("mps")


def test_cuda_runs_get_cudnn_autotuning_and_tf32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        assert runtime.pick_device("cuda") == torch.device("cuda")
        assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
        monkeypatch.setenv("SOUNDCLIP_TF32", "0")
        runtime.pick_device("cuda:0")
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = saved


@pytest.mark.parametrize("capability,native", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_bf16_only_where_the_gpu_computes_it(monkeypatch, capability, native):
    """torch.cuda.is_bf16_supported() also says yes for Turing and Volta, which emulate bf16 slower than fp32."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    if native:
        assert runtime.precision_dtype("bf16", torch.device("cuda")) == torch.bfloat16
    else:
        with pytest.raises(SoundClipError, match="emulated"):
            runtime.precision_dtype("bf16", torch.device("cuda"))


def test_embeddings_live_on_the_cpu_so_sound_and_text_combine_anywhere():
    """A sound encoded on one device and a text on CLIP's device combine: every embedding is kept on the CPU
    (float32, unit rows), whatever device and dtype made it; each consumer moves it once."""
    clip = tiny_clip(device="cpu")
    text = clip.encode_text(["rain"])
    sound = Embedding(torch.randn(1, clip.dim, dtype=torch.bfloat16), clip.space, "sound")
    for e in (text, sound, combine([(sound, 1.0), (text, 0.5)]), stack([sound, text])):
        assert e.vectors.device.type == "cpu" and e.vectors.dtype == torch.float32
        assert torch.allclose(e.vectors.norm(dim=-1), torch.ones(e.batch_size))


@pytest.mark.parametrize("requested,world,rank,expected", [
    ("cuda", 1, 0, "cuda:3"),      # alone, a bare "cuda" is the current GPU (set_device needs an index)
    ("cuda:1", 1, 0, "cuda:1"),
    ("cuda", 4, 2, "cuda:2"),      # under torchrun each rank its own GPU...
    ("cuda:0", 4, 2, "cuda:2"),    # ...even when the command line names one
    ("cpu", 4, 2, "cpu"),
])
def test_each_process_computes_on_its_own_device(requested, world, rank, expected):
    assert distributed.process_device(torch.device(requested), world, rank, current_index=3) == torch.device(expected)


def test_a_torchrun_process_sets_its_gpu_before_joining_the_group(monkeypatch):
    """NCCL binds a process to the current GPU when the group is created: set_device must come first (and
    with an index: torch.cuda.set_device(torch.device("cuda")) raises)."""
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(runtime, "pick_device", lambda requested: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", str(device))))
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: calls.append(("init", backend)))
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 1)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 2)
    node, device = distributed.join("cuda:0")
    assert calls == [("set_device", "cuda:1"), ("init", "nccl")]
    assert device == torch.device("cuda", 1) and (node.rank, node.world, node.local_rank) == (1, 2, 1)


def test_one_process_without_torchrun_joins_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    node, device = distributed.join("cpu")
    assert not node.active and device == torch.device("cpu")
