"""What an edit step keeps for its backward, and what it reads back to the host.

StyleGAN3's filtered leaky ReLU once kept its 2x up-sampled float activation for backward (11.2 GiB per
image for an SG3-T 1024 px edit step) and read a value back to the host in every layer: now it keeps
2 bits per activated element and reads nothing."""

from __future__ import annotations

import math

import pytest
import torch
from host_reads import HostReads
from stylegan3_formats import tiny_sg3
from stylegan_formats import tiny_generator
from torch.autograd.graph import saved_tensors_hooks

from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig
from soundclip_core.generators.stylegan3 import Stylegan3Generator
from soundclip_core.generators.stylegan3 import ops as sg3_ops
from soundclip_core.generators.stylegan3.filters import lowpass
from soundclip_core.memory import saved_bytes_per_image


def saved_bytes(fn) -> int:
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return total


@pytest.mark.parametrize("clamp", [None, 0.5])
def test_filtered_lrelu_keeps_two_bits_per_activated_element(clamp):
    x = torch.randn(2, 8, 20, 20, requires_grad=True)
    up, fu, fd = 2, lowpass(12, 3.0, 2.0, 32.0), lowpass(12, 4.0, 3.0, 32.0)
    activated = 2 * 8 * (20 * up + 9 + 8 - 11) ** 2  # up-sampled, padded, filtered: what the activation sees
    with sg3_ops.lean_backward():  # the GPU's path (the CPU keeps the activation: faster there)
        kept = saved_bytes(lambda: sg3_ops.filtered_lrelu(x, fu, fd, up, 2, (9, 8, 9, 8), math.sqrt(2), 0.2, clamp))
    filters = (fu.numel() + fd.numel()) * 4
    assert kept <= math.ceil(activated / 4) + filters  # a float32 activation would be 4 bytes each: 16x more


def test_planned_memory_equals_what_a_real_step_keeps():
    """The fake-tensor plan counts exactly what a real forward saves for each more image."""
    for generator in (tiny_sg3("stylegan3-t"), tiny_sg3("stylegan3-r"), tiny_generator(32)):
        assert saved_bytes_per_image(generator) == saved_bytes_per_image(generator, fake=False) > 0


@pytest.mark.parametrize("arch,size,ceiling_gib", [("stylegan2", 1024, 1.3), ("stylegan3-t", 512, 1.5),
                                                   ("stylegan3-t", 1024, 2.5), ("stylegan3-r", 1024, 4.8)])
def test_edit_step_memory_per_image_stays_under_its_ceiling(arch, size, ceiling_gib):
    """The README's per-image numbers (benchmarks/memory.py), as ceilings: SG3-T at 1024 px kept 11.2 GiB
    per image before the packed activation codes, SG3-R 18.3 GiB."""
    if arch == "stylegan2":
        generator = Generator(GeneratorConfig(resolution=size))
    else:
        generator = Stylegan3Generator.from_schedule(size, arch, mapping_layers=2)
    assert saved_bytes_per_image(generator.requires_grad_(False)) < ceiling_gib * 2**30


@pytest.mark.parametrize("make", [lambda: tiny_sg3("stylegan3-t"), lambda: tiny_sg3("stylegan3-r"),
                                  lambda: tiny_generator(32, conv_clamp=256)])
def test_an_edit_steps_forward_and_backward_read_nothing_back_to_the_host(make):
    generator = make()
    ws = generator.w_avg.expand(2, generator.num_ws, -1).clone().requires_grad_(True)
    with HostReads() as reads, sg3_ops.lean_backward():  # the GPU's path; the CPU's may read (no device there)
        generator.synthesis(ws).square().mean().backward()
        with torch.no_grad():
            generator.synthesis(ws)
    assert reads.count == 0, reads.ops
    assert ws.grad is not None and bool(ws.grad.abs().sum() > 0)


def test_the_host_read_counter_sees_every_kind_of_read():
    """The counter itself: .item(), bool() and float() are each seen (`.tolist()` and `.numpy()` read CPU
    memory directly, unseen here; on CUDA they need a copy to the host first, which no loop of ours makes)."""
    t = torch.ones(3)
    with HostReads() as reads:
        t.sum().item()
        bool(t[0] > 0)
        float(t[1])
    assert reads.count == 3
