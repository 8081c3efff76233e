"""No loop that runs for hundreds of steps reads a value back to the host per step (on CUDA each read
waits for the GPU): the number of reads must not grow with the number of steps. Counted on any device
with a dispatch mode (`host_reads.HostReads`); tests/core/test_cuda.py checks the same with CUDA's own sync
debugger."""

from __future__ import annotations

import torch
from devices import TEST_DEVICE
from host_reads import HostReads
from stylegan_formats import tiny_generator
from tiny_models import tiny_vgg

from soundclip_core.clip import tiny_clip
from soundclip_core.invert import project
from soundclip_core.manipulate import optimize


def reads(run) -> int:
    with HostReads() as counter:
        run()
    return counter.count


def test_the_optimisation_reads_nothing_back_per_step():
    generator, clip = tiny_generator(16).to(TEST_DEVICE), tiny_clip(device=TEST_DEVICE)
    target, w = clip.encode_text(["a red sunset"]), generator.ws_from_seed(1)
    counts = [reads(lambda n=n: optimize(generator, clip, target, w, steps=n, preview_every=2,
                                         callback=lambda *a: None)) for n in (3, 9)]
    assert counts[0] == counts[1], counts


def test_the_inversion_reads_nothing_back_per_step():
    generator, vgg = tiny_generator(16), tiny_vgg()
    photo = generator.synthesis(generator.ws_from_seed(4)).detach()
    counts = [reads(lambda n=n: project(generator, photo, vgg, steps=n, w_fraction=0.5, optimize_noise=True,
                                        callback=lambda *a: None, preview_every=2)) for n in (4, 12)]
    assert counts[0] == counts[1], counts
    assert torch.isfinite(project(generator, photo, vgg, steps=4).loss_history).all()
