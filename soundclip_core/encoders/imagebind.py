"""ImageBind's audio modality (Girdhar et al. 2023): Kaldi log-mel clips -> ViT-B -> 1024-d, in OpenCLIP ViT-H's space.

Module names reproduce the `modality_*.audio` part of the released `imagebind_huge.pth`, so its state dict
loads as is: a Conv2d stem (16x16 patches every 10 bins/frames, no bias) with a LayerNorm over the patch tokens,
a CLS token and learned positions, pre-norm blocks whose attention has the extra learned key/value token of
`nn.MultiheadAttention(add_bias_kv=True)`, a LayerNorm -> CLS -> Linear head and the postprocessor that scales
unit vectors by a fixed 20. Drop path is a training-time regulariser and absent here.

Speed (the trunk is ~90% matrix products, those of ImageBind's code): the last block computes the CLS row
alone (the head reads nothing else; keys and values still come from every token), 7% fewer products; a frozen
copy on the CPU runs its linears with oneDNN-prepacked weights, the bias, GELU and residual add fused into them
(`prepacked`); the attention is one fused call with the extra key/value appended.

The front end is ImageBind's `load_and_transform_audio_data`: three 2-second clips at the positions of
pytorchvideo's `ConstantClipsPerVideoSampler`, each through Kaldi's fbank (Hann window, 128 bins), padded with
zeros or cut to 204 frames, then (x + 4.268) / 9.138. The three clip embeddings are averaged by the generic
encoder (normalise each, average, normalise), which is ImageBind's mean of three equally scaled unit vectors.
Two deliberate differences, both before this front end: a stereo sound is averaged to mono (ImageBind's fbank
reads only the first channel, so a sound panned right would be heard as silence), and other rates are resampled
to 16 kHz with soxr, as for every encoder here (ImageBind uses torchaudio's sinc resampler): on mono 16 kHz
input the clips are ImageBind's.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from .kaldi import kaldi_fbank
from .prepacked import Prepacked, linear, prepack

AUDIO = "audio"
AUDIO_PREFIXES = tuple(f"modality_{part}.{AUDIO}." for part in ("preprocessors", "trunks", "heads", "postprocessors"))
# the tensors `ImageBindAudio.sizes_from` reads the trunk's size off
AUDIO_SIZE_KEYS = (f"{AUDIO_PREFIXES[0]}cls_token", f"{AUDIO_PREFIXES[0]}rgbt_stem.proj.weight",
                   f"{AUDIO_PREFIXES[1]}blocks.0.mlp.fc1.weight")


def imagebind_modalities(state: dict) -> list[str]:
    """The modalities an ImageBind-layout state dict holds a trunk for (people strip the 4.8 GB file)."""
    return sorted({key.split(".")[1] for key in state if key.startswith("modality_trunks.")})


def clip_bounds(samples: int, rate: int, seconds: float, clips: int) -> list[tuple[int, int]]:
    """Sample ranges of pytorchvideo's ConstantClipsPerVideoSampler(seconds, clips) on a sound of `samples`:
    starts i * max(D - seconds, 0) / max(clips - 1, 1) in exact fractions (D = samples / rate as a float,
    as ImageBind passes it), cut at int(t * rate). A sound of at most `seconds` gives `clips` copies of itself."""
    duration, length = Fraction(samples / rate), Fraction(seconds)
    step = Fraction(max(duration - length, 0), max(clips - 1, 1))
    return [(int(step * i * rate), int((step * i + length) * rate)) for i in range(clips)]


def imagebind_inputs(mono: torch.Tensor, cfg: dict, long_clip: str, window_start: float) -> torch.Tensor:
    """Mono 16 kHz waveform [T] -> normalised fbank clips [clips, 1, num_mel_bins, target_length].

    "average" takes ImageBind's evenly spaced clips; "window" one clip from `window_start` s. Each clip has
    its mean subtracted in place as ImageBind does (on a view of the sound, so a later overlapping clip sees
    the earlier subtraction). A sound of at most one clip gives ImageBind three copies of itself, whose
    embeddings agree to float rounding (the repeated mean subtraction shifts every frame by a constant that
    Kaldi's per-frame DC removal takes out): it is embedded once, a third of the work for the same average.
    A sound shorter than a clip gives fewer frames, padded with zeros to the target length as ImageBind pads
    them, with a warning that says so; one shorter than a Kaldi frame (25 ms) is zero-padded to one frame
    first (ImageBind's code stops on an assertion there)."""
    rate, seconds, target = int(cfg["sample_rate"]), float(cfg["window_seconds"]), int(cfg["target_length"])
    frame = int(rate * 0.025)
    waveform = F.pad(mono.float(), (0, max(frame - mono.shape[0], 0)))[None].clone()
    if long_clip == "window":
        size = int(seconds * rate)
        first = min(max(int(window_start * rate), 0), max(waveform.shape[1] - size, 0))
        bounds = [(first, first + size)]
    else:
        bounds = clip_bounds(waveform.shape[1], rate, seconds, int(cfg["clips"]))
    if waveform.shape[1] <= int(seconds * rate):  # copies of one clip: ImageBind averages equal embeddings
        bounds = bounds[:1]
    clips = []
    for first, last in bounds:
        clip = waveform[:, first:last]
        clip -= clip.mean()
        clips.append(clip.clone())
    fbank = kaldi_fbank(torch.cat(clips), sample_rate=rate, num_mel_bins=int(cfg["num_mel_bins"]),
                        window="hanning").transpose(1, 2)  # [clips, bins, frames]
    frames = fbank.shape[-1]
    if abs(target - frames) / frames > 0.2:
        warnings.warn(f"ImageBind hears {seconds:g} s clips; this sound is {mono.shape[0] / rate:.2f} s, so its "
                      f"filterbank ({frames} frames) is padded with zeros to {target} frames as ImageBind pads it",
                      stacklevel=2)
    fbank = F.pad(fbank, (0, target - frames)) if frames < target else fbank[..., :target]
    return ((fbank - cfg["mean"]) / cfg["std"])[:, None]


class PatchStem(nn.Module):
    """Conv2d patches (no bias) -> tokens [B, patches, width] (frequency-major) -> LayerNorm."""

    def __init__(self, width: int, kernel: int, stride: int):
        super().__init__()
        self.proj = nn.Conv2d(1, width, kernel, stride=stride, bias=False)
        self.norm_layer = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm_layer(self.proj(x).flatten(2).transpose(1, 2))


class PositionHelper(nn.Module):
    def __init__(self, tokens: int, width: int):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, width))


