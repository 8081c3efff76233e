"""Seconds per optimisation step (generator + CLIP ViT-B-32 + loss + Adam), random weights.

    python benchmarks/optimize.py [--sizes 256 1024] [--steps 3] [--precisions fp32 bf16]

The research loop (rosinality generator + CLIP ViT-B/32, 7x upsample + pool) took about
2.0 s per step at 256 px and 7.2 s at 1024 px on this CPU with 2 threads (../shared/DESIGN.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import open_clip
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.clip import ClipModel  # noqa: E402
from soundclip_core.manipulate import optimize  # noqa: E402
from soundclip_core.stylegan2 import Generator, GeneratorConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--clip-input", nargs="+", default=["area", "official"])
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
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
            for precision in args.precisions:
                for clip_input in args.clip_input:
                    stamps: list[float] = []

                    def stamp(step, total, preview, info):
                        if device.type == "cuda":
                            torch.cuda.synchronize()
                        stamps.append(time.perf_counter())

                    optimize(g, clip, target, w, steps=args.steps + 2, precision=precision, clip_input=clip_input,
                             callback=stamp)
                    # steady state: the median interval between step callbacks (the first step warms up)
                    per_step = statistics.median(b - a for a, b in zip(stamps[1:], stamps[2:]))
                    print(f"{device.type:6} {size:5} {precision:9} {clip_input:10} {per_step:8.3f}", flush=True)


if __name__ == "__main__":
    main()
