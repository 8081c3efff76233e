"""The sound-guided latent optimisation (Lee et al. 2022, eq. 5), with a per-layer mask.

minimise over w in W+:  d_cos(CLIP(G(w)), a) + lam_ID * L_ID(G(w), G(w_s)) + lam_sim * sum_l g_l ||w_l - w_s,l||^2

The similarity term sums squares (as the official code, for which the paper's lambda
values were tuned). Masks g (rules in mask.py): "learned" (default: learned with w, bounded
so that every layer keeps between half and twice its closeness constraint), "official" (the
official code's adaptive layer masking, step for step), "fixed" (user weights) or "freeze"
(only the listed layers move; the others stay bit-identical to w_s).
A `region` (region.py) adds a term that holds the picture outside a mask at the source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import runtime
from ..embedding import Embedding, check_same_space, combine
from ..errors import Cancelled, SoundClipError
from ..noise_maps import check_noise, synthesize
from .autograd_ready import make_autograd_ready, ordinary
from .layers import parse_layers
from .mask import MASK_MODES, LayerMask
from .presets import PRESETS
from .region import Region
from .schedule import learning_rate

CLIP_INPUTS = ("area", "official")
OFFICIAL_SCALE = math.exp(0.07)  # the research code multiplies the cosine by e^0.07 (quirk)

Callback = Callable[[int, int, "torch.Tensor | None", dict], None]


@dataclass
class Result:
    """w: final W+ [B, num_ws, w_dim] (detached, on the generator's device); mask: final g [num_ws]."""

    w: torch.Tensor
    mask: torch.Tensor
    loss_history: torch.Tensor
    similarity_history: torch.Tensor
    source_similarity: torch.Tensor
    final_similarity: torch.Tensor
    settings: dict = field(default_factory=dict)
    noise: list[torch.Tensor] | None = None  # the source latent's noise maps, unchanged (None: const noise)

    def report(self) -> str:
        mask = ", ".join(f"{v:.2f}" for v in self.mask.tolist())
        return (f"{self.settings.get('steps')} steps ({self.settings.get('preset')}, lam_sim "
                f"{self.settings.get('lam_sim')}, lam_id {self.settings.get('lam_id')}): loss "
                f"{self.loss_history[0]:.4f} -> {self.loss_history[-1]:.4f}; CLIP similarity "
                f"{self.source_similarity.mean():.4f} -> {self.final_similarity.mean():.4f}; mask [{mask}]")


def _target(target: Embedding | Sequence[tuple[Embedding, float]], space: str) -> Embedding:
    target = target if isinstance(target, Embedding) else combine(list(target))
    check_same_space([target], expected=space)
    return target


def _broadcast(w_source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b = max(w_source.shape[0], target.shape[0])
    if {w_source.shape[0], target.shape[0]} - {1, b}:
        raise SoundClipError(f"{w_source.shape[0]} source latents and {target.shape[0]} targets do not pair up",
                             fix="give one of each, or equal numbers, or one of either")
    return w_source.expand(b, -1, -1), target.expand(b, -1)


def optimize(generator, clip, target, w_source: torch.Tensor, *, preset: str = "lsun", steps: int = 300,
             lr: float | None = None, lam_sim: float | None = None, lam_id: float | None = None,
             mask: str = "learned", layers: str | None = None, mask_weights: Sequence[float] | None = None,
             identity=None, clip_input: str = "area", precision: str = "fp32", seed: int = 0,
             noise_mode: str = "const", callback: Callback | None = None,
             should_cancel: Callable[[], bool] | None = None, preview_every: int = 10,
             noise: Sequence[torch.Tensor] | None = None, chunk_size: int | None = None,
             region: Region | None = None) -> Result:
    """Optimise `w_source` [B|1, num_ws, w_dim] toward `target` (an Embedding [B|1, D], or
    [(Embedding, weight), ...] combined). Works when called under torch.inference_mode().

    `noise`: the source latent's own noise maps (from an inversion), held fixed and used for every render.
    `chunk_size` bounds memory for large batches (e.g. one keyframe per window of a song): each step
    renders and back-propagates the batch `chunk_size` rows at a time and sums their gradients before
    the one Adam step, so the result equals the unchunked optimisation (the shared learned mask sees
    the whole batch's gradient). Previews show the first chunk; Cancel is checked before each chunk.
    `region`: where the picture may change (a mask, region.py); outside it the loss holds the source."""
    if preset not in PRESETS:
        raise SoundClipError(f"unknown preset '{preset}'", fix=f"use one of {', '.join(PRESETS)}")
    if mask not in MASK_MODES:
        raise SoundClipError(f"unknown mask '{mask}'", fix=f"use one of {', '.join(MASK_MODES)}")
    if clip_input not in CLIP_INPUTS:
        raise SoundClipError(f"unknown clip_input '{clip_input}'", fix=f"use one of {', '.join(CLIP_INPUTS)}")
    lam_sim = PRESETS[preset]["lam_sim"] if lam_sim is None else float(lam_sim)
    lam_id = PRESETS[preset]["lam_id"] if lam_id is None else float(lam_id)
    if lam_id > 0 and identity is None:
        raise SoundClipError("the identity loss (lam_id > 0) needs an ArcFace model",
                             fix="load model_ir_se50.pth (Load ArcFace / --arcface), or set lam_id to 0")
    if steps < 1:
        raise SoundClipError("steps must be at least 1", fix="use 300 steps as the paper does, or fewer for a preview")
    if chunk_size is not None and chunk_size < 1:
        raise SoundClipError("chunk_size must be at least 1", fix="leave it unset, or give how many rows fit at once")
    lr = 0.1 if lr is None else float(lr)
    num_ws = generator.num_ws
    device = generator.w_avg.device
    settings = dict(preset=preset, steps=steps, lr=lr, lam_sim=lam_sim, lam_id=lam_id, mask=mask, layers=layers,
                    clip_input=clip_input, precision=precision, seed=seed)
    if region is not None:
        settings["region"] = dict(lam_pixels=region.lam_pixels, perceptual=region.perceptual is not None,
                                  lam_perceptual=region.lam_perceptual if region.perceptual is not None else 0.0)
    with torch.inference_mode(False), torch.enable_grad():
        for model in (generator, clip.model, getattr(identity, "model", identity), getattr(region, "perceptual", None)):
            if model is not None:
                make_autograd_ready(model)
        torch.manual_seed(seed)
        goal = _target(target, clip.space)
        generator.check_ws(w_source, "source latent")
        w_src, goal_vectors = _broadcast(ordinary(w_source).to(device).float(), ordinary(goal.vectors).to(device))
        w_src, goal_vectors = w_src.contiguous(), goal_vectors.contiguous()
        noise = check_noise(generator, noise)
        noise = None if noise is None else [ordinary(n).to(device).float() for n in noise]
        scale = OFFICIAL_SCALE if clip_input == "official" else 1.0

        free = torch.ones(num_ws, dtype=torch.bool, device=device)
        if mask == "freeze":
            free.zero_()
            free[parse_layers(layers or f"0-{num_ws - 1}", num_ws)] = True
        layer_mask = LayerMask(mask, num_ws, device, mask_weights)
        w = w_src.clone().requires_grad_(True)
        params = [w, *layer_mask.parameters]
        optimizer = torch.optim.Adam(params, lr=lr)

        def current_w() -> torch.Tensor:
            return torch.where(free[None, :, None], w, w_src) if mask == "freeze" else w

        def render(ws: torch.Tensor, goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with runtime.autocast(device, precision):
                images = synthesize(generator, ws, noise, noise_mode)
                features = clip.image_features(clip.prepare_images(images, mode=clip_input))
            return images, F.cosine_similarity(features.float(), goal, dim=-1)

        batch, shared_source = w_src.shape[0], w_source.shape[0] == 1
        size = batch if chunk_size is None else min(int(chunk_size), batch)
        chunks = [slice(first, first + size) for first in range(0, batch, size)]
        with torch.no_grad():
            rendered = [render(w_src[part], goal_vectors[part]) for part in chunks]
            source_similarity = torch.cat([similarity for _, similarity in rendered])
            # one source for every row (e.g. a song's keyframes): keep its image once, not once per row
            source_images = ([rendered[0][0][:1].clone()] if shared_source else [images for images, _ in rendered]
                             ) if lam_id or region is not None else None
            del rendered
            kept = None if region is None else [
                region.keep(source_images[0 if shared_source else index].float(),
                            ordinary(region.rows(part, len(range(batch)[part]), device)))
                for index, part in enumerate(chunks)]
        losses = torch.zeros(steps, device=device)
        similarities = torch.zeros(steps, device=device)
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step / steps, lr)
            optimizer.zero_grad(set_to_none=True)
            due = callback is not None and ((step + 1) % preview_every == 0 or step + 1 == steps)
            preview = None
            for index, part in enumerate(chunks):
                if should_cancel is not None and should_cancel():
                    raise Cancelled(f"optimisation cancelled at step {step} of {steps}")
                ws = current_w()[part]
                images, similarity = render(ws, goal_vectors[part])
                loss = 1 - similarity * scale
                distances = (ws - w_src[part]).square().sum(-1)  # [rows, num_ws]
                layer_mask.observe(distances.detach())
                if lam_sim:
                    loss = loss + lam_sim * (distances * layer_mask.weights()).sum(-1)
                if lam_id:
                    reference = source_images[0].expand_as(images) if shared_source else source_images[index]
                    loss = loss + lam_id * identity.loss(images, reference)
                if kept is not None:
                    loss = loss + kept[index].loss(images.float())
                # fp16: loss scaled, gradients unscaled after the last chunk's pass (runtime.backward)
                runtime.backward(loss.sum(), precision, params if index == len(chunks) - 1 else ())
                losses[step] += loss.detach().sum() / batch
                similarities[step] += similarity.detach().sum() / batch
                if due and index == 0:
                    preview = images.detach()
            optimizer.step()
            layer_mask.update()
            if callback is not None:
                callback(step + 1, steps, preview, {"loss": losses[step], "similarity": similarities[step]})
        with torch.no_grad():
            final_w = current_w().detach()
            final_similarity = torch.cat([render(final_w[part], goal_vectors[part])[1] for part in chunks])
            final_mask = layer_mask.weights().detach()
    return Result(final_w, final_mask.cpu(), losses.cpu(), similarities.cpu(), source_similarity.cpu(),
                  final_similarity.cpu(), settings, noise)
