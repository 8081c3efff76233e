"""The sound-guided edit: optimise a W+ latent toward an embedding, with a per-layer mask."""

from __future__ import annotations

from soundclip_core.arcface import load_arcface
from soundclip_core.manipulate import MASK_MODES, PRESETS, Region, feathered, mask_options, optimize
from soundclip_core.memory import edit_step_bytes

from . import comfy_env
from .form import Node, any_file, choice, link, model, number, seed, text, whole
from .types import (
    ARCFACE,
    CLIP,
    EDIT,
    EMBEDDING,
    GENERATOR,
    LOADERS,
    PERCEPTUAL,
    WPLUS,
    WPlus,
    latent_for,
    make_wplus,
    noise_for,
)

# The optimisation's settings, shared with Sound to Keyframes (which runs the same edit once per window).
PRESET = choice(list(PRESETS), "Loss weights tuned in the paper: ffhq for faces, the others for scenes and art.")
STEPS = whole(300, 1, 10000, "Optimisation steps: the paper uses 300; fewer is faster and edits less.")
LR = number(0.1, 0.0001, 10.0, 0.005, "Adam's learning rate for the latent (the paper's 0.1).")
MASK = choice(list(MASK_MODES), "learned: the paper's learnable per-layer mask, each layer kept between half and "
                                "twice its weight; official: the official code's adaptive masking; fixed: your "
                                "weights; freeze: only the listed layers move.")
LAYERS = text("", "freeze: layers that may change, e.g. '0-8'. fixed: one weight per layer, comma separated. "
                  "Ignored by the other masks.")
SEED = seed("Seeds the optimisation's randomness; kept fixed, a rerun reuses the cached result.")
PRECISION = choice(["fp32", "bf16", "fp16"], "bf16/fp16 are faster on GPUs (bf16 also on recent CPUs).")


class ArcFaceLoader(Node):
    """ArcFace IR-SE50 (model_ir_se50.pth) for the identity loss on faces."""

    @classmethod
    def required(cls):
        return {"arcface_name": model("arcface", "ArcFace IR-SE50 weights (model_ir_se50.pth).")}

    OUTPUTS = (("arcface", ARCFACE),)
    FUNCTION = "load"
    VALIDATE_INPUTS = any_file("arcface_name")
    CATEGORY = LOADERS
    DESCRIPTION = ("Loads ArcFace, the face recogniser whose identity loss keeps an edited face the same person "
                   "(the ffhq preset needs it). A known file missing on disk is downloaded.")

    def load(self, arcface_name: str):
        return (load_arcface(comfy_env.resolve_model("arcface", arcface_name), device=comfy_env.load_device()),)


class LatentOptimize(Node):
    """Optimise W+ so the image matches the target embedding (Lee et al., CVPR 2022).

    Minimises cosine distance in CLIP space + lam_sim * ||g . (w - w_source)||^2 (+ lam_id * identity
    loss for faces); g is the per-layer mask. Shows a preview every few steps; Cancel stops it
    within one step.
    """

    REQUIRED = {
        "generator": link(GENERATOR, "The generator the latent was made with."),
        "clip": link(CLIP, "The CLIP model of the target's space (ViT-B-32 for the paper's encoder)."),
        "target": link(EMBEDDING, "What to move toward: a sound, a text or a mix; a batch gives one edit each."),
        "latent": link(WPLUS, "The image to edit (from a seed, or an inverted photo)."),
        "preset": PRESET,
        "steps": STEPS,
        "lr": LR,
        "lam_sim": number(-1.0, -1.0, 100.0, 0.001, "Weight of staying close to the source latent; -1 uses the "
                                                     "preset."),
        "lam_id": number(-1.0, -1.0, 100.0, 0.001, "Weight of the face identity loss (needs arcface); -1 uses the "
                                                    "preset."),
        "mask": MASK,
        "layers": LAYERS,
        "seed": SEED,
        "precision": PRECISION,
        "clip_input": choice(["area", "official"], "official reproduces the research code's image resize exactly."),
        "preview_every": whole(10, 1, 1000, "Steps between two previews on the node."),
    }
    OPTIONAL = {
        "arcface": link(ARCFACE, "From Load ArcFace: the identity loss for faces (lam_id)."),
        "chunk_size": whole(0, 0, 256, "Rows (latent and target pairs) rendered at once in each step: bounds memory "
                                       "for a batch; 0 = all at once. The result is the same either way."),
        "region_mask": link("MASK", "Where the picture may change (white), e.g. from Where Is the Sound or the mask "
                                    "editor: outside it the edit is held at the source. Any size: centre-cropped and "
                                    "resized to the generator's, as Invert Image's crop fit does; an all-black mask "
                                    "is refused."),
        "perceptual": link(PERCEPTUAL, "With a mask: VGG16-LPIPS (Load VGG16-LPIPS) also holds the look of the "
                                       "outside, not only its pixels."),
    }
    OUTPUTS = (("latent", WPLUS), ("report", "STRING"))
    FUNCTION = "run"
    CATEGORY = EDIT
    DESCRIPTION = ("The paper's sound-guided edit: moves the latent until its image matches the target in CLIP "
                   "space while a per-layer mask keeps it close to the source. Previews while it runs; Cancel "
                   "stops it within one step. A MASK confines the edit to a region; ComfyUI's Image Composite "
                   "Masked then pastes the source back outside it exactly when the mask is square or was made on the "
                   "square that is edited (a mask of another shape is centre-cropped, as Invert Image's crop fit).")

    def run(self, generator, clip, target, latent: WPlus, preset: str, steps: int, lr: float, lam_sim: float,
            lam_id: float, mask: str, layers: str, seed: int, precision: str, clip_input: str,
            preview_every: int, arcface=None, chunk_size: int = 0, region_mask=None,
            perceptual=None):
        progress = comfy_env.Progress(steps)
        region = None if region_mask is None else Region(feathered(region_mask, generator.resolution),
                                                         perceptual=perceptual)
        rows = max(latent["ws"].shape[0], target.batch_size)
        at_once = min(chunk_size or rows, rows)
        result = comfy_env.run_long(lambda: optimize(
            generator, clip, target, latent_for(generator, latent), preset=preset, steps=steps, lr=lr,
            lam_sim=None if lam_sim < 0 else lam_sim, lam_id=None if lam_id < 0 else lam_id, mask=mask,
            **mask_options(mask, layers, generator.num_ws), identity=arcface, clip_input=clip_input,
            precision=precision, seed=seed, callback=progress, should_cancel=comfy_env.interrupted,
            preview_every=preview_every, noise=noise_for(generator, latent), chunk_size=chunk_size or None,
            region=region), generator, clip, arcface, perceptual,
            memory_required=lambda: edit_step_bytes(generator, at_once))
        return (make_wplus(result.w, generator.source, result.noise), result.report())
