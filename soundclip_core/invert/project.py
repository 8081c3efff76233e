"""Invert images into a generator's W+ by optimisation, the way NVIDIA's projector does, then refine.

Phase 1 (W, as stylegan2-ada-pytorch's projector.py): one w per image, started at the mean latent,
broadcast to every layer; Adam with a linear lr ramp-up over the first 5 % and a cosine ramp-down
over the last 25 % (the schedule `manipulate` already uses); Gaussian noise on w of scale
0.05 * w_std * (1 - t / 0.75)^2 early on, to escape poor starts; loss = squared distance of
VGG16-LPIPS features (images area-downsampled to 256 px when larger) + a pixel MSE term. Where the
generator has noise inputs and the preset says so, the noise maps are optimised too, with NVIDIA's
regulariser (squared autocorrelation of each map at shifts of one pixel, over a pyramid down to
8 px, weight 1e5) and renormalised to zero mean, unit variance after every step.

Phase 2 (W+): every layer free, with a penalty  closeness * mean_l ||w_l - w_pivot,l||^2 / w_std^2
toward the phase-1 result (or an encoder's estimate), so the latent stays where edits behave.
The result's latent, decoded with its noise maps (or the generator's const noise when none were
optimised), gives back exactly the reconstruction it reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import Cancelled, SoundClipError
from ..manipulate.autograd_ready import make_autograd_ready, ordinary
from ..manipulate.schedule import learning_rate
from ..noise_maps import noise_buffers, synthesize
from ..picture import fit_square
from .presets import PRESETS

UNWEIGHTED_DISTANCE = "VGG distance (unweighted)"
LPIPS_MAX_SIZE = 256  # NVIDIA: "VGG was built for 224x224 images"
W_STD_SAMPLES = 2000
INITIAL_NOISE_FACTOR = 0.05
NOISE_RAMP_LENGTH = 0.75

Callback = Callable[[int, int, "torch.Tensor | None", dict], None]


@dataclass
class Result:
    """w: W+ [B, num_ws, w_dim]; noise: optimised maps [B, 1, H_k, W_k] per layer, or None (const noise);
    reconstruction: the decode of (w, noise) [B, 3, R, R] in [-1, 1]; target: the prepared image."""

    w: torch.Tensor
    noise: list[torch.Tensor] | None
    reconstruction: torch.Tensor
    target: torch.Tensor
    loss_history: torch.Tensor
    lpips: torch.Tensor
    psnr: torch.Tensor
    start_lpips: torch.Tensor
    start_psnr: torch.Tensor
    settings: dict = field(default_factory=dict)

    def report(self) -> str:
        s = self.settings
        noise = "optimised noise" if self.noise is not None else "const noise"
        distance = s.get("distance", "LPIPS")
        return (f"{s.get('steps')} steps ({s.get('preset')}, {s.get('w_steps')} in W then W+, {noise}"
                f"{', e4e start' if s.get('e4e') else ''}): {distance} {self.start_lpips.mean():.4f} -> "
                f"{self.lpips.mean():.4f}, PSNR {self.start_psnr.mean():.2f} -> {self.psnr.mean():.2f} dB")


def w_statistics(generator, samples: int = W_STD_SAMPLES, seed: int = 123) -> float:
    """w_std = sqrt(mean_i ||w_i - w_avg||^2) over mapped random z (NVIDIA's scalar spread of W)."""
    z = torch.randn(samples, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        w = generator.mapping(z.to(generator.w_avg.device))
    return float((w - generator.w_avg).square().sum(-1).mean().sqrt())


def noise_regularization(maps: list[torch.Tensor]) -> torch.Tensor:
    """NVIDIA's noise regulariser per sample [B]: sum over maps and pyramid levels (down to 8 px) of
    the squared mean products of the map with itself shifted by one pixel along x and along y."""
    total = maps[0].new_zeros(maps[0].shape[0])
    for noise in maps:
        while True:
            total = total + (noise * noise.roll(1, dims=3)).mean((1, 2, 3)).square()
            total = total + (noise * noise.roll(1, dims=2)).mean((1, 2, 3)).square()
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, 2)
    return total


def _renormalize(maps: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for noise in maps:
            noise.sub_(noise.mean((1, 2, 3), keepdim=True))
            noise.mul_(noise.square().mean((1, 2, 3), keepdim=True).rsqrt())


def _for_lpips(images: torch.Tensor) -> torch.Tensor:
    if images.shape[-1] > LPIPS_MAX_SIZE:
        return F.interpolate(images, size=(LPIPS_MAX_SIZE, LPIPS_MAX_SIZE), mode="area")
    return images


def psnr(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """PSNR [B] in dB for images in [-1, 1] (peak-to-peak 2, the same as 255 on 8-bit pixels)."""
    mse = (images.float() - reference.float()).square().mean((1, 2, 3))
    return 10 * torch.log10(4.0 / mse.clamp(min=1e-12))


def project(generator, images: torch.Tensor, perceptual, *, preset: str = "fast", steps: int | None = None,
            w_fraction: float | None = None, lr: float | None = None, pixel_weight: float | None = None,
            closeness: float | None = None, optimize_noise: bool | None = None, noise_reg: float | None = None,
            w_start: torch.Tensor | None = None, fit: str = "crop", seed: int = 0, batch_size: int | None = None,
            callback: Callback | None = None, should_cancel: Callable[[], bool] | None = None,
            preview_every: int = 10) -> Result:
    """Invert `images` [B, 3, H, W] in [-1, 1] (any size: fitted to the generator) into W+.

    `perceptual`: a VGG16LPIPS. `w_start` [B|1, num_ws, w_dim] (e.g. an e4e estimate) replaces the
    mean-latent start and the W phase; with steps=0 it is the whole inversion. Preset values are
    overridden by the keyword arguments given. Images are inverted `batch_size` at a time (all at
    once by default). Works when called under torch.inference_mode()."""
    if preset not in PRESETS:
        raise SoundClipError(f"unknown inversion preset '{preset}'", fix=f"use one of {', '.join(PRESETS)}")
    given = dict(steps=steps, w_fraction=w_fraction, lr=lr, pixel_weight=pixel_weight, closeness=closeness,
                 optimize_noise=optimize_noise, noise_reg=noise_reg)
    settings = {**PRESETS[preset], **{k: v for k, v in given.items() if v is not None}, "preset": preset,
                "seed": seed, "e4e": w_start is not None,
                # without LPIPS's learned channel weights the distance is VGG's, and is named so wherever it shows
                "distance": "LPIPS" if getattr(perceptual, "weighted", True) else UNWEIGHTED_DISTANCE}
    if settings["steps"] < 0 or not 0 <= settings["w_fraction"] <= 1:
        raise SoundClipError("steps must be >= 0 and w_fraction in [0, 1]",
                             fix="use 0 steps or more (0: the start latent alone) and a w_fraction from 0 to 1")
    if not noise_buffers(generator):
        settings["optimize_noise"] = False  # e.g. StyleGAN3: no noise inputs
    device = generator.w_avg.device
    with torch.inference_mode(False), torch.enable_grad():
        make_autograd_ready(generator)
        make_autograd_ready(perceptual)
        targets = fit_square(ordinary(images).to(device), generator.resolution, fit)
        if w_start is not None:
            w_start = ordinary(w_start).to(device).float()
            w_start = generator.check_ws(w_start, "start latent", fix="use an encoder made for this generator")
            w_start = w_start.expand(targets.shape[0], -1, -1)
        w_std = w_statistics(generator)
        chunk = batch_size or targets.shape[0]
        parts = [_project_batch(generator, targets[i:i + chunk], perceptual, settings, w_std,
                                None if w_start is None else w_start[i:i + chunk], device, callback, should_cancel,
                                preview_every, (i // chunk, -(-targets.shape[0] // chunk)), i)
                 for i in range(0, targets.shape[0], chunk)]
    noise = None
    if parts[0]["noise"] is not None:
        noise = [torch.cat(maps) for maps in zip(*[p["noise"] for p in parts], strict=True)]
    cat = {k: torch.cat([p[k] for p in parts]) for k in ("w", "reconstruction", "lpips", "psnr", "start_lpips",
                                                          "start_psnr")}
    history = torch.stack([p["loss_history"] for p in parts]).mean(0)
    settings["w_steps"] = parts[0]["w_steps"]
    return Result(cat["w"], noise, cat["reconstruction"], targets.detach(), history, cat["lpips"], cat["psnr"],
                  cat["start_lpips"], cat["start_psnr"], settings)


def _project_batch(generator, targets, perceptual, settings, w_std, w_start, device, callback, should_cancel,
                   preview_every, part, first_index) -> dict:
    b, num_ws = targets.shape[0], generator.num_ws
    # one random stream per image (seed + its index in the batch): results do not depend on batch_size
    streams = [torch.Generator().manual_seed(settings["seed"] + first_index + i) for i in range(b)]
    steps = settings["steps"]
    w_steps = 0 if w_start is not None else round(steps * settings["w_fraction"])
    with torch.no_grad():
        target_small = _for_lpips(targets)
        target_taps = perceptual.taps(target_small)
    noise = None
    if settings["optimize_noise"]:
        noise = [buf.detach().expand(b, -1, -1, -1).clone().requires_grad_(True) for buf in noise_buffers(generator)]

    def losses(ws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample loss [B] (distance + pixel + noise regulariser) and the rendered images."""
        images = synthesize(generator, ws, noise)
        small = _for_lpips(images)
        loss = perceptual.distance_to_taps(small, target_taps)
        if settings["pixel_weight"]:
            loss = loss + settings["pixel_weight"] * (small - target_small).square().mean((1, 2, 3))
        if noise is not None:
            loss = loss + settings["noise_reg"] * noise_regularization(noise)
        return loss, images

    w_avg = generator.w_avg.detach().float()
    start = w_start if w_start is not None else w_avg[None, None].expand(b, num_ws, -1)
    with torch.no_grad():
        start_images = synthesize(generator, start, noise)
        start_lpips = perceptual.distance_to_taps(_for_lpips(start_images), target_taps)
        start_psnr = psnr(start_images, targets)
    history = torch.zeros(steps, device=device)  # read once at the end: no host sync per step
    done = 0

    def step_loop(params: list[torch.Tensor], count: int, lr0: float, make_ws, extra) -> None:
        nonlocal done
        optimizer = torch.optim.Adam(params + (noise or []), betas=(0.9, 0.999), lr=lr0)
        for i in range(count):
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"inversion cancelled at step {done} of {steps}")
            t = i / count
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(t, lr0)
            ws = make_ws(t)
            loss, images = losses(ws)
            loss = loss + extra(ws)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            if noise is not None:
                _renormalize(noise)
            history[done] = loss.detach().mean()
            done += 1
            if callback is not None:
                total = steps * part[1]
                preview = images.detach() if done % preview_every == 0 or done == steps else None
                callback(part[0] * steps + done, total, preview, {"loss": history[done - 1]})

    pivot = start
    if w_steps:
        w_opt = w_avg[None, None].repeat(b, 1, 1).requires_grad_(True)
        noise_scale = w_std * INITIAL_NOISE_FACTOR
        # every step's draw made up front, in the same order as one step at a time, and moved to the device
        # once (a copy per step would be a host sync per step): w_steps x B x w_dim numbers, a few MB at most
        draws = torch.stack([torch.stack([torch.randn(1, generator.w_dim, generator=s) for s in streams])
                             for _ in range(w_steps)]).to(device)
        drawn = iter(draws)

        def w_space(t: float) -> torch.Tensor:
            scale = noise_scale * max(0.0, 1.0 - t / NOISE_RAMP_LENGTH) ** 2
            return (w_opt + next(drawn) * scale).expand(-1, num_ws, -1)

        step_loop([w_opt], w_steps, settings["lr"], w_space, lambda ws: 0.0)
        pivot = w_opt.detach().expand(-1, num_ws, -1)
    w_plus = pivot.clone().requires_grad_(True)
    if steps - w_steps:
        def closeness(ws: torch.Tensor) -> torch.Tensor:
            return settings["closeness"] * (ws - pivot).square().sum(-1).mean(-1) / w_std ** 2

        step_loop([w_plus], steps - w_steps, settings["lr_plus"], lambda t: w_plus, closeness)
    with torch.no_grad():
        w = w_plus.detach()
        noise = None if noise is None else [n.detach() for n in noise]
        reconstruction = synthesize(generator, w, noise)
        lpips = perceptual.distance_to_taps(_for_lpips(reconstruction), target_taps)
        final_psnr = psnr(reconstruction, targets)
    return dict(w=w, noise=noise, reconstruction=reconstruction, lpips=lpips.cpu(), psnr=final_psnr.cpu(),
                start_lpips=start_lpips.cpu(), start_psnr=start_psnr.cpu(), loss_history=history.cpu(), w_steps=w_steps)

