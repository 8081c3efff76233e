"""Instant edits vs optimisation, and the gradient table vs the finite table, side by side in one run.

    python benchmarks/directions.py [--size 256] [--steps 300] [--table-size 32] [--table-images 2]
                                    [--styleclip DIR] [--styleclip-size 32] [--styleclip-channels 64]
                                    [--styleclip-images 1] [--skip instant methods fingerprint]

1. On a StyleGAN2 config-f generator of `--size` px with random weights and a random ViT-B-32 CLIP:
   an instant edit (direction from target and neutral, GetBoundary relevance, apply, decode from styles)
   against the optimisation of the same target from the same latent (`manipulate.optimize`, `--steps`
   steps; fewer than 300 are timed and scaled to 300, and the row says so), and the one-target estimate
   that stands in for a table (`estimate_direction`, 8 images, 16 probes). The instant edit's cost does not
   depend on the table's values, so a random unit table of the generator's real layout (conv layers <= 128 px,
   no ToRGB) stands in for a computed one.
2. The two table methods (`compute_table`, finite: 2 renders per channel per image; gradient: clip_dim backward
   passes per image) on a small generator of `--table-size` px, same images and channels, with the mean cosine
   between their rows.
3. With `--styleclip DIR` (a checkout of orpatashnik/StyleCLIP): StyleCLIP's own table code, imported from
   DIR/global_torch (never copied): its `Manipulator` (`GenerateS`, `GetCodeMS`, `EditOneC`, `GenerateImg`),
   `SingleChannel.GetImgF` and `GetFs`, driven by the loop of `SingleChannel.py`'s `__main__` (which is a script,
   not a function), on its own ada-pytorch `SynthesisNetwork` (reference CPU ops) loaded with the same weights
   as ours, against our finite and gradient tables on the same generator (StyleGAN2 of `--table-size` px with
   at most `--styleclip-channels` channels per layer, all conv layers <= 128 px, no ToRGB, as StyleCLIP), the same
   CLIP (a random 512-d CLIP with a small 32 px vision tower: GetImgF hard-codes 512 dimensions) and the same
   `--styleclip-images` images. Statistics (GenerateS/GetCodeMS, our channel_statistics) are made before the
   clock starts on both sides. The rows' mean cosines between the three tables are printed too (StyleCLIP's
   shallow-copy quirk and its uint8 images make its rows differ slightly from the clean recipe).
4. The generator fingerprint a table and a direction are checked with, at 1024 px after a device move (as
   ComfyUI moves the generator around every node): cached on the generator vs the full hash of its weights
   (what every move cost before the cache survived moves).
CPU, `--threads` threads (default 2); CUDA rows too when a GPU is present (StyleCLIP's row: CPU only).
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
    estimate_direction,
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
    estimate_s = seconds(lambda: estimate_direction(g, clip, text_direction(target, neutral), stats_samples=2000))
    optimise_s = seconds(lambda: optimize(g, clip, target, ws, steps=steps))
    scaled = optimise_s * 300 / steps
    note = "" if steps == 300 else f" ({steps} steps timed, x{300 / steps:g})"
    print(f"{device.type:5} {size:5} px  table {layout.total} channels  instant edit {instant_s * 1000:9.1f} ms  "
          f"300-step optimisation {scaled:8.1f} s{note}  ratio 1/{scaled / instant_s:,.0f}  "
          f"one-target estimate without a table (8 images, 16 probes) {estimate_s:.1f} s", flush=True)


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


def random_clip512(image_size: int = 32) -> ClipModel:
    """A random CLIP with 512-d embeddings (StyleCLIP's GetImgF reshapes to 512) and a small vision tower."""
    torch.manual_seed(0)
    model = open_clip.model.CLIP(512, open_clip.model.CLIPVisionCfg(layers=2, width=128, patch_size=8,
                                                                    image_size=image_size),
                                 open_clip.model.CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1,
                                                             layers=1), quick_gelu=True)
    return ClipModel(model.float().eval().requires_grad_(False), "random/clip512", "random 512-d CLIP")


