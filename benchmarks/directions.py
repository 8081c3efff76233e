"""Instant edits vs optimisation, and the gradient table vs the finite table, side by side in one run.

    python benchmarks/directions.py [--size 256] [--steps 300] [--table-size 32] [--table-images 2]

1. On a StyleGAN2 config-f generator of `--size` px with random weights and a random ViT-B-32 CLIP:
   an instant edit (direction from target and neutral, GetBoundary relevance, apply, decode from styles)
   against the optimisation of the same target from the same latent (`manipulate.optimize`, `--steps`
   steps; fewer than 300 are timed and scaled to 300, and the row says so). The instant edit's cost does not
   depend on the table's values, so a random unit table of the generator's real layout (conv layers <= 128 px,
   no ToRGB) stands in for a computed one.
2. The two table methods (`compute_table`, finite: 2 renders per channel per image; gradient: clip_dim backward
   passes per image) on a small generator of `--table-size` px, same images and channels, with the mean cosine
   between their rows. StyleCLIP's own code is not run here (`--styleclip` is not implemented yet).
CPU, `--threads` threads (default 2); CUDA rows too when a GPU is present.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.clip import ClipModel, tiny_clip  # noqa: E402
from soundclip_core.directions import (  # noqa: E402
    ChannelTable,
    apply_relevance,
    channel_statistics,
    compute_table,
    generator_fingerprint,
    relevance,
    table_layout,
    text_direction,
)
from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from soundclip_core.manipulate import optimize  # noqa: E402


def seconds(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def instant_vs_optimisation(size: int, steps: int, device: torch.device) -> None:
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False).to(device)
    g.estimate_w_avg(512)
    model = open_clip.create_model("ViT-B-32-quickgelu").eval().requires_grad_(False).to(device)
    clip = ClipModel(model, "openai/ViT-B-32", "random ViT-B-32")
    target, neutral = clip.encode_text(["the sound of rain"]), clip.encode_text(["a photo of a landscape"])
    layout = table_layout(g)
    stats = channel_statistics(g, 2000)
    table = ChannelTable(F.normalize(torch.randn(layout.total, clip.dim), dim=-1), layout, clip.space, "random",
                         generator_fingerprint(g), stats, 0, 5.0)
    ws = g.ws_from_seed(0)

    def instant():
        with torch.no_grad():
            r = relevance(table, text_direction(target, neutral), beta=0.1)
            image = g.synthesis_from_styles(apply_relevance(g, g.styles(ws), table, r, alpha=4.0))
        if device.type == "cuda":
            torch.cuda.synchronize()
        return image

    instant_s = seconds(instant, 3 if size <= 256 else 2)
    optimise_s = seconds(lambda: optimize(g, clip, target, ws, steps=steps))
    scaled = optimise_s * 300 / steps
    note = "" if steps == 300 else f" ({steps} steps timed, x{300 / steps:g})"
    print(f"{device.type:5} {size:5} px  table {layout.total} channels  instant edit {instant_s * 1000:9.1f} ms  "
          f"300-step optimisation {scaled:8.1f} s{note}  ratio 1/{scaled / instant_s:,.0f}", flush=True)


def table_methods(size: int, images: int, device: torch.device) -> None:
    channels = [64, 64, 48, 32, 32, 16, 16][: size.bit_length() - 2]
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(resolution=size, z_dim=64, w_dim=64, mapping_layers=2, channels=channels))
    g = g.eval().requires_grad_(False).to(device)
    g.estimate_w_avg(256)
    clip = tiny_clip(device=device, image_size=32)
    channel_statistics(g, 2000)
    tables, times = {}, {}
    for method in ("finite", "gradient"):
        times[method] = seconds(lambda m=method: tables.__setitem__(m, compute_table(
            g, clip, m, images=images, stats_samples=2000, image_batch=images)))
    cos = (tables["finite"].rows * tables["gradient"].rows).sum(1)
    n = tables["finite"].layout.total
    print(f"{device.type:5} {size:5} px  {n} channels x {images} images, clip_dim {clip.dim}:  "
          f"finite {times['finite']:7.2f} s  "
          f"gradient {times['gradient']:7.2f} s  ratio {times['gradient'] / times['finite']:.2f}x  "
          f"row cosine mean {cos.mean():.3f} median {cos.median():.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--table-size", type=int, default=32)
    parser.add_argument("--table-images", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        instant_vs_optimisation(args.size, args.steps, device)
        table_methods(args.table_size, args.table_images, device)


if __name__ == "__main__":
    main()
