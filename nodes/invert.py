"""Inversion nodes: a photo -> W+ latent (+ noise maps) for the sound-guided edit, and PNGs that carry latents."""

from __future__ import annotations

import hashlib

from soundclip_core.errors import SoundClipError
from soundclip_core.image import from_comfy_image, save_png, to_comfy_image
from soundclip_core.invert import PRESETS, load_e4e, load_perceptual, project
from soundclip_core.latents import png_text, read_latent
from soundclip_core.memory import edit_step_bytes
from soundclip_core.picture import FITS, load_image

from . import comfy_env
from .form import Node, any_file, choice, link, model, seed, text, whole
from .types import E4E, EDIT, GENERATOR, LATENT, LOADERS, PERCEPTUAL, WPLUS, WPlus, make_wplus

NO_LPIPS = "none (unweighted VGG distance)"


class PerceptualLoader(Node):
    """VGG16-LPIPS for inversion: torchvision's vgg16-397923af.pth (+ the lpips package's vgg.pth channel
    weights) or NVIDIA's vgg16.pt (both in one TorchScript archive, read as data) from models/perceptual."""

    @classmethod
    def required(cls):
        weights, tooltip = model("perceptual", "LPIPS channel weights (vgg.pth) for a torchvision VGG16; NVIDIA's "
                                               "vgg16.pt already holds them.", exclude=("vgg16.pt",))
        return {
            "vgg_name": model("perceptual", "VGG16 weights: torchvision's vgg16-397923af.pth or NVIDIA's vgg16.pt.",
                              exclude=("vgg.pth",)),
            "lpips_weights": ([NO_LPIPS, *weights], {**tooltip, "default": "vgg.pth"}),
        }

    OUTPUTS = (("perceptual", PERCEPTUAL),)
    FUNCTION = "load"
    VALIDATE_INPUTS = any_file("vgg_name", "lpips_weights")
    CATEGORY = LOADERS
    DESCRIPTION = ("Loads VGG16-LPIPS, the perceptual distance an inversion minimises to find the latent of a "
                   "photo. A known file missing on disk is downloaded.")

    def load(self, vgg_name: str, lpips_weights: str):
        lpips = None if lpips_weights == NO_LPIPS else comfy_env.resolve_model("perceptual", lpips_weights)
        vgg = comfy_env.resolve_model("perceptual", vgg_name)
        return (load_perceptual(vgg, lpips, comfy_env.load_device()),)


class E4ELoader(Node):
    """The e4e face encoder (e4e_ffhq_encode.pt, FFHQ 1024) from models/e4e: a one-pass W+ start for inversion."""

    @classmethod
    def required(cls):
        return {"e4e_name": model("e4e", "The e4e encoder of the generator (e4e_ffhq_encode.pt: FFHQ 1024 faces).")}

    OUTPUTS = (("e4e", E4E),)
    FUNCTION = "load"
    VALIDATE_INPUTS = any_file("e4e_name")
    CATEGORY = LOADERS
    DESCRIPTION = ("Loads an e4e encoder: a one-pass estimate of a face's latent that Invert Image refines (faster "
                   "and closer than starting from the average face). A known file missing on disk is downloaded.")

    def load(self, e4e_name: str):
        return (load_e4e(comfy_env.resolve_model("e4e", e4e_name), comfy_env.load_device()),)


