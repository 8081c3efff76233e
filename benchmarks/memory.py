"""Memory of an edit step per image: what the generator's backward keeps, by architecture and size.

    python benchmarks/memory.py [--archs stylegan2 stylegan3-t stylegan3-r] [--sizes 256 512 1024]

Planned on fake tensors (`soundclip_core.memory`): no memory is allocated and nothing is computed, so it
runs on any machine in seconds and gives the same numbers a GPU would hold (fp32). Add the weights
(printed too) and CLIP's share (ViT-B/32 at 224 px: about 0.1 GiB per image) for the whole step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from soundclip_core.generators.stylegan3 import Stylegan3Generator  # noqa: E402
from soundclip_core.memory import saved_bytes_per_image  # noqa: E402


def build(arch: str, size: int):
    if arch == "stylegan2":
        return Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False)
    return Stylegan3Generator.from_schedule(size, arch, mapping_layers=2).eval().requires_grad_(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["stylegan2", "stylegan3-t", "stylegan3-r"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024])
    args = parser.parse_args()
    print("| architecture | size | kept for backward, per image | weights |")
    print("| --- | --- | --- | --- |")
    for arch in args.archs:
        for size in args.sizes:
            generator = build(arch, size)
            weights = sum(p.numel() * p.element_size() for p in generator.parameters())
            kept = saved_bytes_per_image(generator)
            print(f"| {arch} | {size} px | {kept / 2**30:.2f} GiB | {weights / 2**30:.2f} GiB |", flush=True)


if __name__ == "__main__":
    main()
