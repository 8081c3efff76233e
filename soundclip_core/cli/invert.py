"""`soundclip invert`: a photo -> a W+ latent (+ noise maps) of a generator, ready for `manipulate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SoundClipError
from ..generators import load_generator
from ..image import save_png
from ..invert import PRESETS, load_e4e, load_perceptual, project
from ..latents import png_text, save_latent
from ..picture import FITS, fit_square, load_image
from ..runtime import pick_device
from .models import Request, model_files
from .options import add_device_arg
from .outputs import check_output
from .progress import step_bar


def add_inversion_args(p: argparse.ArgumentParser, steps_flag: str = "--steps") -> None:
    """The options of an inversion (shared with `manipulate --image` and `video --image`)."""
    p.add_argument("--vgg", default="vgg16", help="VGG16 for the perceptual distance: torchvision's "
                                                  "vgg16-397923af.pth, NVIDIA's vgg16.pt, or a known id "
                                                  "(vgg16, vgg16-nvidia)")
    p.add_argument("--lpips-weights", help="LPIPS channel weights (the lpips package's vgg.pth, or the id lpips-vgg) "
                                           "for a torchvision VGG16; without them the unweighted VGG feature "
                                           "distance is used, and named so")
    p.add_argument("--e4e", help="e4e encoder (e4e_ffhq_encode.pt or the id e4e-ffhq): its one-pass W+ estimate is "
                                 "the start (faces; with 0 steps, the whole inversion)")
    p.add_argument(steps_flag, type=int, help="inversion steps (default: the preset's)")
    p.add_argument("--invert-preset" if steps_flag != "--steps" else "--preset", dest="invert_preset",
                   choices=list(PRESETS), default="fast",
                   help="fast: 100 steps, a first look (on a CPU minutes, not seconds: about 1-6 s a step at 256 "
                        "px); best: 1000 steps and the noise maps, the closest reconstruction")
    p.add_argument("--fit", choices=FITS, default="crop", help="make the picture square by centre crop or edge pad")


def add_align_args(p: argparse.ArgumentParser) -> None:
    """--align face: the photo's largest face aligned as FFHQ's were (for FFHQ generators and e4e), the result
    pasted back into the photo unless --no-paste-back."""
    p.add_argument("--align", choices=("none", "face"), default="none",
                   help="face: find the photo's largest face and align it as FFHQ was made (eyes and mouth where "
                        "FFHQ models expect them; needs `pip install \"soundclip[faces]\"`); none: --fit only")
    p.add_argument("--no-paste-back", action="store_true",
                   help="with --align face: write the aligned square instead of the photo with the face put back")


def aligned_photo(args: argparse.Namespace, photo):
    """(the picture to invert, the face's place in the photo or None): with --align face the largest face,
    found before any model loads (a photo without a face stops here)."""
    if args.align != "face":
        return photo, None
    if photo is None:
        raise SoundClipError("--align face aligns a photo's face, and no photo was given", fix="add --image PHOTO")
    from ..faces import align_photo

    aligned, faces = align_photo(photo, "largest", name=str(args.image))
    return aligned, faces[0]


def pasted(args: argparse.Namespace, images, face):
    """`images` [B, 3, S, S] put back into the photo their face came from (unless --no-paste-back)."""
    if face is None or args.no_paste_back:
        return images
    from ..faces import paste_edits

    return paste_edits(images, face)


def inversion_requests(args: argparse.Namespace, photo: bool = True) -> dict[str, Request]:
    """The models an inversion needs (none when there is no photo to invert)."""
    return {"vgg": (args.vgg, "perceptual") if photo else None,
            "lpips": (args.lpips_weights, "perceptual") if photo and args.lpips_weights else None,
            "e4e": (args.e4e, "e4e") if photo and args.e4e else None}


def register(subparsers) -> None:
    p = subparsers.add_parser("invert", help="find the W+ latent of a photo for a generator (then edit it)")
    p.add_argument("image", type=Path, help="the picture (any size; PNG, JPEG, WebP, TIFF, ...)")
    p.add_argument("--generator", required=True, help="StyleGAN file or known id (e.g. ffhq-1024)")
    add_inversion_args(p)
    add_align_args(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the optimisation's noise")
    add_device_arg(p)
    p.add_argument("--out", required=True, type=Path,
                   help="the latent (.safetensors); the reconstruction goes beside it as .png, latent embedded")
    p.set_defaults(func=run)


def invert_from_args(args: argparse.Namespace, files: dict, generator, image, device, steps: int | None):
    """Load the perceptual network (and e4e) from `files` and invert `image` [1, 3, H, W]; returns the inversion
    Result."""
    perceptual = load_perceptual(files["vgg"], files["lpips"], device, notify=lambda text: print(text, file=sys.stderr))
    w_start = None
    if files["e4e"] is not None:
        encoder = load_e4e(files["e4e"], device, generator.w_avg)
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
    # both outputs, the picture and every model are checked before any model loads
    latent_path = check_output(args.out, {".safetensors"}, "me.safetensors")
    png = check_output(latent_path.with_suffix(".png"), {".png"}, "me.png")
    image, face = aligned_photo(args, load_image(args.image))
    files = model_files({"generator": (args.generator, "stylegan2"), **inversion_requests(args)})
    device = pick_device(args.device)
    generator = load_generator(files["generator"], device)
    result = invert_from_args(args, files, generator, image, device, args.steps)
    distance = result.settings["distance"]
    meta = {"generator": generator.source, "image": str(args.image), "settings": result.settings,
            ("lpips" if distance == "LPIPS" else "vgg_distance"): result.lpips.tolist(), "psnr": result.psnr.tolist(),
            **({"face_transform": face.transform.to_json()} if face is not None else {})}
    save_png(pasted(args, result.reconstruction, face), png, text=png_text(result.w, meta, result.noise))
    save_latent(latent_path, result.w, meta, result.noise)
    print(result.report())
    print(f"wrote {latent_path} and {png} (reconstruction, latent embedded)")
    return 0


def start_latent(args: argparse.Namespace, files: dict, generator, source, photo, device, label) -> tuple:
    """The edit's source: a saved latent (`source`, checked against the generator), an inverted photo, or
    the seed's latent (with `label` for a conditional generator) -> (ws [B, num_ws, w_dim], noise maps or None)."""
    if source is not None:
        generator.check_ws(source.ws, "this latent", path=args.latent)
        return source.ws, source.noise
    if photo is not None:
        inversion = invert_from_args(args, files, generator, photo, device, args.invert_steps)
        print(f"inverted {args.image}: {inversion.report()}")
        return inversion.w, inversion.noise
    return generator.ws_from_seed(args.seed, truncation_psi=args.truncation, c=label), None
