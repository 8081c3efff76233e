"""Where is the sound and retrieval: a heatmap's cost against one CLIP image encoding, and a query over 10,000
cached embeddings (random weights, real architecture sizes; CPU, and CUDA when present).

    python benchmarks/locate.py [--files 10000]

Heatmap: `locate` on a 224 px picture (one tile: the tower once, its last block on the value path only) and on a
16:9 picture (three overlapping tiles), against `ClipModel.encode_image` of the same picture, for ViT-B-32 and
RN50. Retrieval: a folder of N files whose index is already cached; one query is the folder scanned (a stat per
file), the cache read, N cosines and the sort, as `soundclip search` does on its second run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.clip import ClipModel  # noqa: E402
from soundclip_core.embedding import Embedding  # noqa: E402
from soundclip_core.locate import locate  # noqa: E402
from soundclip_core.search import build_index, rank  # noqa: E402


def best_ms(fn, repeat: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def random_clip(arch: str, device: str) -> ClipModel:
    import open_clip

    model = open_clip.create_model(arch, pretrained=None).float().eval().requires_grad_(False).to(device)
    return ClipModel(model, f"random/{arch}", "random weights")


def heatmaps(device: str) -> None:
    for arch in ("ViT-B-32", "RN50"):
        clip = random_clip(arch, device)
        target = Embedding(torch.randn(1, clip.dim), clip.space, "random")
        for height, width in ((224, 224), (224, 398)):
            picture = torch.rand(1, 3, height, width, device=device) * 2 - 1
            square = torch.nn.functional.interpolate(picture, size=(224, 224), mode="area")
            encode = best_ms(lambda c=clip, s=square: c.encode_image(s))
            heat = best_ms(lambda c=clip, p=picture, t=target: locate(p, t, c))
            print(f"{device} {arch} {height}x{width}: encode {encode:.1f} ms, heatmap {heat:.1f} ms "
                  f"({heat / encode:.2f}x)")


def retrieval(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for i in range(count):
            (root / f"{i:05d}.png").write_bytes(b"x")
        vectors = torch.nn.functional.normalize(torch.randn(count, 512), dim=-1)

        def embed(paths):  # stands in for CLIP: the first run fills the cache, every later one reads it
            return vectors[[int(p.stem) for p in paths]]

        start = time.perf_counter()
        build_index(root, "images", "random/ViT-B-32", (".png",), embed, batch=1024)
        first = time.perf_counter() - start
        query = Embedding(torch.randn(1, 512), "random/ViT-B-32", "a sound")

        def search():
            index = build_index(root, "images", "random/ViT-B-32", (".png",), embed)
            assert index.encoded == 0
            return rank(query, index.vectors, index.paths, index.space)

        whole = best_ms(search)
        index = build_index(root, "images", "random/ViT-B-32", (".png",), embed)
        ranking_only = best_ms(lambda: rank(query, index.vectors, index.paths, index.space))
        print(f"retrieval over {count} cached embeddings: first index {first * 1000:.0f} ms (embedding stubbed); "
              f"a query {whole:.0f} ms (scan + cache + rank), the ranking alone {ranking_only:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    args = parser.parse_args()
    retrieval(args.files)
    heatmaps("cpu")
    if torch.cuda.is_available():
        heatmaps("cuda")


if __name__ == "__main__":
    main()
