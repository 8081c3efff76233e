"""`soundclip selftest`: every capability on tiny random models, offline, in seconds, with files to look at.

It edits an image with a sound, inverts a picture back into the generator, mixes two latents and writes a
2-second H.264 + AAC video, each through the same functions the commands use, and writes what it made into
one folder. The first line of its output ends in OK or FAILED (CI and the README read it); the last lines say
what to run next for the first real edit.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import soundfile
import torch

from .. import VERSION, runtime
from ..audio import load_audio
from ..clip import tiny_clip
from ..encoders import build_audio_encoder
from ..errors import SoundClipError
from ..generators import load_generator, save_generator
from ..generators.stylegan2 import Generator, GeneratorConfig
from ..image import save_image
from ..invert import VGG16LPIPS, project
from ..latents import png_text, save_latent
from ..manipulate import optimize, style_mix
from ..optional import require
from ..video import make_video
from ..weights import find_entry, local_copy

SECONDS, RATE = 2.0, 22050
VIDEO_FPS = 8
TINY_VGG_WIDTHS = (4, 8, 8, 16, 16)
# the first real workflow: the paper's landscape edit, and the models it needs
FIRST_MODELS = ("landscape-256", "soundclip-resnet18", "clip-vit-b-32")
FIRST_EDIT = ("soundclip manipulate --audio rain.wav --generator landscape-256 --encoder soundclip-resnet18 "
              "--clip clip-vit-b-32 --out rain.png")


def register(subparsers) -> None:
    p = subparsers.add_parser("selftest", help="check this installation: every capability on tiny random models "
                                               "(offline, seconds), outputs written to a folder")
    p.add_argument("--steps", type=int, default=20, help="optimisation steps of the edit and the inversion")
    p.add_argument("--out-dir", type=Path, default=Path("soundclip-selftest"), help="where the outputs go")
    p.add_argument("--device", default="cpu", help="where the checks compute: cuda, cuda:1 or mps check this "
                                                   "installation's GPU")
    p.set_defaults(func=run)


class Tiny:
    """The tiny random models and the sound every check uses (the generator round-trips through a file)."""

    def __init__(self, folder: Path, device: torch.device):
        torch.manual_seed(0)
        config = GeneratorConfig(resolution=32, z_dim=32, w_dim=32, mapping_layers=2, channels=[32, 32, 16, 16])
        self.device = device
        self.generator = load_generator(save_generator(Generator(config), folder / "tiny-generator.safetensors"),
                                        device=device)
        self.clip = tiny_clip(device=device)
        self.encoder = build_audio_encoder("soundclip", embed_dim=self.clip.dim, space=self.clip.space, device=device)
        t = torch.arange(int(SECONDS * RATE)) / RATE
        chirp = 0.3 * torch.sin(2 * math.pi * (200 + 300 * t) * t) * (1 + torch.sin(2 * math.pi * 2 * t)) / 2
        soundfile.write(folder / "chirp.wav", chirp.numpy(), RATE)
        self.audio = load_audio(folder / "chirp.wav")
        self.w_source = self.generator.ws_from_seed(0).to(device)


def check_edit(tiny: Tiny, folder: Path, steps: int) -> tuple[bool, str, dict]:
    sound = tiny.encoder.encode(tiny.audio)
    result = optimize(tiny.generator, tiny.clip, sound, tiny.w_source, preset="landscape", steps=steps, lr=0.05)
    meta = {"generator": "selftest", "settings": result.settings}
    with torch.no_grad():
        save_image(tiny.generator.synthesis(result.w), folder / "edit.png", text=png_text(result.w, meta))
    save_latent(folder / "edit.safetensors", result.w, meta)
    first, last = float(result.loss_history[0]), float(result.loss_history[-1])
    before, after = float(result.source_similarity.mean()), float(result.final_similarity.mean())
    ok = last < first and after > before
    return ok, f"loss {first:.4f} -> {last:.4f}, similarity {before:.4f} -> {after:.4f}", {"edit": result.w}


def check_inversion(tiny: Tiny, folder: Path, steps: int, photo: torch.Tensor) -> tuple[bool, str, dict]:
    perceptual = VGG16LPIPS(TINY_VGG_WIDTHS).to(tiny.device)  # random and unweighted: named for what it is
    result = project(tiny.generator, photo, perceptual, steps=steps, seed=0)
    meta = {"settings": result.settings}
    save_image(result.reconstruction, folder / "reconstruction.png", text=png_text(result.w, meta, result.noise))
    ok = float(result.lpips.mean()) < float(result.start_lpips.mean())
    return ok, result.report(), {}


def check_mix(tiny: Tiny, folder: Path, latent_a: torch.Tensor) -> tuple[bool, str, dict]:
    text = optimize(tiny.generator, tiny.clip, tiny.clip.encode_text(["a red sunset"]), tiny.w_source, steps=2)
    mixed = style_mix(latent_a, text.w, "0-3")
    with torch.no_grad():
        save_image(tiny.generator.synthesis(mixed), folder / "mixed.png", text=png_text(mixed, {"mixed": "selftest"}))
    ok = torch.equal(mixed[:, :4], latent_a[:, :4]) and torch.equal(mixed[:, 4:], text.w[:, 4:])
    return ok, "layers 0-3 from the edit, the rest from a text edit", {}


def check_video(tiny: Tiny, folder: Path) -> tuple[bool, str, dict]:
    path = folder / "video.mp4"
    make_video(path, tiny.generator, tiny.clip, tiny.encoder, tiny.audio, tiny.w_source, fps=VIDEO_FPS, window=1.0,
               hop=1.0, steps=2, batch_size=8, preset="landscape", lr=0.05)
    av = require("av", "reading the selftest's video back")
    with av.open(str(path)) as container:
        codec = container.streams.video[0].codec_context.name
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        seconds = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    expected = round(SECONDS * VIDEO_FPS)
    ok = codec == "h264" and frames == expected and abs(seconds - SECONDS) < 0.1
    return ok, f"{frames} frames ({codec}) at {VIDEO_FPS} fps, {seconds:.2f} s of sound", {}


def _attempt(check: Callable[[], tuple[bool, str, dict]]) -> tuple[bool, str, dict]:
    """A capability that raises is reported as failed with its one-line reason, and the others still run."""
    try:
        return check()
    except (SoundClipError, RuntimeError, OSError, ValueError) as error:
        return False, f"{type(error).__name__}: {error}", {}


def next_steps() -> list[str]:
    """The first real edit: the download command for the models that are not here yet, then the edit."""
    missing = [m for m in FIRST_MODELS if local_copy(find_entry(m)) is None]
    lines = ["Next, the first real edit (the paper's landscape model, its sound encoder and CLIP):"]
    if missing:
        lines.append(f"  soundclip weights download {' '.join(missing)}")
    lines.append(f"  {FIRST_EDIT}      (any wav, flac, ogg or mp3 as --audio)")
    return lines


def run(args: argparse.Namespace) -> int:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models gain nothing from threads, and on a busy machine lose 30x to them
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    folder = args.out_dir.expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    tiny = Tiny(folder, runtime.pick_device(args.device))
    results = {"edit": _attempt(lambda: check_edit(tiny, folder, args.steps))}
    edited = results["edit"][2].get("edit", tiny.w_source)
    with torch.no_grad():
        photo = tiny.generator.synthesis(tiny.generator.ws_from_seed(1).to(tiny.device))  # one it can make
    results["inversion"] = _attempt(lambda: check_inversion(tiny, folder, args.steps, photo))
    results["mix"] = _attempt(lambda: check_mix(tiny, folder, edited))
    results["video"] = _attempt(lambda: check_video(tiny, folder))
    ok = all(passed for passed, _, _ in results.values())
    print(f"soundclip selftest: {'OK' if ok else 'FAILED'}")
    print(f"soundclip {VERSION}, torch {torch.__version__}, {tiny.device}; {time.perf_counter() - started:.1f} s on "
          f"tiny random models; outputs in {folder.resolve()}")
    files = {"edit": "edit.png, edit.safetensors", "inversion": "reconstruction.png", "mix": "mixed.png",
             "video": "video.mp4"}
    for name, (passed, detail, _) in results.items():
        print(f"  {name:10} {'ok    ' if passed else 'FAILED'} {detail}  [{files[name]}]")
    if ok:
        print("\n".join(next_steps()))
    return 0 if ok else 1
