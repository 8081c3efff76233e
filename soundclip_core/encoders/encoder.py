"""`AudioEncoder`: a frontend, a network and the CLIP space its embeddings live in."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .. import runtime
from ..audio import Audio
from ..checkpoints import check_shapes, module_shapes, read_state_dict, require_keys
from ..embedding import Embedding
from ..errors import CheckpointError, SoundClipError
from ..optional import require
from .frontends import waveform_windows
from .imagebind import AUDIO_PREFIXES, AUDIO_SIZE_KEYS, ImageBindAudio, imagebind_inputs, imagebind_modalities
from .inference import inference_twin, place_constants
from .registry import (
    ENCODER_KINDS,
    SIDECAR_FIX,
    checkpoint_metadata,
    checkpoint_space,
    encoder_config,
    frontend_config,
    network_config,
)
from .soundclip import SoundCLIPNet, soundclip_inputs
from .swin import BIAS_TABLE, SwinAudioNet, check_window
from .wav2clip import Wav2CLIPNet

LONG_CLIP_POLICIES = ("average", "window")
WINDOWS_PER_PASS = 8  # bounds activation memory on long clips (AudioCLIP: 8 windows of 5 s peak at ~0.2 GB)
# kind -> (network class, waveform-to-inputs function, the (prefix-stripped) key whose rows are the embedding size)
IMPLEMENTATIONS = {
    "soundclip": (SoundCLIPNet, soundclip_inputs, "feature_extractor.fc.weight"),
    "wav2clip": (Wav2CLIPNet, waveform_windows, "audio_transform.sequential.3.weight"),
    "audioclip": (None, waveform_windows, "fc.weight"),  # imported on first use
    "swin": (SwinAudioNet, soundclip_inputs, "proj.weight"),
    "imagebind": (ImageBindAudio, imagebind_inputs, "modality_heads.audio.2.weight"),
}
ENCODER_FIX = "use a released encoder file, e.g. resnet18_57.pth (`soundclip weights download soundclip-resnet18`)"
IGNORED_KEYS = ("audio_encoder.spectrogram.window",)  # constants recomputed at run time


def _network(kind: str, embed_dim: int, settings: dict | None = None) -> nn.Module:
    """The kind's network; `settings` replace its `network` settings (a trained Swin's sidecar)."""
    network = IMPLEMENTATIONS[kind][0]
    if network is None:  # AudioCLIP's head subclasses timm's ResNet, so its module needs timm to import
        require("timm", "the AudioCLIP audio encoder")
        from .audioclip import ESResNeXtFBSP as network
    return network(embed_dim, **(encoder_config(kind).get("network", {}) if settings is None else settings))


class AudioEncoder:
    """Encodes waveforms into an embedding space. Long clips: "average" (mean of evenly spaced
    windows' embeddings, deterministic) or "window" (one window starting at `window_start` s)."""

    def __init__(self, kind: str, net: nn.Module, space: str, source: str, config: dict):
        self.kind, self.net, self.space, self.source, self.config = kind, net, space, source, config
        self._twin: nn.Module | None = None

    @property
    def runner(self) -> nn.Module:
        """The network that encodes: `net` with batch norms folded (built on first use, follows `net`'s device)."""
        if self._twin is None or next(self._twin.parameters()).device != self.device:
            self._twin = inference_twin(self.net)
        return self._twin

    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    @property
    def window_seconds(self) -> float:
        frames = self.config.get("frames")
        return frames * self.config["hop_length"] / self.sample_rate if frames else self.config["window_seconds"]

    @property
    def dim(self) -> int:
        return int(self.net.embed_dim)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, *args, **kwargs) -> AudioEncoder:
        """Move (or cast) the network and its inference twin, as `nn.Module.to` takes it; the twin is told
        (`place_constants`), so what it made for its former place (CPU packs) is dropped."""
        self.net.to(*args, **kwargs)
        if self._twin is not None:
            place_constants(self._twin.to(*args, **kwargs))
        return self

    def encode(self, audio: Audio | Sequence[Audio], *, long_clip: str = "average",
               window_start: float = 0.0) -> Embedding:
        """One sound or a list of them -> Embedding [K, dim], one row per sound. The sounds were checked where
        they were made (`Audio`); the encoder only refuses silence, which says nothing about an image."""
        clips = [audio] if isinstance(audio, Audio) else audio
        if not isinstance(clips, Sequence) or not all(isinstance(c, Audio) for c in clips):
            raise SoundClipError(f"encode takes an Audio or a list of them, got {type(audio).__name__}",
                                 fix="wrap samples as soundclip_core.audio.Audio(waveform [C, T], sample_rate)")
        if not clips:
            raise SoundClipError("no sounds to encode", fix="give at least one sound")
        inputs = [self.prepare(clip.require_sound(), long_clip=long_clip, window_start=window_start)
                  for clip in clips]
        source = ", ".join(f"{self.kind}: {clip.source}" if clip.source else self.kind for clip in clips)
        return Embedding(self.embed_inputs(inputs), self.space, source)

    def prepare(self, audio: Audio, *, long_clip: str = "average", window_start: float = 0.0) -> torch.Tensor:
        """One clip -> the network's inputs for its windows [N_windows, ...] on the CPU: mono,
        resampled to the encoder's rate, through the kind's frontend. Separate from `embed_inputs` so that
        many clips can be prepared ahead (in threads) and batched through the network."""
        if long_clip not in LONG_CLIP_POLICIES:
            raise SoundClipError(f"long_clip must be one of {LONG_CLIP_POLICIES}", fix="use 'average' (the default)")
        audio = audio.mono().resample(self.sample_rate)
        return IMPLEMENTATIONS[self.kind][1](audio.waveform[0], self.config, long_clip, window_start)

    def embed_inputs(self, inputs: Sequence[torch.Tensor], batch_size: int | None = None) -> torch.Tensor:
        """Prepared inputs of K clips -> unit vectors [K, dim]: each clip's windows normalised and averaged.

        Windows of equal shape, from any clips, run through the network together, `batch_size` at a time
        (default WINDOWS_PER_PASS); windows of other shapes (raw-audio clips shorter than a window) run in
        their own batches, never padded, so a clip's embedding does not depend on its batch mates."""
        batch_size = batch_size or WINDOWS_PER_PASS
        owners = torch.cat([torch.full((len(x),), i) for i, x in enumerate(inputs)])
        windows = [w for x in inputs for w in x]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, window in enumerate(windows):
            by_shape.setdefault(tuple(window.shape), []).append(index)
        out = torch.empty(len(windows), self.dim)
        with torch.no_grad():
            for indices in by_shape.values():
                for chunk in torch.tensor(indices).split(batch_size):
                    stacked = torch.stack([windows[i] for i in chunk.tolist()]).to(self.device)
                    out[chunk] = nn.functional.normalize(self.runner(stacked).float(), dim=-1).cpu()
        sums = torch.zeros(len(inputs), self.dim).index_add_(0, owners, out)
        return nn.functional.normalize(sums, dim=-1)


