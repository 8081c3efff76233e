"""ComfyUI socket types of this pack and the W+ latent that travels between nodes.

Our own types are prefixed so they never collide with ComfyUI's (its CLIP is a text
encoder for diffusion models, not ours). Audio and images use ComfyUI's own AUDIO and
IMAGE types so core LoadAudio / SaveImage / PreviewImage connect directly.
"""

from __future__ import annotations

from typing import TypedDict

import torch

from soundclip_core.audio import Audio
from soundclip_core.errors import SoundClipError
from soundclip_core.noise_maps import check_noise

GENERATOR = "SOUNDCLIP_GENERATOR"
AUDIO_ENCODER = "SOUNDCLIP_AUDIO_ENCODER"
CLIP = "SOUNDCLIP_CLIP"
EMBEDDING = "SOUNDCLIP_EMBEDDING"
WPLUS = "SOUNDCLIP_WPLUS"
ARCFACE = "SOUNDCLIP_ARCFACE"
PERCEPTUAL = "SOUNDCLIP_PERCEPTUAL"
E4E = "SOUNDCLIP_E4E"
FACE = "SOUNDCLIP_FACE"  # list of soundclip_core.faces.FaceInPhoto: one per aligned face, the photo and the quad
# What every frame of a song heard: {"embedding": Embedding [N, D] (one smoothed row per frame), "fps": float}
FRAME_SOUNDS = "SOUNDCLIP_FRAME_SOUNDS"
KEYFRAMES = "SOUNDCLIP_KEYFRAMES"  # soundclip_core.video.Keyframes: W+ [K, num_ws, w_dim] with times in seconds
SOUND_ANALYSIS = "SOUNDCLIP_ANALYSIS"  # soundclip_core.analysis.Hearing: every curve of a song at one fps
TABLE = "SOUNDCLIP_TABLE"  # soundclip_core.directions.ChannelTable: a generator's StyleSpace channel table
DIRECTION = "SOUNDCLIP_DIRECTION"  # soundclip_core.directions.Direction: a target's channel scores
STYLES = "SOUNDCLIP_STYLES"  # Styles below: StyleSpace styles, as Apply Direction edits them
# The pack's menu: one sub-category per stage of a workflow.
LOADERS = "SoundCLIP/loaders"  # model files
SOUND = "SoundCLIP/sound"  # sound in, sound -> embedding
TEXT = "SoundCLIP/embedding"  # text -> embedding, embedding arithmetic
LATENT = "SoundCLIP/latent"  # W+ latents: draw, mix, decode, save and reopen
EDIT = "SoundCLIP/edit"  # the long optimisations: the sound-guided edit, the inversion of a photo
VIDEO = "SoundCLIP/video"
ANALYSIS = "SoundCLIP/analysis"


class _WPlusRequired(TypedDict):

    ws: torch.Tensor  # [B, num_ws, w_dim], float32, CPU
    num_ws: int
    w_dim: int
    generator: str  # the generator's source, for error messages


class WPlus(_WPlusRequired, total=False):
    """A batch of W+ latents and the generator shape they belong to (+ an inversion's noise maps)."""

    noise: list[torch.Tensor]  # per-layer maps [B|1, 1, H_k, W_k], CPU; absent: the generator's const noise


def make_wplus(ws: torch.Tensor, generator_source: str, noise: list[torch.Tensor] | None = None) -> WPlus:
    ws = ws.detach().float().cpu()
    latent = WPlus(ws=ws, num_ws=int(ws.shape[1]), w_dim=int(ws.shape[2]), generator=generator_source)
    if noise:
        latent["noise"] = [n.detach().float().cpu() for n in noise]
    return latent


def noise_for(generator, latent: WPlus) -> list[torch.Tensor] | None:
    """The latent's own noise maps (checked against the generator), or None for the const noise."""
    return check_noise(generator, latent.get("noise"))


def latent_for(generator, latent: WPlus) -> torch.Tensor:
    """The latent's ws on the generator's device, refusing latents made for another generator shape."""
    generator.check_ws(latent["ws"], f"this latent (from {latent['generator']})",
                       fix="connect a latent made with the same generator (same resolution)")
    return latent["ws"].to(generator.w_avg.device)


class _StylesRequired(TypedDict):

    styles: list[torch.Tensor]  # one [B, channels] float32 CPU tensor per style layer of the generator
    generator: str  # the generator's source, for error messages


class Styles(_StylesRequired, total=False):
    """A batch of StyleSpace styles (+ the noise maps of the latent they came from)."""

    noise: list[torch.Tensor]


def make_styles(styles: list[torch.Tensor], generator_source: str, noise: list[torch.Tensor] | None = None) -> Styles:
    out = Styles(styles=[s.detach().float().cpu() for s in styles], generator=generator_source)
    if noise:
        out["noise"] = [n.detach().float().cpu() for n in noise]
    return out


def one_sound(audio: dict, name: str, allow_silence: bool = False) -> Audio:
    """A ComfyUI AUDIO holding one sound -> that sound (`name` says which input in errors); a batch is refused."""
    clips = Audio.from_comfy(audio, name, allow_silence=allow_silence)
    if len(clips) != 1:
        raise SoundClipError(f"expected one sound for {name}, got a batch of {len(clips)}",
                             fix="connect a single AUDIO")
    return clips[0]
