"""Inversion: seconds per step side by side with NVIDIA's projector, and the quality reached.

    python benchmarks/invert.py --nvidia DIR [--size 256] [--steps 6] [--rounds 3] [--quality-steps 100 300 1000]
                                [--quality-size 64] [--threads 2] [--device cuda]

Without --nvidia only our side runs (e.g. benchmarks/gpu.sh's CUDA row: --device cuda --quality-steps).

DIR is an NVlabs/stylegan2-ada-pytorch checkout (never vendored): its projector.project runs with its
own networks (reference CPU ops) on our generator's weights, converted as benchmarks/generator.py does.
Its vgg16.pt cannot be downloaded here, so both sides use the same stand-in: torchvision's VGG16
(random weights) + random LPIPS channel weights, given to NVIDIA's code as a TorchScript module with
vgg16.pt's call signature (img in [0, 255], return_lpips=True -> flattened weighted features).
Speed: the same generator (config-f, --size px), target and step count, the two sides in alternating
rounds (a shared machine drifts in speed), medians of the step times; ours with the "best" preset
(noise maps optimised, as NVIDIA does). Quality: a small generator (--quality-size px) inverting one of
its own images, separate runs of 100 / 300 / 1000 steps; LPIPS (the stand-in) and PSNR of the
reconstruction each side reports (NVIDIA's run_projection decodes its w with the generator's const noise;
"own noise": its w with the noise maps it optimised, which it does not save).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from generator import nvidia_synthesis_state  # noqa: E402

from soundclip_core import runtime  # noqa: E402
from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from soundclip_core.invert import VGG16LPIPS, project, psnr  # noqa: E402
from soundclip_core.invert.perceptual import TORCHVISION_CONV_INDICES  # noqa: E402

TAPS = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))  # relu1_2 .. relu5_3 in torchvision's vgg16().features


class VGGStandIn(nn.Module):
    """vgg16.pt's interface: img [B, 3, H, W] in [0, 255] -> LPIPS features whose squared distance is LPIPS."""

    def __init__(self, ours: VGG16LPIPS):
        super().__init__()
        import torchvision

        features = torchvision.models.vgg16().features
        for index, conv in zip(TORCHVISION_CONV_INDICES, ours.convs, strict=True):
            features[index].load_state_dict(conv.state_dict())
        self.slice1, self.slice2, self.slice3, self.slice4, self.slice5 = (features[a:b] for a, b in TAPS)
        for k in range(5):
            self.register_buffer(f"lin{k}", getattr(ours, f"lin{k}").clone())
        self.register_buffer("shift", ours.shift.clone())
        self.register_buffer("scale", ours.scale.clone())
        self.requires_grad_(False)

    @staticmethod
    def _tap(x: torch.Tensor, lin: torch.Tensor) -> torch.Tensor:
        unit = x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10)
        return (unit * (lin.sqrt() / float(x.shape[2] * x.shape[3]) ** 0.5)[None, :, None, None]).flatten(1)

    def forward(self, img: torch.Tensor, resize_images: bool = False, return_lpips: bool = False) -> torch.Tensor:
        x = (img / 127.5 - 1 - self.shift) / self.scale
        x1 = self.slice1(x)
        x2 = self.slice2(x1)
        x3 = self.slice3(x2)
        x4 = self.slice4(x3)
        x5 = self.slice5(x4)
        return torch.cat([self._tap(x1, self.lin0), self._tap(x2, self.lin1), self._tap(x3, self.lin2),
                          self._tap(x4, self.lin3), self._tap(x5, self.lin4)], 1)


def _use_checkout(directory: str) -> None:
    """Import from the checkout; its download and video-writing dependencies are not needed here."""
    if directory not in sys.path:
        sys.path.insert(0, directory)
    for name in ("imageio", "requests"):
        sys.modules.setdefault(name, types.ModuleType(name))


def nvidia_generator(directory: str, g: Generator, channel_base: int, channel_max: int):
    """NVIDIA's full Generator (mapping + synthesis) from the checkout, with our generator's weights."""
    _use_checkout(directory)
    from training.networks import Generator as NvidiaGenerator  # type: ignore

    net = NvidiaGenerator(z_dim=g.z_dim, c_dim=0, w_dim=g.w_dim, img_resolution=g.resolution, img_channels=3,
                          mapping_kwargs={"num_layers": g.config.mapping_layers},
                          synthesis_kwargs={"channel_base": channel_base, "channel_max": channel_max,
                                            "num_fp16_res": 0, "conv_clamp": None})
    state = {f"synthesis.{k}": v for k, v in nvidia_synthesis_state(g).items()}
    for i in range(g.config.mapping_layers):
        state[f"mapping.fc{i}.weight"] = g.state_dict()[f"style.{i + 1}.weight"]
        state[f"mapping.fc{i}.bias"] = g.state_dict()[f"style.{i + 1}.bias"]
    state["mapping.w_avg"] = g.w_avg
    missing, _ = net.load_state_dict(state, strict=False)
    assert not [k for k in missing if "resample_filter" not in k], missing
    return net.eval().requires_grad_(False)


