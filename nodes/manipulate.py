"""The sound-guided edit: optimise a W+ latent toward an embedding, with a per-layer mask."""

from __future__ import annotations

from soundclip_core.arcface import load_arcface
from soundclip_core.manipulate import MASK_MODES, PRESETS, optimize, parse_layer_weights

from . import comfy_env
from .types import ARCFACE, CATEGORY, CLIP, EMBEDDING, GENERATOR, WPLUS, WPlus, latent_for, make_wplus, noise_for


class ArcFaceLoader:
    """ArcFace IR-SE50 (model_ir_se50.pth) for the identity loss on faces."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"arcface_name": (comfy_env.model_choices("arcface"),)}}

    RETURN_TYPES = (ARCFACE,)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, arcface_name: str):
        return (load_arcface(comfy_env.resolve_model("arcface", arcface_name), device=comfy_env.device()),)


class LatentOptimize:
    """Optimise W+ so the image matches the target embedding (Lee et al., CVPR 2022).

    Minimises cosine distance in CLIP space + lam_sim * ||g . (w - w_source)||^2 (+ lam_id * identity
    loss for faces); g is the per-layer mask. Shows a preview every few steps; Cancel stops it
    within one step.
    """

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "generator": (GENERATOR,),
                "clip": (CLIP,),
                "target": (EMBEDDING,),
                "latent": (WPLUS,),
                "preset": (list(PRESETS), {"tooltip": "Loss weights tuned in the paper: ffhq for faces, the others "
                                                      "for scenes and art."}),
                "steps": ("INT", {"default": 300, "min": 1, "max": 10000}),
                "lr": ("FLOAT", {"default": 0.1, "min": 0.0001, "max": 10.0, "step": 0.005}),
                "lam_sim": ("FLOAT", {"default": -1.0, "min": -1.0, "max": 100.0, "step": 0.001,
                                      "tooltip": "Weight of staying close to the source latent; -1 uses the preset."}),
                "lam_id": ("FLOAT", {"default": -1.0, "min": -1.0, "max": 100.0, "step": 0.001,
                                     "tooltip": "Weight of the face identity loss (needs arcface); "
                                                "-1 uses the preset."}),
                "mask": (list(MASK_MODES), {"tooltip": "learned: the paper's learnable per-layer mask, each layer "
                                                        "kept between half and twice its weight; official: the "
                                                        "official code's adaptive masking; fixed: your weights; "
                                                        "freeze: only the listed layers move."}),
                "layers": ("STRING", {"default": "",
                                      "tooltip": "freeze: layers that may change, e.g. '0-8'. fixed: one weight per "
                                                 "layer, comma separated."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": True}),
                "precision": (["fp32", "bf16", "fp16"], {"tooltip": "bf16/fp16 are faster on GPUs (bf16 also on "
                                                                    "recent CPUs)."}),
                "clip_input": (["area", "official"], {"tooltip": "official reproduces the research code's image "
                                                                  "resize exactly."}),
                "preview_every": ("INT", {"default": 10, "min": 1, "max": 1000}),
            },
            "optional": {"arcface": (ARCFACE,)},
        }

    RETURN_TYPES = (WPLUS, "STRING")
    RETURN_NAMES = ("latent", "report")
    FUNCTION = "run"
    CATEGORY = CATEGORY

    def run(self, generator, clip, target, latent: WPlus, preset: str, steps: int, lr: float, lam_sim: float,
            lam_id: float, mask: str, layers: str, seed: int, precision: str, clip_input: str,
            preview_every: int, arcface=None):
        progress = comfy_env.Progress(steps)
        fixed = mask == "fixed" and layers.strip()
        mask_weights = parse_layer_weights(layers, generator.num_ws) if fixed else None
        result = comfy_env.run_long(lambda: optimize(
            generator, clip, target, latent_for(generator, latent), preset=preset, steps=steps, lr=lr,
            lam_sim=None if lam_sim < 0 else lam_sim, lam_id=None if lam_id < 0 else lam_id, mask=mask,
            layers=(layers.strip() or None) if mask == "freeze" else None, mask_weights=mask_weights,
            identity=arcface, clip_input=clip_input, precision=precision, seed=seed,
            callback=lambda step, total, preview, info: progress.update(step, total, preview),
            should_cancel=comfy_env.interrupted, preview_every=preview_every, noise=noise_for(generator, latent)))
        return (make_wplus(result.w, generator.source, result.noise), result.report())
