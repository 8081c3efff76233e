"""Seconds per optimisation step (generator + CLIP ViT-B-32 + loss + Adam), random weights.

    python benchmarks/optimize.py [--sizes 256 1024] [--steps 3] [--precisions fp32 bf16]
                                  [--research DIR] [--device cuda]

With --research (a rosinality/stylegan2-pytorch checkout; never vendored) the research loop's
step runs side by side on the same weights: rosinality's generator with its CPU ops, 7x nearest
upsample + average pool into the same ViT-B-32, the SoundCLIP audio encoder's forward (the
official loop recomputes it every step), cosine loss with the e^0.07 factor, the latent
distance, Adam. ../shared/DESIGN.md measured that step at about 2.0 s (256 px) / 7.2 s (1024 px).
On CUDA (`--device cuda`, alone: one process imports rosinality's ops one way) the research loop runs
with rosinality's CUDA extension, compiled when imported (nvcc and ninja needed); benchmarks/gpu.sh
runs every benchmark's CUDA row.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import open_clip
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from generator import rosinality_synthesis  # noqa: E402

from soundclip_core import runtime  # noqa: E402
from soundclip_core.clip import ClipModel  # noqa: E402
from soundclip_core.encoders.soundclip import SoundCLIPNet  # noqa: E402
from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from soundclip_core.manipulate import optimize  # noqa: E402


def research_step_seconds(directory: str, g: Generator, model: torch.nn.Module, steps: int,
                          device: torch.device) -> float:
    """Median seconds per step of the official optimisation loop's arithmetic (see the module docstring)."""
    synthesis = rosinality_synthesis(directory, g, device)
    upsample, pool = torch.nn.Upsample(scale_factor=7), torch.nn.AvgPool2d(g.resolution // 32)
    audio_net = SoundCLIPNet().eval().requires_grad_(False).to(device)
    audio = torch.rand(1, 1, 128, 512, device=device)
    init = g.ws_from_seed(0).to(device)
    latent = init.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=0.002)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        image = synthesis(latent)
        image_features = model.encode_image(pool(upsample(image))).float()
        audio_features = audio_net(audio).float()
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        audio_features = audio_features / audio_features.norm(dim=-1, keepdim=True)
        loss = 1 - (image_features @ audio_features.T)[0] * math.exp(0.07) + 0.008 * ((init - latent) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--clip-input", nargs="+", default=["area", "official"])
    parser.add_argument("--research", help="a rosinality/stylegan2-pytorch checkout: time the research loop too")
    parser.add_argument("--device", nargs="+", help="devices to time, e.g. cuda (default: cpu, and cuda if present)")
    args = parser.parse_args()
    devices = [runtime.pick_device(d) for d in args.device] if args.device else (
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':6} {'px':>5} {'precision':9} {'clip input':10} {'s/step':>8}")
    for device in devices:
        torch.manual_seed(0)
        model = open_clip.create_model("ViT-B-32-quickgelu").eval().requires_grad_(False).to(device)
        clip = ClipModel(model, "openai/ViT-B-32", "random ViT-B-32")
        target = clip.encode_text(["the sound of rain"])
        for size in args.sizes:
            g = Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False).to(device)
            w = g.ws_from_seed(0)
            if args.research:
                try:
                    seconds = research_step_seconds(args.research, g, model, args.steps, device)
                    print(f"{device.type:6} {size:5} {'fp32':9} {'research':10} {seconds:8.3f}", flush=True)
                except Exception as error:  # e.g. rosinality's CUDA ops do not build here: ours still runs
                    print(f"{device.type:6} {size:5} {'fp32':9} {'research':10} failed: {error!r}", flush=True)
            for precision in args.precisions:
                if precision == "bf16" and device.type == "cpu" and not runtime.cpu_has_fast_bf16():
                    print(f"{device.type:6} {size:5} {precision:9} (skipped: this CPU has no native bf16)")
                    continue
                for clip_input in args.clip_input:
                    stamps: list[float] = []

                    def stamp(step, total, preview, info, device=device, stamps=stamps):
                        if device.type == "cuda":
                            torch.cuda.synchronize()
                        stamps.append(time.perf_counter())

                    optimize(g, clip, target, w, steps=args.steps + 2, precision=precision, clip_input=clip_input,
                             callback=stamp)
                    # steady state: the median interval between step callbacks (the first step warms up)
                    per_step = statistics.median(b - a for a, b in zip(stamps[1:], stamps[2:], strict=False))
                    print(f"{device.type:6} {size:5} {precision:9} {clip_input:10} {per_step:8.3f}", flush=True)


if __name__ == "__main__":
    main()