class InvertImage(Node):
    """Find the W+ latent that makes the generator draw this picture (NVIDIA's projector recipe in W, then W+
    kept close to it). Each image of a batch is inverted; the latent plugs into Sound-Guided Latent Optimize
    and Decode gives back exactly the reconstruction shown here. Cancel stops it within one step."""

    REQUIRED = {
        "image": link("IMAGE", "The photo(s) to invert, any size: made square by fit."),
        "generator": link(GENERATOR, "The generator to invert into (a face photo needs a face generator)."),
        "perceptual": link(PERCEPTUAL, "From Load VGG16-LPIPS."),
        "preset": choice(list(PRESETS), "fast: 100 steps, 70% in W then a W+ refinement (100 steps took 88 s at "
                                        "256 px on a CPU); best: 1000 steps, noise maps optimised too (ten times "
                                        "as long)."),
        "steps": whole(-1, -1, 10000, "-1: the preset's. 0 with an e4e encoder: its estimate alone."),
        "fit": choice(list(FITS), "Make the picture square: centre crop or pad its edges."),
        "seed": seed("Seeds the inversion's noise; kept fixed, a rerun reuses the cached result."),
        "batch_size": whole(0, 0, 64, "Images inverted at once; 0: the whole batch (lower it if memory runs out)."),
        "preview_every": whole(10, 1, 1000, "Steps between two previews on the node."),
    }
    OPTIONAL = {"e4e": link(E4E, "From Load e4e Encoder: starts from its estimate (faces).")}
    OUTPUTS = (("latent", WPLUS), ("reconstruction", "IMAGE"), ("report", "STRING"))
    FUNCTION = "run"
    CATEGORY = EDIT
    DESCRIPTION = ("Inverts a photo: finds the latent (and noise maps) from which the generator draws it, to edit "
                   "the photo with a sound. Previews while it runs; the report gives the final distances.")

    def run(self, image, generator, perceptual, preset: str, steps: int, fit: str, seed: int, batch_size: int,
            preview_every: int, e4e=None):
        try:
            pixels = from_comfy_image(image)
        except ValueError as error:
            raise SoundClipError(f"image input: {error}") from error
        steps = None if steps < 0 else steps
        progress = comfy_env.Progress(max(1, PRESETS[preset]["steps"] if steps is None else steps))
        rows = min(batch_size or pixels.shape[0], pixels.shape[0])  # images inverted at once

        def invert():
            w_start = None if e4e is None else e4e.start_for(generator, pixels, fit)
            return project(generator, pixels, perceptual, preset=preset, steps=steps, w_start=w_start, fit=fit,
                           seed=seed, batch_size=batch_size or None, preview_every=preview_every, callback=progress,
                           should_cancel=comfy_env.interrupted)

        result = comfy_env.run_long(invert, generator, perceptual, e4e,
                                    memory_required=lambda: edit_step_bytes(generator, rows))
        return (make_wplus(result.w, generator.source, result.noise), to_comfy_image(result.reconstruction),
                result.report())


class SaveImageWithLatent(Node):
    """Save images as PNGs with their W+ latent (and noise maps) embedded, so Load Latent from PNG or
    `soundclip manipulate --latent file.png` can continue editing them later."""

    REQUIRED = {
        "images": link("IMAGE", "The decoded images."),
        "latent": link(WPLUS, "The latents the images were decoded from (one, or one per image)."),
        "filename_prefix": text("soundclip/latent", "Where in ComfyUI's output folder: a subfolder and a file name "
                                                    "start; a counter is added."),
    }
    OUTPUTS = (("images", "IMAGE"),)
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = LATENT
    DESCRIPTION = ("Saves PNGs that carry their latent (and noise maps): reopen one with Load Latent from PNG, or "
                   "soundclip manipulate --latent, to keep editing.")

    def save(self, images, latent: WPlus, filename_prefix: str):
        ws, noise = latent["ws"], latent.get("noise")
        if ws.shape[0] not in (1, images.shape[0]):
            raise SoundClipError(f"{images.shape[0]} images but {ws.shape[0]} latents",
                                 fix="connect the latent the images were decoded from")
        saved = []
        for i, picture in enumerate(from_comfy_image(images)):
            row = min(i, ws.shape[0] - 1)
            maps = None if noise is None else [n[min(row, n.shape[0] - 1)][None] for n in noise]
            path = comfy_env.output_file(filename_prefix, ".png")
            saved.append(save_png(picture[None], path, text=png_text(ws[row:row + 1],
                                                                      {"generator": latent["generator"]}, maps)))
        return {"ui": {"images": comfy_env.saved_files(saved)}, "result": (images,)}


class LoadLatentFromPNG(Node):
    """A PNG saved with its latent (Save Image with Latent, `soundclip invert`/`manipulate`) from the input
    folder: the W+ latent (+ noise maps) to keep editing, and the picture."""

    @classmethod
    def required(cls):
        folder = comfy_env.input_directory()
        files = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".png") if folder.is_dir() else []
        return {"image": choice(files, "A PNG saved with its latent, in ComfyUI's input folder (upload one with the "
                                       "button).", image_upload=True)}

    OUTPUTS = (("latent", WPLUS), ("image", "IMAGE"))
    FUNCTION = "load"
    CATEGORY = LATENT
    DESCRIPTION = ("Reopens a PNG saved with its latent (Save Image with Latent, the soundclip CLI): the latent "
                   "and noise maps to keep editing, and the picture.")

    def load(self, image: str):
        path = comfy_env.annotated_input_path(image)
        latent = read_latent(path)
        source = latent.meta.get("generator", str(path))
        return (make_wplus(latent.ws, source, latent.noise), to_comfy_image(load_image(path)))

    @classmethod
    def IS_CHANGED(cls, image: str):  # noqa: N802 (ComfyUI's name)
        path = comfy_env.annotated_input_path(image)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"

    VALIDATE_INPUTS = any_file("image")
