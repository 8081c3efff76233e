"""`soundclip invert`: a photo -> a W+ latent (+ noise maps) of a generator, ready for `manipulate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SoundClipError
from ..generators import load_generator
from ..image import save_png
from ..invert import FITS, PRESETS, fit_square, load_e4e, load_image, load_perceptual, project
from ..latents import png_text, save_latent
from ..runtime import pick_device
from ..weights import ensure
from .progress import step_bar


def add_inversion_args(p: argparse.ArgumentParser, steps_flag: str = "--steps") -> None:
    """The options of an inversion (shared with `manipulate --image`)."""
    p.add_argument("--vgg", default="vgg16", help="VGG16 for the perceptual distance: torchvision's "
                                                  "vgg16-397923af.pth, NVIDIA's vgg16.pt, or a known id "
                                                  "(vgg16, vgg16-nvidia)")
    p.add_argument("--lpips-weights", help="LPIPS channel weights (the lpips package's vgg.pth, or the id lpips-vgg) "
                                           "for a torchvision VGG16; without them the unweighted feature distance")
    p.add_argument("--e4e", help="e4e encoder (e4e_ffhq_encode.pt or the id e4e-ffhq): its one-pass W+ estimate is "
                                 "the start (faces; with 0 steps, the whole inversion)")
    p.add_argument(steps_flag, type=int, help="optimisation steps (default: the preset's)")
    p.add_argument("--invert-preset" if steps_flag != "--steps" else "--preset", dest="invert_preset",
                   choices=list(PRESETS), default="fast", help="fast: a preview; best: the closest reconstruction")
    p.add_argument("--fit", choices=FITS, default="crop", help="make the picture square by centre crop or edge pad")


def register(subparsers) -> None:
    p = subparsers.add_parser("invert", help="find the W+ latent of a photo for a generator (then edit it)")
    p.add_argument("image", type=Path, help="the picture (any size; PNG, JPEG, WebP, TIFF, ...)")
    p.add_argument("--generator", required=True, help="StyleGAN file or known id (e.g. ffhq-1024)")
    add_inversion_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--out", required=True, type=Path,
                   help="the latent (.safetensors); the reconstruction goes beside it as .png, latent embedded")
    p.set_defaults(func=run)


def invert_from_args(args: argparse.Namespace, generator, image, device, steps: int | None):
    """Load the perceptual network (and e4e) and invert `image` [1, 3, H, W]; returns the inversion Result."""
    vgg_path = ensure(args.vgg, kind="perceptual")
    lpips = ensure(args.lpips_weights, kind="perceptual") if args.lpips_weights else None
    perceptual = load_perceptual(vgg_path, lpips, device, notify=lambda text: print(text, file=sys.stderr))
    w_start = None
    if args.e4e:
        encoder = load_e4e(ensure(args.e4e, kind="e4e"), device, generator.w_avg)
        if (encoder.num_ws, encoder.w_dim) != (generator.num_ws, generator.w_dim):
            raise SoundClipError(f"this e4e encoder makes {encoder.num_ws} x {encoder.w_dim} latents, the generator "
                                 f"needs {generator.num_ws} x {generator.w_dim}", path=encoder.source,
                                 fix="use the encoder trained for this generator (e4e_ffhq_encode.pt: FFHQ 1024)")
        w_start = encoder.encode(fit_square(image, generator.resolution, args.fit))
    total = steps if steps is not None else PRESETS[args.invert_preset]["steps"]
    bar, callback = step_bar(max(total, 1), "inverting")
    try:
        return project(generator, image.to(device), perceptual, preset=args.invert_preset, steps=steps,
                       w_start=w_start, fit=args.fit, seed=getattr(args, "seed", 0), callback=callback)
    finally:
        bar.close()


def run(args: argparse.Namespace) -> int:
    if args.out.suffix != ".safetensors":
        raise SystemExit("soundclip invert: --out must end in .safetensors (the reconstruction goes beside it)")
    image = load_image(args.image)  # a bad picture is refused before any model loads
    device = pick_device(args.device)
    generator = load_generator(ensure(args.generator, kind="stylegan2"), device)
    result = invert_from_args(args, generator, image, device, args.steps)
    meta = {"generator": generator.source, "image": str(args.image), "settings": result.settings,
            "lpips": result.lpips.tolist(), "psnr": result.psnr.tolist()}
    png = args.out.with_suffix(".png")
    save_png(result.reconstruction, png, text=png_text(result.w, meta, result.noise))
    save_latent(args.out, result.w, meta, result.noise)
    print(result.report())
    print(f"final distances: LPIPS {result.lpips.mean():.4f}, PSNR {result.psnr.mean():.2f} dB")
    print(f"wrote {args.out} and {png} (reconstruction, latent embedded)")
    return 0


def start_latent(args: argparse.Namespace, generator, source, photo, device, label) -> tuple:
    """The edit's source: a saved latent (`source`, checked against the generator), an inverted photo, or
    the seed's latent (with `label` for a conditional generator) -> (ws [B, num_ws, w_dim], noise maps or None)."""
    if source is not None:
        generator.check_ws(source.ws, "this latent", path=args.latent)
        return source.ws, source.noise
    if photo is not None:
        inversion = invert_from_args(args, generator, photo, device, args.invert_steps)
        print(inversion.report())
        return inversion.w, inversion.noise
    return generator.ws_from_seed(args.seed, truncation_psi=args.truncation, c=label), None
