"""Dense CLIP features without training: one embedding per patch (ViT) or per layer4 cell (ResNet).

CLIP pools its image into one vector, but the towers already hold a vector per region; MaskCLIP (Zhou et
al. 2022) showed how to read them in CLIP's joint space:

- ViT: the last block's attention mixes every token with every other (q·k), which is what smears local
  evidence across the image. MaskCLIP keeps only its value path: y = LN1(x), v = W_v y + b_v, x' = x +
  out_proj(v), x'' = x' + MLP(LN2(x')), then ln_post and the projection, per patch (CLS dropped).
- ResNet (ModifiedResNet): attnpool's q, k and positional embedding are skipped and its value and output
  projections run as 1x1 convolutions on the layer4 map: c_proj(v_proj(X)).

The result lives in the image embedding's space, so the cosine of each cell with a sound or text embedding
says how much that region looks like it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SoundClipError

UNSUPPORTED_FIX = "use a ViT or ResNet CLIP as OpenAI released them (ViT-B-32, ViT-B-16, RN50, ...)"


def dense_features(visual: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """CLIP-prepared pixels [B, 3, S, S] -> unnormalised features [B, D, h, w] in the image embedding's space
    (h = w = S / patch for a ViT, S / 32 for a ResNet)."""
    if hasattr(visual, "attnpool"):
        return _resnet(visual, pixels)
    if hasattr(visual, "transformer") and hasattr(visual, "conv1"):
        return _vit(visual, pixels)
    raise SoundClipError(f"no dense map for this CLIP image tower ({type(visual).__name__})", fix=UNSUPPORTED_FIX)


def _resnet(visual: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    x = visual.stem(pixels.to(visual.conv1.weight.dtype))
    for layer in (visual.layer1, visual.layer2, visual.layer3, visual.layer4):
        x = layer(x)
    pool = visual.attnpool
    tokens = x.flatten(2).transpose(1, 2)  # [B, h*w, C]
    features = pool.c_proj(pool.v_proj(tokens))  # the two 1x1 convolutions, as linear maps over channels
    return features.transpose(1, 2).reshape(x.shape[0], -1, *x.shape[2:]).float()


def _vit(visual: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    if getattr(visual, "attn_pool", None) is not None or getattr(visual, "final_ln_after_pool", False) \
            or getattr(visual, "proj", None) is None:
        raise SoundClipError("this ViT pools its tokens in a way MaskCLIP's dense map does not follow",
                             fix=UNSUPPORTED_FIX)
    x = visual.conv1(pixels.to(visual.conv1.weight.dtype))  # [B, width, h, w]
    batch, width, h, w = x.shape
    if visual.positional_embedding.shape[0] != h * w + 1:
        raise SoundClipError(f"the CLIP input gives a {h}x{w} patch grid, its positional embedding "
                             f"{visual.positional_embedding.shape[0] - 1} patches", fix="give CLIP-sized tiles")
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([visual.class_embedding.to(x.dtype).expand(batch, 1, width), x], dim=1)
    x = visual.ln_pre(x + visual.positional_embedding.to(x.dtype))
    blocks = visual.transformer.resblocks
    batch_first = getattr(blocks[0].attn, "batch_first", False)
    x = x if batch_first else x.transpose(0, 1)  # open_clip before 2.26 runs its blocks sequence-first
    for block in blocks[:-1]:
        x = block(x)
    x = x if batch_first else x.transpose(0, 1)
    x = _value_path(blocks[-1], x)
    tokens = visual.ln_post(x[:, 1:]) @ visual.proj  # [B, h*w, D]
    return tokens.transpose(1, 2).reshape(batch, -1, h, w).float()


def _value_path(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The last block with its attention reduced to out_proj(v) (no token mixing), MLP and residuals kept."""
    attn = block.attn
    width = x.shape[-1]
    weight = attn.in_proj_weight[2 * width:] if attn.in_proj_weight is not None else attn.v_proj_weight
    bias = attn.in_proj_bias[2 * width:] if attn.in_proj_bias is not None else None
    v = F.linear(block.ln_1(x), weight, bias)
    x = x + block.ls_1(attn.out_proj(v))
    return x + block.ls_2(block.mlp(block.ln_2(x)))