class AudioPreprocessor(nn.Module):
    """Patch tokens with the CLS token in front, plus the learned positions."""

    def __init__(self, width: int, kernel: int, stride: int, bins: int, frames: int):
        super().__init__()
        self.rgbt_stem = PatchStem(width, kernel, stride)
        patches = ((bins - kernel) // stride + 1) * ((frames - kernel) // stride + 1)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embedding_helper = PositionHelper(patches + 1, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.rgbt_stem(x)
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1)
        return tokens + self.pos_embedding_helper.pos_embed


class BiasKVAttention(nn.Module):
    """`nn.MultiheadAttention(width, heads, add_bias_kv=True)`'s parameters, computed with fused attention:
    the learned `bias_k`/`bias_v` are one more key/value every query attends to. With `queries`, only the
    first that many tokens ask (every token still answers): the last block, whose only output read is CLS."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.bias_k = nn.Parameter(torch.zeros(1, 1, width))
        self.bias_v = nn.Parameter(torch.zeros(1, 1, width))
        self.out_proj = nn.Linear(width, width)
        self.packs: dict[str, Prepacked | None] = {}

    def prepack(self, rows: int, asking_rows: int | None = None) -> None:
        """oneDNN copies of the projections a frozen copy runs on about `rows` token rows (of which
        `asking_rows` ask, where only some do: then the keys/values' projection alone is packed)."""
        width = self.out_proj.weight.shape[0]
        whole = asking_rows is None
        self.packs = {"in": prepack(self.in_proj_weight if whole else self.in_proj_weight[width:], rows),
                      "out": prepack(self.out_proj.weight, rows if whole else asking_rows)}

    def forward(self, x: torch.Tensor, residual: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """`residual` + attention of `x` (the normalised tokens); `residual` has the asking tokens' rows."""
        batch, length, width = x.shape
        if queries is None:
            q, k, v = linear(x, self.in_proj_weight, self.in_proj_bias, self.packs.get("in")).chunk(3, dim=-1)
        else:
            q = F.linear(x[:, :queries], self.in_proj_weight[:width], self.in_proj_bias[:width])
            k, v = linear(x, self.in_proj_weight[width:], self.in_proj_bias[width:], self.packs.get("in")).chunk(2, -1)
        k = torch.cat([k, self.bias_k.expand(batch, 1, width)], dim=1)
        v = torch.cat([v, self.bias_v.expand(batch, 1, width)], dim=1)
        q, k, v = (t.unflatten(-1, (self.heads, width // self.heads)).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, q.shape[2], width)
        return linear(out, self.out_proj.weight, self.out_proj.bias, self.packs.get("out"), residual=residual)


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.packs: dict[str, Prepacked | None] = {}

    def prepack(self, rows: int) -> None:
        self.packs = {name: prepack(getattr(self, name).weight, rows) for name in ("fc1", "fc2")}

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        hidden = linear(x, self.fc1.weight, self.fc1.bias, self.packs.get("fc1"), gelu=True)
        return linear(hidden, self.fc2.weight, self.fc2.bias, self.packs.get("fc2"), residual=residual)


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, exact GELU); with `queries`, the first that many
    tokens' outputs only."""

    def __init__(self, width: int, heads: int, hidden: int):
        super().__init__()
        self.attn = BiasKVAttention(width, heads)
        self.norm_1 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, hidden)
        self.norm_2 = nn.LayerNorm(width, eps=1e-6)

    def prepack(self, rows: int, asking_rows: int | None = None) -> None:
        self.attn.prepack(rows, asking_rows)
        self.mlp.prepack(rows if asking_rows is None else asking_rows)

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        x = self.attn(self.norm_1(x), x if queries is None else x[:, :queries], queries)
        return self.mlp(self.norm_2(x), x)


class Trunk(nn.Module):
    def __init__(self, width: int, heads: int, hidden: int, blocks: int):
        super().__init__()
        self.blocks = nn.Sequential(*(Block(width, heads, hidden) for _ in range(blocks)))


class SelectCls(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


class Normalize(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)


class LogitScale(nn.Module):
    """ImageBind's fixed (non-learnable) scale: exp(log_logit_scale), at most 100, as a buffer."""

    def __init__(self, scale: float = 20.0):
        super().__init__()
        self.register_buffer("log_logit_scale", torch.tensor(math.log(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.log_logit_scale.exp().clamp(max=100.0)


class ImageBindAudio(nn.Module):
    """Fbank clips [N, 1, bins, frames] -> scaled unit vectors [N, embed_dim] (ImageBind's audio output)."""

    def __init__(self, embed_dim: int = 1024, width: int = 768, blocks: int = 12, heads: int = 12,
                 hidden: int = 3072, kernel: int = 16, stride: int = 10, bins: int = 128, frames: int = 204):
        super().__init__()
        self.embed_dim = embed_dim
        self.modality_preprocessors = nn.ModuleDict({AUDIO: AudioPreprocessor(width, kernel, stride, bins, frames)})
        self.modality_trunks = nn.ModuleDict({AUDIO: Trunk(width, heads, hidden, blocks)})
        head = nn.Sequential(nn.LayerNorm(width, eps=1e-6), SelectCls(), nn.Linear(width, embed_dim, bias=False))
        self.modality_heads = nn.ModuleDict({AUDIO: head})
        self.modality_postprocessors = nn.ModuleDict({AUDIO: nn.Sequential(Normalize(), LogitScale())})
        self.pack_when_run = False  # a frozen copy's (`place_constants`): not the checkpoint-shaped network's

    @staticmethod
    def sizes_from(state: dict[str, torch.Tensor]) -> dict[str, int]:
        """The trunk's size read off a state dict (the released file and smaller ones in its layout): width,
        depth, MLP size and patch size from the tensors; heads of 64 channels as ImageBind's (768 / 12)."""
        cls, proj, fc1 = (state[key] for key in AUDIO_SIZE_KEYS)
        width = int(cls.shape[-1])
        blocks = sum(1 for key in state
                     if key.startswith(AUDIO_PREFIXES[1] + "blocks.") and key.endswith(".norm_1.weight"))
        return {"width": width, "blocks": blocks, "heads": max(width // 64, 1), "hidden": int(fc1.shape[0]),
                "kernel": int(proj.shape[-1])}

    def place_constants(self) -> None:
        """Marks a frozen copy to pack its trunk for oneDNN on its first float32 CPU run without autograd (see
        `prepacked`); after a move, the packs made for the weights' former place are dropped. Packing on use keeps
        a copy that only waits on the CPU between GPU runs (ComfyUI's offload device) free of them. Memory: a
        second copy of the trunk's linear weights (0.34 GB at full size), on the CPU only."""
        self.pack_when_run = True
        for block in self.modality_trunks[AUDIO].blocks:
            block.attn.packs, block.mlp.packs = {}, {}

    @torch.no_grad()
    def _prepack(self, clips: int) -> None:
        """Packs sized for `clips` clips at a time; the last block's for its CLS rows alone."""
        self.pack_when_run = False
        tokens = clips * self.modality_preprocessors[AUDIO].pos_embedding_helper.pos_embed.shape[1]
        *body, last = self.modality_trunks[AUDIO].blocks
        for block in body:
            block.prepack(tokens)
        last.prepack(tokens, asking_rows=clips)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pack_when_run and x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled():
            self._prepack(len(x))
        tokens = self.modality_preprocessors[AUDIO](x)
        *body, last = self.modality_trunks[AUDIO].blocks
        for block in body:
            tokens = block(tokens)
        tokens = last(tokens, queries=1)  # the head reads the CLS token alone: the other rows are never needed
        return self.modality_postprocessors[AUDIO](self.modality_heads[AUDIO](tokens))
