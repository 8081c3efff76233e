"""Generator speed: ms per image, forward and forward+backward w.r.t. W+, by architecture, resolution,
batch, precision and device, next to the literal reference path (and, optionally, the original
rosinality / NVIDIA implementations from checkouts given on the command line; never vendored).

    python benchmarks/generator.py [--archs stylegan2 stylegan3-t] [--sizes 256 1024] [--batches 1 8]
                                   [--repeat 3] [--rosinality DIR] [--nvidia DIR] [--nvidia-sg3 DIR]
                                   [--device cuda]

StyleGAN3 rows use a random generator of the paper's config T (or R) schedule: channel_base 32768
(R: 65536), channel_max 512 (R: 1024), 2 mapping layers. `--nvidia-sg3` times NVIDIA's
networks_stylegan3 from an NVlabs/stylegan3 checkout on the same weights (its reference ops, which
is what runs without its CUDA extensions; building it needs scipy importable).
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core import runtime  # noqa: E402
from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from soundclip_core.generators.stylegan2.reference import synthesis_reference  # noqa: E402
from soundclip_core.generators.stylegan3 import Stylegan3Generator  # noqa: E402
from soundclip_core.generators.stylegan3.reference import synthesis_reference as sg3_synthesis_reference  # noqa: E402


def timed(fn, repeat: int, device: torch.device) -> float:
    """Best-of-`repeat` seconds for fn() after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def measure(synthesis, ws: torch.Tensor, device, precision: str, repeat: int) -> tuple[float, float]:
    def forward():
        with torch.no_grad(), runtime.autocast(device, precision):
            synthesis(ws)

    def backward():
        w = ws.detach().requires_grad_(True)
        with runtime.autocast(device, precision):
            image = synthesis(w)
        image.float().square().mean().backward()

    n = ws.shape[0]
    return timed(forward, repeat, device) * 1000 / n, timed(backward, repeat, device) * 1000 / n


def rosinality_synthesis(directory: str, g: Generator, device: torch.device | None = None):
    """rosinality's Generator: on the CPU with its own fallback ops (the CUDA extension build is stubbed out),
    on CUDA with its CUDA extension, compiled when imported (needs nvcc and ninja), as the research code ran."""
    import torch.utils.cpp_extension as ext

    device = device or torch.device("cpu")
    if device.type == "cpu":
        ext.load = lambda *a, **k: types.SimpleNamespace()
    sys.path.insert(0, directory)
    from model import Generator as Rosinality  # type: ignore

    ref = Rosinality(g.resolution, g.w_dim, g.config.mapping_layers).eval().requires_grad_(False)
    ref.load_state_dict({k: v for k, v in g.state_dict().items() if k != "latent_avg"}, strict=False)
    ref = ref.to(device)
    return lambda ws: ref([ws], input_is_latent=True, randomize_noise=False)[0]


def nvidia_synthesis(directory: str, g: Generator):
    """NVIDIA stylegan2-ada-pytorch's SynthesisNetwork (reference CPU ops), same weights."""
    sys.path.insert(0, directory)
    from training.networks import SynthesisNetwork  # type: ignore

    net = SynthesisNetwork(w_dim=g.w_dim, img_resolution=g.resolution, img_channels=3, channel_base=32768,
                           channel_max=512, num_fp16_res=0).eval().requires_grad_(False)
    net.load_state_dict(nvidia_synthesis_state(g), strict=False)
    return lambda ws: net(ws, noise_mode="const", force_fp32=True)


def nvidia_synthesis_state(g: Generator) -> dict:
    """Our generator's synthesis weights under NVIDIA's SynthesisNetwork names."""
    sd = g.state_dict()
    mapped = {"b4.const": sd["input.input"][0]}

    def layer(dst, src, k):
        mapped.update({f"{dst}.weight": sd[f"{src}.conv.weight"][0], f"{dst}.bias": sd[f"{src}.activate.bias"],
                       f"{dst}.affine.weight": sd[f"{src}.conv.modulation.weight"],
                       f"{dst}.affine.bias": sd[f"{src}.conv.modulation.bias"],
                       f"{dst}.noise_strength": sd[f"{src}.noise.weight"][0],
                       f"{dst}.noise_const": sd[f"noises.noise_{k}"][0, 0]})

    def rgb(dst, src):
        mapped.update({f"{dst}.weight": sd[f"{src}.conv.weight"][0], f"{dst}.bias": sd[f"{src}.bias"].flatten(),
                       f"{dst}.affine.weight": sd[f"{src}.conv.modulation.weight"],
                       f"{dst}.affine.bias": sd[f"{src}.conv.modulation.bias"]})

    layer("b4.conv1", "conv1", 0)
    rgb("b4.torgb", "to_rgb1")
    for level in range(1, g.config.levels):
        res = 4 * 2 ** level
        layer(f"b{res}.conv0", f"convs.{2 * level - 2}", 2 * level - 1)
        layer(f"b{res}.conv1", f"convs.{2 * level - 1}", 2 * level)
        rgb(f"b{res}.torgb", f"to_rgbs.{level - 1}")
    return mapped


