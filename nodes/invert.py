"""Inversion nodes: a photo -> W+ latent (+ noise maps) for the sound-guided edit, and PNGs that carry latents."""

from __future__ import annotations

import hashlib

from soundclip_core.errors import SoundClipError
from soundclip_core.image import from_comfy_image, save_png, to_comfy_image
from soundclip_core.invert import FITS, PRESETS, fit_square, load_e4e, load_image, load_perceptual, project
from soundclip_core.latents import png_text, read_latent

from . import comfy_env
from .types import CATEGORY, E4E, GENERATOR, PERCEPTUAL, WPLUS, WPlus, make_wplus

NO_LPIPS = "none (unweighted VGG distance)"


class PerceptualLoader:
    """VGG16-LPIPS for inversion: torchvision's vgg16-397923af.pth (+ the lpips package's vgg.pth channel
    weights) or NVIDIA's vgg16.pt (both in one TorchScript archive, read as data) from models/perceptual."""

    @classmethod
    def INPUT_TYPES(cls):
        choices = comfy_env.model_choices("perceptual")
        return {"required": {
            "vgg_name": ([c for c in choices if c != "vgg.pth"],
                         {"tooltip": "VGG16 weights; known models are downloaded on first use."}),
            "lpips_weights": ([NO_LPIPS, *[c for c in choices if c != "vgg16.pt"]],
                              {"tooltip": "LPIPS channel weights (vgg.pth) for a torchvision VGG16; NVIDIA's vgg16.pt "
                                          "already holds them."}),
        }}

    RETURN_TYPES = (PERCEPTUAL,)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, vgg_name: str, lpips_weights: str):
        lpips = None if lpips_weights == NO_LPIPS else comfy_env.resolve_model("perceptual", lpips_weights)
        return (load_perceptual(comfy_env.resolve_model("perceptual", vgg_name), lpips, comfy_env.device()),)


class E4ELoader:
    """The e4e face encoder (e4e_ffhq_encode.pt, FFHQ 1024) from models/e4e: a one-pass W+ start for inversion."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"e4e_name": (comfy_env.model_choices("e4e"),)}}

    RETURN_TYPES = (E4E,)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, e4e_name: str):
        return (load_e4e(comfy_env.resolve_model("e4e", e4e_name), comfy_env.device()),)


class InvertImage:
    """Find the W+ latent that makes the generator draw this picture (NVIDIA's projector recipe in W, then W+
    kept close to it). Each image of a batch is inverted; the latent plugs into Sound-Guided Latent Optimize
    and Decode gives back exactly the reconstruction shown here. Cancel stops it within one step."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),
                "generator": (GENERATOR,),
                "perceptual": (PERCEPTUAL,),
                "preset": (list(PRESETS), {"tooltip": "fast: a preview in W (+ a short W+ refinement); best: 1000 "
                                                      "steps, noise maps optimised too."}),
                "steps": ("INT", {"default": -1, "min": -1, "max": 10000,
                                  "tooltip": "-1: the preset's. 0 with an e4e encoder: its estimate alone."}),
                "fit": (list(FITS), {"tooltip": "Make the picture square: centre crop or pad its edges."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": True}),
                "batch_size": ("INT", {"default": 0, "min": 0, "max": 64,
                                       "tooltip": "Images inverted at once; 0: the whole batch (lower it if memory "
                                                  "runs out)."}),
                "preview_every": ("INT", {"default": 10, "min": 1, "max": 1000}),
            },
            "optional": {"e4e": (E4E,)},
        }

    RETURN_TYPES = (WPLUS, "IMAGE", "STRING")
    RETURN_NAMES = ("latent", "reconstruction", "report")
    FUNCTION = "run"
    CATEGORY = CATEGORY

    def run(self, image, generator, perceptual, preset: str, steps: int, fit: str, seed: int, batch_size: int,
            preview_every: int, e4e=None):
        try:
            pixels = from_comfy_image(image)
        except ValueError as error:
            raise SoundClipError(f"image input: {error}") from error
        steps = None if steps < 0 else steps
        w_start = None
        if e4e is not None:
            if (e4e.num_ws, e4e.w_dim) != (generator.num_ws, generator.w_dim):
                raise SoundClipError(f"the e4e encoder {e4e.source} makes {e4e.num_ws} x {e4e.w_dim} latents, the "
                                     f"generator needs {generator.num_ws} x {generator.w_dim}",
                                     fix="use the encoder trained for this generator (e4e_ffhq_encode.pt: FFHQ 1024)")
            w_start = e4e.encode(fit_square(pixels, generator.resolution, fit))
        total = max(1, PRESETS[preset]["steps"] if steps is None else steps)
        progress = comfy_env.Progress(total)
        result = comfy_env.run_long(lambda: project(
            generator, pixels, perceptual, preset=preset, steps=steps, w_start=w_start, fit=fit, seed=seed,
            batch_size=batch_size or None, preview_every=preview_every,
            callback=lambda step, count, preview, info: progress.update(step, count, preview),
            should_cancel=comfy_env.interrupted))
        return (make_wplus(result.w, generator.source, result.noise), to_comfy_image(result.reconstruction),
                result.report())


class SaveImageWithLatent:
    """Save images as PNGs with their W+ latent (and noise maps) embedded, so Load Latent from PNG or
    `soundclip manipulate --latent file.png` can continue editing them later."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE",),
            "latent": (WPLUS,),
            "filename_prefix": ("STRING", {"default": "soundclip/latent"}),
        }}

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY

    def save(self, images, latent: WPlus, filename_prefix: str):
        ws, noise = latent["ws"], latent.get("noise")
        if ws.shape[0] not in (1, images.shape[0]):
            raise SoundClipError(f"{images.shape[0]} images but {ws.shape[0]} latents",
                                 fix="connect the latent the images were decoded from")
        folder = comfy_env.output_directory().resolve()
        saved = []
        for i, picture in enumerate(from_comfy_image(images)):
            row = min(i, ws.shape[0] - 1)
            maps = None if noise is None else [n[min(row, n.shape[0] - 1)][None] for n in noise]
            path = comfy_env.output_file(filename_prefix, ".png")
            save_png(picture[None], path, text=png_text(ws[row:row + 1], {"generator": latent["generator"]}, maps))
            saved.append({"filename": path.name, "subfolder": str(path.parent.relative_to(folder)), "type": "output"})
        return {"ui": {"images": saved}, "result": (images,)}




class LoadLatentFromPNG:
    """A PNG saved with its latent (Save Image with Latent, `soundclip invert`/`manipulate`) from the input
    folder: the W+ latent (+ noise maps) to keep editing, and the picture."""

    @classmethod
    def INPUT_TYPES(cls):
        folder = comfy_env.input_directory()
        files = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".png") if folder.is_dir() else []
        return {"required": {"image": (files, {"image_upload": True})}}

    RETURN_TYPES = (WPLUS, "IMAGE")
    RETURN_NAMES = ("latent", "image")
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, image: str):
        path = comfy_env.annotated_input_path(image)
        latent = read_latent(path)
        source = latent.meta.get("generator", str(path))
        return (make_wplus(latent.ws, source, latent.noise), to_comfy_image(load_image(path)))

    @classmethod
    def IS_CHANGED(cls, image: str):
        return hashlib.sha256(comfy_env.annotated_input_path(image).read_bytes()).hexdigest()