def run_nvidia(directory: str, nvidia_g, target: torch.Tensor, steps: int, archive: Path, device: torch.device):
    """projector.project from the checkout; returns (final w [1, num_ws, w_dim], step times in s (the first
    dropped), the image
    its w gives with the noise maps it optimised, which run_projection does not keep)."""
    _use_checkout(directory)
    import dnnlib  # type: ignore
    import projector  # type: ignore

    stamps: list[float] = []
    projector.print = lambda *args: stamps.append(time.perf_counter())  # its per-step log line (verbose)
    dnnlib.util.open_url = lambda url, *a, **k: contextlib.nullcontext(open(archive, "rb"))
    saved = {k: v.clone() for k, v in nvidia_g.state_dict().items()}
    projector.copy = types.SimpleNamespace(deepcopy=lambda g: g)  # keep its optimised noise maps visible
    pixels = ((target[0] + 1) * 127.5).clamp(0, 255)
    w_out = projector.project(nvidia_g, pixels, num_steps=steps, device=device, verbose=True)
    step_times = [b - a for a, b in zip(stamps[-steps - 1:-1], stamps[-steps:], strict=True)]
    with torch.no_grad():
        with_noise = nvidia_g.synthesis(w_out[-1:].detach(), noise_mode="const")  # [1, num_ws, w_dim]
        for buf in nvidia_g.buffers():
            buf.requires_grad_(False)
        nvidia_g.load_state_dict(saved)
    return w_out[-1:].detach().float(), step_times[1:] or step_times, with_noise


def run_ours(g: Generator, target: torch.Tensor, vgg: VGG16LPIPS, steps: int, device: torch.device):
    stamps: list[float] = []

    def stamp(*args) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    result = project(g, target, vgg, preset="best", steps=steps, callback=stamp)
    step_times = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return result, step_times[1:] or step_times


def small_config(size: int) -> tuple[GeneratorConfig, int, int]:
    base, top = 64 * size, 128  # NVIDIA's channels: min(channel_base / res, channel_max)
    channels = [min(base // 2 ** level, top) for level in range(2, size.bit_length())]
    return GeneratorConfig(resolution=size, channels=channels), base, top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nvidia", help="an NVlabs/stylegan2-ada-pytorch checkout (without it: ours only)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of --steps steps per side")
    parser.add_argument("--quality-size", type=int, default=64)
    parser.add_argument("--quality-steps", type=int, nargs="*", default=[100, 300, 1000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where both sides run: cpu (default) or cuda")
    args = parser.parse_args()
    device = runtime.pick_device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vgg = VGG16LPIPS()
    for k, width in enumerate(vgg.widths):
        getattr(vgg, f"lin{k}").copy_(torch.rand(width) * 0.1)
    vgg.weighted = True
    vgg = vgg.eval().requires_grad_(False)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "vgg16.pt"
        torch.jit.script(VGGStandIn(vgg)).save(str(archive))
        vgg = vgg.to(device)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {device}")
        g = Generator(GeneratorConfig(resolution=args.size)).eval().requires_grad_(False).to(device)
        target = g.synthesis(g.ws_from_seed(1).to(device)).detach()
        nvidia_g = nvidia_generator(args.nvidia, g, 32768, 512).to(device) if args.nvidia else None
        nvidia_times, our_times = [], []
        for _ in range(args.rounds):  # alternating rounds: a shared machine's drifting speed hits both sides
            if nvidia_g is not None:
                nvidia_times += run_nvidia(args.nvidia, nvidia_g, target, args.steps, archive, device)[1]
            our_times += run_ours(g, target, vgg, args.steps, device)[1]
        ours_s = statistics.median(our_times)
        if nvidia_g is None:
            print(f"speed, {args.size} px config-f, {args.rounds} x {args.steps} steps, {device.type}: soundclip "
                  f"{ours_s:.3f} s/step ({1 / ours_s:.2f} steps/s) (median; no --nvidia: no NVIDIA row)")
            return
        nvidia_s = statistics.median(nvidia_times)
        print(f"speed, {args.size} px config-f, {args.rounds} x {args.steps} steps each, {device.type}: NVIDIA "
              f"projector {nvidia_s:.3f} s/step ({1 / nvidia_s:.2f} steps/s), soundclip {ours_s:.3f} s/step "
              f"({1 / ours_s:.2f} steps/s): {ours_s / nvidia_s:.2f}x the time (medians)")
        config, base, top = small_config(args.quality_size)
        small = Generator(config).eval().requires_grad_(False)
        small.estimate_w_avg()
        small = small.to(device)
        target = small.synthesis(small.ws_from_seed(3).to(device)).detach()
        nvidia_small = nvidia_generator(args.nvidia, small, base, top).to(device)
        print(f"quality, {args.quality_size} px generator (channels {config.channels}), its own image:")
        print(f"{'steps':>6} {'NVIDIA LPIPS':>12} {'PSNR':>6} {'(own noise)':>11} {'s/step':>7} | "
              f"{'ours LPIPS':>10} {'PSNR':>6} {'s/step':>7}")
        for steps in args.quality_steps:
            w, n_s, with_noise = run_nvidia(args.nvidia, nvidia_small, target, steps, archive, device)
            with torch.no_grad():
                theirs = small.synthesis(w.expand(-1, small.num_ws, -1) if w.shape[1] == 1 else w)
            result, o_s = run_ours(small, target, vgg, steps, device)
            n_lpips = float(vgg.distance(theirs, target))
            print(f"{steps:6} {n_lpips:12.4f} {float(psnr(theirs, target)):6.2f} "
                  f"{float(psnr(with_noise, target)):11.2f} {statistics.median(n_s):7.3f} | "
                  f"{float(result.lpips):10.4f} {float(result.psnr):6.2f} {statistics.median(o_s):7.3f}", flush=True)


if __name__ == "__main__":
    main()
