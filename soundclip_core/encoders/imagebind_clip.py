"""ImageBind's vision and text towers as an open_clip ViT-H-14 state dict (they are OpenCLIP's, frozen).

ImageBind initialised its image and text encoders from OpenCLIP ViT-H-14 (laion2b) and never trained them,
so `imagebind_huge.pth` holds a CLIP of that space under its own names; renamed, they load into open_clip's
model, and one file gives the audio encoder and the CLIP its sounds guide images in (as AudioCLIP's does).
Two things are more than renaming: ImageBind's image stem is a Conv3d over the image repeated twice in time
(kernel [W, 3, 2, 14, 14], stride 2 in time), which on a still image is the 2-D convolution with the sum of
the two time slices; its heads are Linear layers where open_clip keeps projection matrices (transposed).
Its LayerNorms use eps 1e-6 where open_clip's default is 1e-5: `IMAGEBIND_LAYER_NORM_EPS` is set on the
built model. Vision heads are 80 channels wide and text heads 64, as in ViT-H-14 (1280 / 16, 1024 / 16).
"""

from __future__ import annotations

import torch

IMAGEBIND_LAYER_NORM_EPS = 1e-6
VISION_HEAD_WIDTH, TEXT_HEAD_WIDTH = 80, 64
VISION, TEXT = "modality_preprocessors.vision.", "modality_preprocessors.text."
# per-block names: ImageBind -> open_clip
BLOCK_NAMES = {"attn.in_proj_weight": "attn.in_proj_weight", "attn.in_proj_bias": "attn.in_proj_bias",
               "attn.out_proj.weight": "attn.out_proj.weight", "attn.out_proj.bias": "attn.out_proj.bias",
               "norm_1.weight": "ln_1.weight", "norm_1.bias": "ln_1.bias", "norm_2.weight": "ln_2.weight",
               "norm_2.bias": "ln_2.bias", "mlp.fc1.weight": "mlp.c_fc.weight", "mlp.fc1.bias": "mlp.c_fc.bias",
               "mlp.fc2.weight": "mlp.c_proj.weight", "mlp.fc2.bias": "mlp.c_proj.bias"}
# single tensors: open_clip name -> (ImageBind name, how to convert)
SINGLE = {
    "visual.conv1.weight": (VISION + "rgbt_stem.proj.1.weight", lambda t: t.sum(dim=2)),
    "visual.class_embedding": (VISION + "cls_token", lambda t: t.reshape(-1)),
    "visual.positional_embedding": (VISION + "pos_embedding_helper.pos_embed", lambda t: t[0]),
    "visual.ln_pre.weight": ("modality_trunks.vision.pre_transformer_layer.0.weight", None),
    "visual.ln_pre.bias": ("modality_trunks.vision.pre_transformer_layer.0.bias", None),
    "visual.ln_post.weight": ("modality_heads.vision.0.weight", None),
    "visual.ln_post.bias": ("modality_heads.vision.0.bias", None),
    "visual.proj": ("modality_heads.vision.2.weight", lambda t: t.t()),
    "token_embedding.weight": (TEXT + "token_embedding.weight", None),
    "positional_embedding": (TEXT + "pos_embed", lambda t: t[0]),
    "ln_final.weight": ("modality_heads.text.proj.0.weight", None),
    "ln_final.bias": ("modality_heads.text.proj.0.bias", None),
    "text_projection": ("modality_heads.text.proj.1.weight", lambda t: t.t()),
    "logit_scale": ("modality_postprocessors.text.1.log_logit_scale", None),
}
TOWER_KEYS = tuple(name for name, _ in SINGLE.values())


def is_imagebind(state: dict) -> bool:
    return any(key.startswith("modality_") for key in state)


def missing_tower_keys(state: dict) -> list[str]:
    """The tower tensors an ImageBind-layout file lacks (a file stripped to the audio modality lacks all)."""
    return [key for key in TOWER_KEYS if key not in state]


def imagebind_to_open_clip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The vision and text towers of an ImageBind state dict (all of `TOWER_KEYS` present) under open_clip's
    names; the other modalities are left out."""
    out = {}
    for name, (source, convert) in SINGLE.items():
        out[name] = (convert or (lambda t: t))(state[source]).contiguous()
    for tower, target in (("vision", "visual.transformer.resblocks."), ("text", "transformer.resblocks.")):
        prefix = f"modality_trunks.{tower}.blocks."
        for key, value in state.items():
            if key.startswith(prefix):
                index, _, rest = key.removeprefix(prefix).partition(".")
                if rest in BLOCK_NAMES:
                    out[f"{target}{index}.{BLOCK_NAMES[rest]}"] = value
    return out
