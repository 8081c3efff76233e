"""StyleGAN2 nodes: load a generator, draw W+ latents from a seed, mix them by layer, decode."""

from __future__ import annotations

import torch

from soundclip_core.generators import load_generator
from soundclip_core.generators.labels import describe, label_for
from soundclip_core.image import to_comfy_image
from soundclip_core.manipulate import default_mix_layers, style_mix
from soundclip_core.noise_maps import synthesize

from . import comfy_env
from .types import CATEGORY, GENERATOR, WPLUS, WPlus, latent_for, make_wplus, noise_for

NOISE_MODES = ["const", "random", "none"]


class StyleGANLoad:
    """A StyleGAN2 or StyleGAN3 (T/R) generator (rosinality .pt, NVIDIA .pkl of the PyTorch or TensorFlow era,
    or soundclip .safetensors) from models/stylegan2.

    Pickles are read with a restricted unpickler: no code inside the file ever runs.
    """

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator_name": (comfy_env.model_choices("stylegan2"),
                               {"tooltip": "Files in models/stylegan2 and known models, downloaded on first use."}),
        }}

    RETURN_TYPES = (GENERATOR, "STRING")
    RETURN_NAMES = ("generator", "info")
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, generator_name: str):
        generator = load_generator(comfy_env.resolve_model("stylegan2", generator_name), device=comfy_env.device())
        info = f"{generator.kind}, {generator.resolution} px, {generator.num_ws} W+ layers, w_dim {generator.w_dim}"
        if generator.c_dim:
            info += f"; class-conditional, labels: {describe(generator.c_dim, generator.config.label_set)}"
        return (generator, info)


class LatentFromSeed:
    """Seeded random W+ latents (truncated toward the average latent) to start an edit from."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": (GENERATOR,),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": True}),
            "batch_size": ("INT", {"default": 1, "min": 1, "max": 64}),
            "truncation_psi": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 1.5, "step": 0.05,
                                         "tooltip": "Below 1 trades variety for typical, cleaner images."}),
            "label": ("STRING", {"default": "",
                                 "tooltip": "Class-conditional generators only (empty otherwise): class indices such "
                                            "as '3' or '3,7', or for WikiArt 'genre=landscape, style=impressionism' "
                                            "(the loader's info output lists what a generator accepts)."}),
        }}

    RETURN_TYPES = (WPLUS,)
    RETURN_NAMES = ("latent",)
    FUNCTION = "sample"
    CATEGORY = CATEGORY

    def sample(self, generator, seed: int, batch_size: int, truncation_psi: float, label: str = ""):
        c = label_for(generator, label, source="LatentFromSeed label")
        ws = generator.ws_from_seed(seed, batch_size=batch_size, truncation_psi=truncation_psi, c=c)
        return (make_wplus(ws, generator.source),)


class StyleMix:
    """Take some W+ layers from latent A (e.g. sound-guided) and the rest from B (e.g. text-guided)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "latent_a": (WPLUS,),
            "latent_b": (WPLUS,),
            "layers_from_a": ("STRING", {"default": "",
                                         "tooltip": "0-based layer ranges such as '0-8' or '0-3,10'. Empty: the "
                                                    "paper's "
                                                    "split (coarse half from A, fine half from B)."}),
        }}

    RETURN_TYPES = (WPLUS,)
    RETURN_NAMES = ("latent",)
    FUNCTION = "mix"
    CATEGORY = CATEGORY

    def mix(self, latent_a: WPlus, latent_b: WPlus, layers_from_a: str):
        layers = layers_from_a.strip() or default_mix_layers(latent_a["num_ws"])
        noise = latent_a.get("noise")  # noise maps (of an inverted photo) follow latent A
        return (make_wplus(style_mix(latent_a["ws"], latent_b["ws"], layers), latent_a["generator"], noise),)


class Decode:
    """W+ latents -> IMAGE for core SaveImage / PreviewImage."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": (GENERATOR,),
            "latent": (WPLUS,),
            "noise_mode": (NOISE_MODES, {"tooltip": "const: the checkpoint's fixed noise, or the latent's own noise "
                                                    "maps when it has them (an inverted photo); reproducible."}),
        }}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"
    CATEGORY = CATEGORY

    def decode(self, generator, latent: WPlus, noise_mode: str):
        ws = latent_for(generator, latent)
        noise = noise_for(generator, latent) if noise_mode == "const" else None
        with torch.no_grad():
            images = torch.cat([synthesize(generator, ws[i:i + 4], _rows(noise, i, 4), noise_mode)
                                for i in range(0, ws.shape[0], 4)])
        return (to_comfy_image(images),)


def _rows(noise: list[torch.Tensor] | None, start: int, count: int) -> list[torch.Tensor] | None:
    """Rows start..start+count of per-sample noise maps (shared [1, ...] maps pass whole)."""
    if noise is None:
        return None
    return [n if n.shape[0] == 1 else n[start:start + count] for n in noise]