def detect_kind(state: dict, path: Path) -> str:
    for kind in ENCODER_KINDS:
        if all(key in state for key in encoder_config(kind)["checkpoint_keys"]):
            return kind
    modalities = imagebind_modalities(state)
    if modalities:
        raise CheckpointError(f"an ImageBind file without the audio modality (it holds {', '.join(modalities)})",
                              path=path, fix="use the full imagebind_huge.pth (`soundclip weights download "
                                             "imagebind-huge`) or a file that kept the modality_*.audio tensors")
    raise CheckpointError("not an audio encoder checkpoint (unknown keys)", path=path,
                          fix=f"use one of the supported encoders: {', '.join(ENCODER_KINDS)}")


def build_audio_encoder(kind: str = "soundclip", *, embed_dim: int | None = None, space: str | None = None,
                        seed: int = 0, device: str | torch.device | None = None) -> AudioEncoder:
    """A randomly initialised encoder of `kind` (tests, selftest)."""
    config = encoder_config(kind)
    torch.manual_seed(seed)
    net = _network(kind, embed_dim or config["embed_dim"]).eval().requires_grad_(False)
    return AudioEncoder(kind, net.to(runtime.pick_device(device)), space or config["space"], "random init", config)


def load_audio_encoder(path: str | os.PathLike, kind: str | None = None, device: str | torch.device | None = None,
                       space: str | None = None) -> AudioEncoder:
    """An encoder from its official checkpoint; `kind` detected from the keys when not given."""
    path = Path(path)
    state = read_state_dict(path, "an audio encoder", ENCODER_FIX)
    state = {k: v for k, v in state.items() if k not in IGNORED_KEYS}
    meta = checkpoint_metadata(path)  # a sidecar written by `soundclip train`: kind, space, front end
    kind = kind or detect_kind(state, path)
    if kind not in ENCODER_KINDS:
        raise CheckpointError(f"unknown encoder kind '{kind}'", path=path, fix=f"use one of {ENCODER_KINDS}")
    if meta.get("kind", kind) != kind:
        raise CheckpointError(f"its metadata says a {meta['kind']} encoder, not {kind}", path=path,
                              fix=f"load it as a {meta['kind']} encoder, or {SIDECAR_FIX}")
    config = frontend_config(kind, path, meta)
    settings = network_config(kind, path, meta, config)
    prefix = config.get("state_prefix", "")  # AudioCLIP: the whole model, audio head under `audio.`
    state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    what, size_key = f"the {kind} encoder", IMPLEMENTATIONS[kind][2]
    if kind == "imagebind":  # one file of six modalities: the audio one, sized from its tensors
        state = {k: v for k, v in state.items() if k.startswith(AUDIO_PREFIXES)}
        require_keys(state, [size_key, *AUDIO_SIZE_KEYS], path, what, ENCODER_FIX)
        settings = {**(settings or encoder_config(kind)["network"]), **ImageBindAudio.sizes_from(state)}
    require_keys(state, [size_key], path, what, ENCODER_FIX)
    embed_dim = int(state[size_key].shape[0])
    if kind == "swin":
        check_window(state, f"swin.{BIAS_TABLE}", settings["window_size"], settings["img_size"], path)
    check_shapes(state, module_shapes(lambda: _network(kind, embed_dim, settings)), path, what, ENCODER_FIX)
    net = _network(kind, embed_dim, settings)
    net.load_state_dict(state)
    net = net.eval().requires_grad_(False).to(runtime.pick_device(device))
    return AudioEncoder(kind, net, space or checkpoint_space(kind, path), str(path), config)
