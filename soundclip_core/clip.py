"""CLIP through open_clip: text and image embeddings tagged with their space.

Weights come from a local file only: an OpenAI `.pt` (TorchScript archive; its tensors
are read and a fresh open_clip model is built, the archive's program is never run), an
open_clip / OpenAI-layout state dict (`.bin`, `.pt`, `.safetensors`), an AudioCLIP
checkpoint (its vision and text towers) or ImageBind's (its OpenCLIP ViT-H-14 towers). The
architecture is rebuilt from the tensor shapes, so the same loader serves ViT-B-32, RN50,
ViT-H-14 and the tiny self-test model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from . import runtime
from .atomic import atomic_path
from .checkpoints import check_shapes, module_shapes, read_state_dict, sniff
from .embedding import Embedding
from .encoders.imagebind import imagebind_modalities
from .encoders.imagebind_clip import (
    IMAGEBIND_LAYER_NORM_EPS,
    TEXT_HEAD_WIDTH,
    VISION_HEAD_WIDTH,
    imagebind_to_open_clip,
    is_imagebind,
    missing_tower_keys,
)
from .encoders.registry import checkpoint_space
from .errors import CheckpointError, SoundClipError
from .optional import require

if TYPE_CHECKING:
    from open_clip.model import CLIP

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
KNOWN_ARCHS = {"ViT-B-32": 512, "RN50": 1024, "ViT-H-14": 1024}  # arch -> embedding size
TINY_SPACE = "soundclip-selftest/tiny"
VIT_H_SPACE = "openclip/ViT-H-14-laion2b"  # OpenCLIP's ViT-H-14 laion2b weights, also ImageBind's (frozen) towers
CLIP_FIX = "use OpenAI's CLIP .pt, an open_clip state dict or an AudioCLIP file (`soundclip weights download " \
    "clip-vit-b-32` or clip-rn50)"
VIT_H_FIX = "use the full imagebind_huge.pth (`soundclip weights download imagebind-huge`) or open_clip's ViT-H-14 " \
    "laion2b weights (`soundclip weights download clip-vit-h-14-laion2b`)"


@dataclass
class ClipModel:
    """An open_clip model (eval, frozen) with the name of its embedding space."""

    model: CLIP
    space: str
    source: str
    # CLIP's normalisation as (scale, shift) per (device, dtype), made once: building it from Python numbers
    # every render is a host-to-device copy (a sync) in every step of an optimisation
    _normalisation: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    @property
    def dim(self) -> int:
        return int(self.model.text_projection.shape[1])

    @property
    def device(self) -> torch.device:
        return self.model.text_projection.device

    def to(self, *args, **kwargs) -> ClipModel:
        """Move (or cast) the model, as `nn.Module.to` takes it; the normalisation made for the old device goes."""
        self.model.to(*args, **kwargs)
        self._normalisation.clear()
        return self

    def encode_text(self, texts: list[str]) -> Embedding:
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise SoundClipError("text prompts must be non-empty strings",
                                 fix="give a prompt such as 'rain on a window'")
        tokens = require("open_clip", "CLIP text encoding").tokenize(texts).to(self.device)
        with torch.no_grad():
            vectors = self.model.encode_text(tokens).float()
        return Embedding(vectors, self.space, f"text: {' | '.join(texts)}"[:200])

    def prepare_images(self, images: torch.Tensor, mode: str = "area") -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> CLIP input [B, 3, S, S], differentiable.

        "area": exact box-average resize to S, then CLIP's mean/std normalisation.
        "official": the research code's nearest 7x upsample + AvgPool(H // 32), without
        normalisation (a quirk), computed as A @ img @ A^T without the 7x tensor.
        """
        size = self.image_size
        if mode == "official":
            return official_resize(images, size)
        pixels = F.interpolate(images, size=(size, size), mode="area") if images.shape[-1] != size else images
        key = (pixels.device, pixels.dtype)
        if key not in self._normalisation:  # ((pixels + 1) / 2 - mean) / std = pixels * scale + shift
            # made outside inference mode: an inference tensor cached here could never be saved for a backward
            with torch.inference_mode(False):
                mean, std = (torch.tensor(v, dtype=torch.float64)[None, :, None, None] for v in (MEAN, STD))
                device, dtype = key  # cast on the CPU first: MPS has no float64
                self._normalisation[key] = ((0.5 / std).to(dtype).to(device),
                                            ((0.5 - mean) / std).to(dtype).to(device))
        scale, shift = self._normalisation[key]
        return torch.addcmul(shift, pixels, scale)

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] prepared pixels -> unnormalised features [B, D] (float32, differentiable)."""
        return self.model.encode_image(pixels).float()

    def encode_image(self, images: torch.Tensor, mode: str = "area") -> Embedding:
        with torch.no_grad():
            return Embedding(self.image_features(self.prepare_images(images, mode)), self.space, "image")


def official_resize(images: torch.Tensor, size: int = 224) -> torch.Tensor:
    """AvgPool2d(H // 32)(Upsample(scale_factor=7)(images)) for square H, as one matrix product per axis."""
    h = images.shape[-1]
    kernel = h // 32
    if kernel < 1 or (7 * h) // kernel != size:
        raise SoundClipError(f"the official CLIP input path needs images of 32 * k px giving {size}, got {h} px",
                             fix="use clip_input='area'")
    upsampled = torch.arange(size * kernel, device=images.device) // 7  # source row of each used upsampled row
    matrix = torch.zeros(size, h, device=images.device, dtype=images.dtype)
    matrix.index_put_((torch.arange(size * kernel, device=images.device) // kernel, upsampled),
                      torch.full((size * kernel,), 1.0 / kernel, device=images.device, dtype=images.dtype),
                      accumulate=True)
    return matrix @ images @ matrix.t()


def _space_metadata(path: Path) -> str | None:
    if sniff(path) != "safetensors":
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return (f.metadata() or {}).get("space")


def load_clip(arch: str | None = "ViT-B-32", path: str | os.PathLike | None = None,
              device: str | torch.device | None = None) -> ClipModel:
    """CLIP from a local weights file; `arch` names the expected architecture (ViT-B-32, RN50), or None
    to take it from the weights (a ResNet vision tower means RN50, a transformer ViT-B-32)."""
    if path is None:
        raise CheckpointError(f"no weights file given for CLIP {arch or ''}".rstrip(),
                              fix="download it with `soundclip weights download clip-vit-b-32` (or clip-rn50)")
    path = Path(path)
    state = read_state_dict(path, f"a CLIP model{f' ({arch})' if arch else ''}", CLIP_FIX, nested=("state_dict",))
    imagebind = is_imagebind(state)
    if imagebind:
        state, arch = _imagebind_towers(state, arch, path), "ViT-H-14"
    audioclip = any(k.startswith("audio.") for k in state)
    state = {k: v for k, v in state.items() if not k.startswith(("audio.", "logit_scale_a"))}
    for key in ("input_resolution", "context_length", "vocab_size", "attn_mask"):  # attn_mask: open_clip's
        state.pop(key, None)  # non-persistent buffer, which the state of a TorchScript export includes
    has_visual = "visual.conv1.weight" in state or "visual.layer1.0.conv1.weight" in state
    if "text_projection" not in state or not has_visual:
        raise CheckpointError("this is not a CLIP checkpoint (no visual/text towers)", path=path, fix=CLIP_FIX)
    patch14 = "visual.conv1.weight" in state and state["visual.conv1.weight"].shape[-1] == 14
    arch = arch or ("RN50" if "visual.layer1.0.conv1.weight" in state else "ViT-H-14" if patch14 else "ViT-B-32")
    space = VIT_H_SPACE if imagebind else _space_metadata(path)
    dim = int(state["text_projection"].shape[1])
    if space is None:  # not our own export: the weights must be the architecture asked for
        if KNOWN_ARCHS.get(arch) != dim:
            raise CheckpointError(f"these weights have {dim}-d embeddings, not CLIP {arch}'s", path=path,
                                  fix="choose the matching architecture (RN50 for AudioCLIP checkpoints)")
        space = checkpoint_space("audioclip", path) if audioclip else VIT_H_SPACE if arch == "ViT-H-14" \
            else f"openai/{arch}"
    open_clip_model = require("open_clip.model", "CLIP")
    if arch == "ViT-H-14":
        model = _open_clip_vit_h(state, path, IMAGEBIND_LAYER_NORM_EPS if imagebind else None)
    else:
        try:
            model = open_clip_model.build_model_from_openai_state_dict(state, quick_gelu=True,
                                                                       cast_dtype=torch.float32)
        except Exception as error:
            raise CheckpointError(f"CLIP weights do not build a model ({str(error)[:200]})", path=path,
                                  fix=CLIP_FIX) from error
    model = model.float().eval().requires_grad_(False).to(runtime.pick_device(device))
    return ClipModel(model, space, str(path))


def _imagebind_towers(state: dict, arch: str | None, path: Path) -> dict:
    """ImageBind's vision and text towers under open_clip's names, or the error saying what the file lacks."""
    if arch not in (None, "ViT-H-14"):
        raise CheckpointError(f"ImageBind's image and text towers are OpenCLIP ViT-H-14, not {arch}", path=path,
                              fix="choose the ViT-H-14 architecture for this file")
    missing = missing_tower_keys(state)
    if missing:
        raise CheckpointError(f"an ImageBind file without its image and text towers (it holds "
                              f"{', '.join(imagebind_modalities(state)) or 'no trunk'}; missing "
                              f"{', '.join(missing[:3])}{' and more' if len(missing) > 3 else ''})", path=path,
                              fix=VIT_H_FIX)
    return imagebind_to_open_clip(state)


def _open_clip_vit_h(state: dict, path: Path, layer_norm_eps: float | None) -> CLIP:
    """An open_clip ViT-H-14-style CLIP (GELU, vision heads 80 wide, text heads 64 wide) sized from `state`'s
    shapes and loaded with it; `layer_norm_eps` replaces open_clip's LayerNorm eps (ImageBind's 1e-6)."""
    open_clip_model = require("open_clip.model", "CLIP")

    def count(prefix: str) -> int:
        return sum(1 for k in state if k.startswith(prefix) and k.endswith(".ln_1.weight"))

    try:
        vision_width, patch = int(state["visual.conv1.weight"].shape[0]), int(state["visual.conv1.weight"].shape[-1])
        text_width = int(state["ln_final.weight"].shape[0])
        vision = open_clip_model.CLIPVisionCfg(
            layers=count("visual.transformer.resblocks."), width=vision_width, head_width=VISION_HEAD_WIDTH,
            mlp_ratio=state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0] / vision_width,
            patch_size=patch, image_size=patch * round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5))
        text = open_clip_model.CLIPTextCfg(
            context_length=int(state["positional_embedding"].shape[0]),
            vocab_size=int(state["token_embedding.weight"].shape[0]), width=text_width,
            heads=max(text_width // TEXT_HEAD_WIDTH, 1), layers=count("transformer.resblocks."),
            mlp_ratio=state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0] / text_width)
    except (KeyError, IndexError) as error:
        raise CheckpointError(f"not a complete ViT-H-14 CLIP: missing {error}", path=path, fix=VIT_H_FIX) from error

    def build() -> CLIP:
        return open_clip_model.CLIP(int(state["text_projection"].shape[1]), vision, text, quick_gelu=False)

    check_shapes(state, module_shapes(build), path, "a ViT-H-14 CLIP", VIT_H_FIX)
    model = build()
    model.load_state_dict(state)
    for module in model.modules():
        if layer_norm_eps is not None and isinstance(module, torch.nn.LayerNorm):
            module.eps = layer_norm_eps
    return model


def tiny_clip(seed: int = 0, device: str | torch.device | None = None, image_size: int = 32) -> ClipModel:
    """A tiny random CLIP (64-d, 4x4 patches of `image_size` px) for tests and `soundclip selftest`."""
    torch.manual_seed(seed)
    open_clip_model = require("open_clip.model", "CLIP")
    model = open_clip_model.CLIP(
        64, open_clip_model.CLIPVisionCfg(layers=1, width=64, patch_size=image_size // 4, image_size=image_size),
        open_clip_model.CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1),
        quick_gelu=True)
    model = model.float().eval().requires_grad_(False).to(runtime.pick_device(device))
    return ClipModel(model, TINY_SPACE, "tiny random CLIP")


def save_clip(clip: ClipModel, path: str | os.PathLike) -> Path:
    """Save as an OpenAI-layout state dict in .safetensors with the space in the metadata."""
    state = {k: v.detach().cpu().contiguous() for k, v in clip.model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"space": clip.space})
    return Path(path)