def styleclip_network(directory: str, g: Generator):
    """StyleCLIP's own ada-pytorch SynthesisNetwork (DIR/global_torch/training/networks.py) with `g`'s weights and
    the layer names its LoadModel gives (it patches a pickle's network; here it is built directly)."""
    import types

    from generator import nvidia_synthesis_state  # benchmarks/generator.py: our weights under NVIDIA's names

    sys.path.insert(0, str(Path(directory) / "global_torch"))
    sys.modules.setdefault("clip", types.ModuleType("clip"))  # SingleChannel imports OpenAI's clip for __main__ only

    class Absent(types.ModuleType):  # a module its imports need, unused on this path (constants read as 0)
        def __getattr__(self, name: str) -> int:
            return 0

    for name in ("cv2", "imageio", "click"):  # imported by its manipulate.py / visualizer.py
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = Absent(name)
    from training.networks import SynthesisNetwork  # type: ignore

    channels = g.config.channels
    net = SynthesisNetwork(w_dim=g.w_dim, img_resolution=g.resolution, img_channels=3,
                           channel_base=channels[-1] * g.resolution, channel_max=channels[0], num_fp16_res=0)
    net.load_state_dict(nvidia_synthesis_state(g), strict=False)
    net.eval().requires_grad_(False)
    for res in net.block_resolutions:
        block = getattr(net, f"b{res}")
        if res != 4:
            block.conv0.name = f"conv0_resolution_{res}"
        block.conv1.name = f"conv1_resolution_{res}"
        block.torgb.name = f"toRGB_resolution_{res}"
    return net


def styleclip_table(directory: str, g: Generator, clip: ClipModel, images: int, stats_samples: int
                    ) -> tuple[torch.Tensor, float]:
    """StyleCLIP's table of `g` (its rows [channels, 512], seconds) by its own code from `directory`."""
    import copy
    import types

    import numpy as np

    net = styleclip_network(directory, g)
    import SingleChannel  # type: ignore
    from manipulate import Manipulator  # type: ignore

    with torch.no_grad():  # the same generator on both sides: its styles' images are ours
        ws = g.ws_from_seed(0)
        styles = net.W2S(ws)
        theirs = net(None, encoded_styles=styles, noise_mode="const")
        style_gap = max(float((a - b).abs().max()) for a, b in zip(styles.values(), g.styles(ws), strict=True))
        print(f"StyleCLIP's network from our weights: max |style difference| {style_gap:.1e} (same order), "
              f"max |image difference| {float((theirs - g.synthesis(ws)).abs().max()):.1e}", flush=True)

    def mapping(z, c, truncation_psi, truncation_cutoff):  # ours, broadcast to every layer (its GenerateS asks)
        return g.mapping(z.float(), None, truncation_psi=truncation_psi)[:, None].repeat(1, g.num_ws, 1)

    m = Manipulator()
    m.device = torch.device("cpu")
    m.G = types.SimpleNamespace(synthesis=net, z_dim=g.z_dim, mapping=mapping)
    m.SetGParameters()
    m.GenerateS(num_img=stats_samples)
    m.GetCodeMS()
    SingleChannel.device = "cpu"
    preprocess = open_clip.transform.image_transform(clip.image_size, is_train=False)
    layers = table_layout(g).layers  # StyleCLIP's mindexs <= 16 (conv layers <= 128 px), as indices of its s_names
    dlatents_o = [d[:images] for d in m.dlatents]
    start = time.perf_counter()
    # the loop of SingleChannel.py's __main__, as written there
    all_f = []
    m.alpha, m.step, m.num_images = [-5, 5], 2, images
    for lindex in layers:
        for cindex in range(m.dlatents[lindex].shape[1]):
            m.dlatents = copy.copy(dlatents_o)
            m.dlatents[lindex][:, cindex] = m.code_mean[lindex][cindex]
            m.manipulate_layers = [lindex]
            codes, out = m.EditOneC(cindex)
            all_f.append(SingleChannel.GetImgF(out, clip.model, preprocess))
    fs3 = SingleChannel.GetFs(np.array(all_f))
    return torch.from_numpy(fs3).float(), time.perf_counter() - start


