"""StyleGAN nodes: load a generator, draw W+ latents from a seed, mix them by layer, decode."""

from __future__ import annotations

from soundclip_core.directions import decode_styles
from soundclip_core.errors import SoundClipError
from soundclip_core.generators import load_generator
from soundclip_core.generators.labels import describe, label_for
from soundclip_core.image import to_comfy_image
from soundclip_core.manipulate import composite, default_mix_layers, feathered, style_mix
from soundclip_core.memory import decode_bytes
from soundclip_core.noise_maps import check_noise, decode

from . import comfy_env
from .form import Node, any_file, choice, link, model, number, seed, text, whole
from .types import GENERATOR, LATENT, LOADERS, STYLES, WPLUS, Styles, WPlus, latent_for, make_wplus, noise_for

NOISE_MODES = ["const", "random", "none"]
DECODE_BATCH = 4  # latents decoded at once (the core's default)


class StyleGANLoad(Node):
    """A StyleGAN2 or StyleGAN3 (T/R) generator (rosinality .pt, NVIDIA .pkl of the PyTorch or TensorFlow era,
    or soundclip .safetensors) from models/stylegan2.

    Pickles are read with a restricted unpickler: no code inside the file ever runs.
    """

    @classmethod
    def required(cls):
        return {"generator_name": model("stylegan2", "A StyleGAN2 or StyleGAN3 generator (.pt, .pkl, .safetensors).")}

    OUTPUTS = (("generator", GENERATOR), ("info", "STRING"))
    FUNCTION = "load"
    VALIDATE_INPUTS = any_file("generator_name")
    CATEGORY = LOADERS
    DESCRIPTION = ("Loads a StyleGAN2 or StyleGAN3 generator in any common format without running code from the "
                   "file. info names the architecture, resolution, W+ layers and the labels a class-conditional "
                   "model accepts. A known file missing on disk is downloaded.")

    def load(self, generator_name: str):
        path = comfy_env.resolve_model("stylegan2", generator_name)
        generator = load_generator(path, device=comfy_env.load_device())
        info = f"{generator.kind}, {generator.resolution} px, {generator.num_ws} W+ layers, w_dim {generator.w_dim}"
        if generator.c_dim:
            info += f"; class-conditional, labels: {describe(generator.c_dim, generator.config.label_set)}"
        return (generator, info)


class LatentFromSeed(Node):
    """Seeded random W+ latents (truncated toward the average latent) to start an edit from."""

    REQUIRED = {
        "generator": link(GENERATOR, "From Load StyleGAN."),
        "seed": seed("Which random image to start from; the same seed gives the same image."),
        "batch_size": whole(1, 1, 64, "Latents drawn (seed, seed + 1, ...)."),
        "truncation_psi": number(0.7, 0.0, 1.5, 0.05, "Below 1 trades variety for typical, cleaner images."),
        "label": text("", "Class-conditional generators only (empty otherwise): class indices such as '3' or '3,7', "
                          "or for WikiArt 'genre=landscape, style=impressionism' (the loader's info output lists what "
                          "a generator accepts)."),
    }
    OUTPUTS = (("latent", WPLUS),)
    FUNCTION = "sample"
    CATEGORY = LATENT
    DESCRIPTION = "Draws W+ latents from a seed: the images an edit starts from (decode them to see them)."

    def sample(self, generator, seed: int, batch_size: int, truncation_psi: float, label: str = ""):
        c = label_for(generator, label, source="LatentFromSeed label")
        with comfy_env.on_device(generator):  # the mapping network only: no more than its weights
            ws = generator.ws_from_seed(seed, batch_size=batch_size, truncation_psi=truncation_psi, c=c)
        return (make_wplus(ws, generator.source),)


class StyleMix(Node):
    """Take some W+ layers from latent A (e.g. sound-guided) and the rest from B (e.g. text-guided)."""

    REQUIRED = {
        "latent_a": link(WPLUS, "Gives the listed layers (and its noise maps, if any)."),
        "latent_b": link(WPLUS, "Gives the other layers."),
        "layers_from_a": text("", "0-based layer ranges such as '0-8' or '0-3,10'. Empty: the paper's split (coarse "
                                  "half from A, fine half from B)."),
    }
    OUTPUTS = (("latent", WPLUS),)
    FUNCTION = "mix"
    CATEGORY = LATENT
    DESCRIPTION = ("Style mixing by layer: coarse layers set shape and layout, fine layers colour and texture; "
                   "e.g. the shape of a sound-guided edit with the colours of a text-guided one.")

    def mix(self, latent_a: WPlus, latent_b: WPlus, layers_from_a: str):
        layers = layers_from_a.strip() or default_mix_layers(latent_a["num_ws"])
        noise = latent_a.get("noise")  # noise maps (of an inverted photo) follow latent A
        return (make_wplus(style_mix(latent_a["ws"], latent_b["ws"], layers), latent_a["generator"], noise),)


class Decode(Node):
    """W+ latents -> IMAGE for core SaveImage / PreviewImage."""

    REQUIRED = {
        "generator": link(GENERATOR, "The generator the latent was made with."),
        "latent": link(WPLUS, "The W+ latents to draw."),
        "noise_mode": choice(NOISE_MODES, "const: the checkpoint's fixed noise, or the latent's own noise maps when "
                                          "it has them (an inverted photo); reproducible. random: fresh noise each "
                                          "run; none: no noise."),
    }
    OPTIONAL = {
        "styles": link(STYLES, "From Apply Direction: draw these edited styles instead of the latent (connect the "
                               "latent they were made from)."),
        "region_mask": link("MASK", "With styles: the edit only where the mask is white (e.g. from Where Is the "
                                    "Sound or the mask editor); the latent's own image elsewhere, through a "
                                    "feathered edge. Centre-cropped and resized to the generator's size."),
    }
    OUTPUTS = (("IMAGE", "IMAGE"),)
    FUNCTION = "decode"
    CATEGORY = LATENT
    DESCRIPTION = ("Draws the images of W+ latents, or of StyleSpace styles from Apply Direction (confined to a "
                   "region mask when one is connected), for core Save Image / Preview Image.")

    def decode(self, generator, latent: WPlus, noise_mode: str, styles: Styles | None = None, region_mask=None):
        if region_mask is not None and styles is None:
            raise SoundClipError("a region mask confines an edit, and no edited styles are connected",
                                 fix="connect Apply Direction's styles (a latent's own image needs no mask)")
        allowed = None if region_mask is None else feathered(region_mask, generator.resolution, name="region mask")
        with comfy_env.on_device(generator, memory_required=lambda: 2 * decode_bytes(generator, DECODE_BATCH)):
            noise = noise_for(generator, latent) if noise_mode == "const" else None
            if styles is None or allowed is not None:
                images = decode(generator, latent_for(generator, latent), noise, noise_mode,
                                batch_size=DECODE_BATCH)
            if styles is not None:
                drawn = generator.check_styles(styles["styles"], f"the styles (from {styles['generator']})")
                edit = decode_styles(generator, drawn,
                                     check_noise(generator, styles.get("noise")) if noise_mode == "const" else None,
                                     noise_mode, batch_size=DECODE_BATCH)
                images = edit if allowed is None else composite(edit, images, allowed)
        return (to_comfy_image(images),)