def nvidia_sg3_synthesis(directory: str, g: Stylegan3Generator):
    """NVIDIA stylegan3's SynthesisNetwork (reference CPU ops, fp32), same weights and filters."""
    for name, stub in (("requests", types.ModuleType("requests")), ("pkg_resources", None)):
        try:
            __import__(name)
        except ImportError:  # imported by its dnnlib / conv2d_gradfix, unused on this path
            if stub is None:
                from packaging.version import parse
                stub = types.SimpleNamespace(parse_version=parse)
            sys.modules[name] = stub
    sys.path.insert(0, directory)
    from training.networks_stylegan3 import SynthesisNetwork  # type: ignore

    radial = g.kind == "stylegan3-r"
    net = SynthesisNetwork(w_dim=g.w_dim, img_resolution=g.resolution, img_channels=3,
                           channel_base=65536 if radial else 32768, channel_max=1024 if radial else 512,
                           conv_kernel=1 if radial else 3, use_radial_filters=radial)
    state = {k[len("layers."):] if k.startswith("layers.") else k: v for k, v in g.state_dict().items()
             if not k.startswith(("style.", "latent_avg"))}
    net.load_state_dict(state)
    net = net.eval().requires_grad_(False)
    return lambda ws: net(ws, force_fp32=True)


def build(arch: str, size: int, device: torch.device):
    torch.manual_seed(0)
    if arch == "stylegan2":
        return Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False).to(device)
    return Stylegan3Generator.from_schedule(size, arch, mapping_layers=2).eval().requires_grad_(False).to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["stylegan2", "stylegan3-t"],
                        choices=["stylegan2", "stylegan3-t", "stylegan3-r"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rosinality", help="a rosinality/stylegan2-pytorch checkout, for comparison")
    parser.add_argument("--nvidia", help="an NVlabs/stylegan2-ada-pytorch checkout, for comparison")
    parser.add_argument("--nvidia-sg3", help="an NVlabs/stylegan3 checkout, for comparison (needs scipy)")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow literal path")
    parser.add_argument("--device", nargs="+", help="devices to time, e.g. cuda (default: cpu, and cuda if present)")
    args = parser.parse_args()
    devices = [runtime.pick_device(d) for d in args.device] if args.device else (
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':6} {'arch':11} {'px':>5} {'batch':>5} {'precision':9} {'path':11} {'fwd ms/img':>11} "
          f"{'fwd+bwd ms/img':>15}")
    for device in devices:
        precisions = ["fp32"] + (["bf16"] if device.type == "cuda" or runtime.cpu_has_fast_bf16() else [])
        precisions += ["fp16"] if device.type == "cuda" else []
        for arch, size in ((arch, size) for arch in args.archs for size in args.sizes):
            g = build(arch, size, device)
            paths = {"soundclip": g.synthesis}
            reference = synthesis_reference if arch == "stylegan2" else sg3_synthesis_reference
            if not args.no_reference:
                paths["reference"] = lambda ws, g=g, reference=reference: reference(g, ws)
            if args.rosinality and device.type == "cpu" and arch == "stylegan2":
                paths["rosinality"] = rosinality_synthesis(args.rosinality, g)
            if args.nvidia and device.type == "cpu" and arch == "stylegan2":
                paths["nvidia"] = nvidia_synthesis(args.nvidia, g)
            if args.nvidia_sg3 and device.type == "cpu" and arch != "stylegan2":
                paths["nvidia"] = nvidia_sg3_synthesis(args.nvidia_sg3, g)
            for batch in args.batches:
                ws = g.ws_from_seed(0, batch_size=batch).to(device)
                for precision in precisions:
                    times = {}
                    for name, synthesis in paths.items():
                        if name != "soundclip" and precision != "fp32":
                            continue
                        times[name] = fwd, bwd = measure(synthesis, ws, device, precision, args.repeat)
                        print(f"{device.type:6} {arch:11} {size:5} {batch:5} {precision:9} {name:11} {fwd:11.1f} "
                              f"{bwd:15.1f}", flush=True)
                    for name in ("nvidia", "rosinality"):
                        if name in times and "soundclip" in times:
                            ratios = [a / b for a, b in zip(times["soundclip"], times[name], strict=True)]
                            print(f"{'':6} {arch:11} {size:5} {batch:5} {precision:9} {'ratio/' + name:11} "
                                  f"{ratios[0]:10.2f}x {ratios[1]:14.2f}x", flush=True)


if __name__ == "__main__":
    main()