def against_styleclip(directory: str, size: int, channel_max: int, images: int) -> None:
    channels = [channel_max] * (size.bit_length() - 2)  # as config-f up to 64 px, narrower
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(resolution=size, z_dim=64, w_dim=64, mapping_layers=2, channels=channels))
    g = g.eval().requires_grad_(False)
    g.estimate_w_avg(256)
    clip = random_clip512()
    stats = 2000
    channel_statistics(g, stats)
    rows, seconds = {}, {}
    rows["styleclip"], seconds["styleclip"] = styleclip_table(directory, g, clip, images, stats)
    for method in ("finite", "gradient"):
        start = time.perf_counter()
        rows[method] = compute_table(g, clip, method, images=images, stats_samples=stats, image_batch=images).rows
        seconds[method] = time.perf_counter() - start
    cos = {f"{a}/{b}": float((rows[a] * rows[b]).sum(1).mean()) for a, b in
           (("styleclip", "finite"), ("styleclip", "gradient"), ("finite", "gradient"))}
    n = rows["finite"].shape[0]
    ratio = {m: seconds[m] / seconds["styleclip"] for m in ("finite", "gradient")}
    print(f"cpu   {size:5} px  {n} channels x {images} images, clip_dim 512:  StyleCLIP's code "
          f"{seconds['styleclip']:7.2f} s  finite {seconds['finite']:7.2f} s ({ratio['finite']:.2f}x)  "
          f"gradient {seconds['gradient']:7.2f} s ({ratio['gradient']:.2f}x)  "
          f"row cosine means {', '.join(f'{k} {v:.3f}' for k, v in cos.items())}", flush=True)


def fingerprint_after_moves(device: torch.device, size: int = 1024) -> None:
    from soundclip_core.directions.fingerprint import generator_fingerprint, weights_digest

    g = Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False).to(device)
    generator_fingerprint(g)
    other = torch.device("cpu") if device.type == "cuda" else None

    def move() -> None:  # to the other device and back (on a CPU alone: a dtype round trip, new storage too)
        if other is not None:
            g.to(other).to(device)
        else:
            g.to(torch.float64).to(torch.float32)

    def cached() -> None:
        move()
        t = time.perf_counter()
        generator_fingerprint(g)
        times.append(time.perf_counter() - t)

    times: list[float] = []
    for _ in range(3):
        cached()
    full = seconds(lambda: weights_digest(g.state_dict()), repeat=3)
    print(f"[{device}] fingerprint of a {size} px generator after a move: cached {min(times) * 1000:.1f} ms, "
          f"full hash {full * 1000:.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--table-size", type=int, default=32)
    parser.add_argument("--table-images", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--styleclip", help="a checkout of orpatashnik/StyleCLIP: time its own table code too")
    parser.add_argument("--styleclip-size", type=int, default=32, help="generator size for the StyleCLIP row")
    parser.add_argument("--styleclip-channels", type=int, default=64, help="most channels per layer there")
    parser.add_argument("--styleclip-images", type=int, default=1, help="images averaged over there")
    parser.add_argument("--skip", nargs="*", default=[], choices=["instant", "methods", "fingerprint"],
                        help="rows to leave out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        if "instant" not in args.skip:
            instant_vs_optimisation(args.size, args.steps, device)
        if "methods" not in args.skip:
            table_methods(args.table_size, args.table_images, device)
        if "fingerprint" not in args.skip:
            fingerprint_after_moves(device)
    if args.styleclip:
        against_styleclip(args.styleclip, args.styleclip_size, args.styleclip_channels, args.styleclip_images)


if __name__ == "__main__":
    main()
