"""`Stylegan3Config`: the shape of a StyleGAN3 (config T or R) generator, as data.

A StyleGAN3 synthesis network is a Fourier-feature input followed by `num_layers + 1` layers
whose sizes, channel counts, up/down factors, filter lengths and paddings all follow from a
schedule of cutoff frequencies (Karras et al. 2021, "Alias-Free GANs"). Loaders read these
per-layer values from the checkpoint rather than recomputing them; `schedule` recomputes them
only to build a fresh random generator (tests, benchmarks). Stored as JSON in our safetensors
export; the FIR filters themselves travel as tensors (buffers `up_filter` / `down_filter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..limits import (
    MAX_CHANNELS,
    MAX_FACTOR,
    MAX_KERNEL,
    MAX_LAYERS,
    MAX_RESOLUTION,
    MAX_TAPS,
    check_count,
    check_number,
    check_total,
)
from ..mapping import MappingConfig

KINDS = ("stylegan3-t", "stylegan3-r")


@dataclass(frozen=True)
class LayerSpec:
    """One synthesis layer `name` (NVIDIA's `L{i}_{size}_{channels}`): a modulated `kernel` x `kernel` conv
    ("full" padding kernel - 1), then the filtered leaky ReLU: up-sample by `up` with an `up_taps` FIR,
    pad/crop by `padding` = [x0, x1, y0, y1], activate, clamp at `clamp`, FIR with `down_taps` taps
    (2-D radial when `down_radial`), keep every `down`-th pixel. ToRGB (`torgb`) is linear, not demodulated."""

    name: str
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    kernel: int
    up: int
    down: int
    up_taps: int
    down_taps: int
    down_radial: bool
    padding: tuple[int, int, int, int]
    torgb: bool
    clamp: float | None

    def __post_init__(self) -> None:
        for name, high in (("in_channels", MAX_CHANNELS), ("out_channels", MAX_CHANNELS), ("kernel", MAX_KERNEL),
                           ("in_size", 2 * MAX_RESOLUTION), ("out_size", 2 * MAX_RESOLUTION), ("up", MAX_FACTOR),
                           ("down", MAX_FACTOR), ("up_taps", MAX_TAPS), ("down_taps", MAX_TAPS)):
            check_count(f"layer {self.name}: {name}", getattr(self, name), high)
        if self.clamp is not None:
            check_number(f"layer {self.name}: clamp", self.clamp)
        object.__setattr__(self, "padding", tuple(int(p) for p in self.padding))
        if len(self.padding) != 4 or any(abs(p) > 2 * MAX_RESOLUTION for p in self.padding):
            raise ValueError(f"layer {self.name}: padding {list(self.padding)[:8]} is not 4 sizes of at most "
                             f"{2 * MAX_RESOLUTION}")
        conv_size = self.in_size + self.kernel - 1
        expected = (conv_size * self.up + self.padding[0] + self.padding[1] - (self.up_taps - 1)
                    - (self.down_taps - 1) + self.down - 1) // self.down
        if expected != self.out_size or self.padding[:2] != self.padding[2:]:
            raise ValueError(f"layer {self.name}: sizes {self.in_size} -> {self.out_size} do not follow from kernel "
                             f"{self.kernel}, up {self.up}, down {self.down}, padding {list(self.padding)}")


@dataclass(frozen=True)
class Stylegan3Config(MappingConfig):
    """resolution: output size; input_*: the Fourier features (channels, square size in pixels, sampling
    rate and bandwidth in cycles per unit); layers: the synthesis layers in execution order (last = ToRGB);
    the mapping network's settings are `MappingConfig`'s (2 layers by default; class labels only as
    NVIDIA's `MappingNetwork.embed`: embedded to embed_dim, normalised, concatenated to z)."""

    label_embeddings: ClassVar[tuple[str, ...]] = ("none", "embed")

    resolution: int
    kind: str = "stylegan3-t"
    mapping_layers: int = field(default=2, kw_only=True)
    img_channels: int = 3
    input_channels: int = 512
    input_size: int = 36
    input_sampling_rate: float = 16.0
    input_bandwidth: float = 2.0
    output_scale: float = 0.25
    layers: list[LayerSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        check_count("resolution", self.resolution, MAX_RESOLUTION, low=4)
        check_count("input_channels", self.input_channels, MAX_CHANNELS)
        check_count("input_size", self.input_size, 2 * MAX_RESOLUTION)
        for name in ("input_sampling_rate", "input_bandwidth", "output_scale"):
            check_number(name, getattr(self, name))
        if not isinstance(self.layers, list | tuple) or len(self.layers) > MAX_LAYERS:
            raise ValueError(f"expected a list of at most {MAX_LAYERS} synthesis layers")
        layers = [spec if isinstance(spec, LayerSpec) else LayerSpec(**spec) for spec in self.layers]
        object.__setattr__(self, "layers", layers)
        if not layers or not layers[-1].torgb or any(spec.torgb for spec in layers[:-1]):
            raise ValueError("a StyleGAN3 synthesis network needs layers ending in exactly one ToRGB layer")
        produced = [(self.input_channels, self.input_size)] + [(s.out_channels, s.out_size) for s in layers[:-1]]
        chained = zip(produced, [(s.in_channels, s.in_size) for s in layers], strict=True)
        if any(out != nxt for out, nxt in chained) or layers[-1].out_size != self.resolution:
            raise ValueError("the layers' channels and sizes do not chain from the input to the image")
        check_total(self.mapping_weights() + self.input_channels ** 2
                    + sum(s.kernel ** 2 * s.in_channels * s.out_channels for s in layers))

    @property
    def num_ws(self) -> int:
        """W+ layers: the input transform, one per layer, ToRGB (16 for the default 14 layers)."""
        return len(self.layers) + 1


def schedule(resolution: int, kind: str = "stylegan3-t", channel_base: int | None = None,
             channel_max: int | None = None, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2.0,
             first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
             conv_clamp: float | None = 256, img_channels: int = 3, **config) -> tuple[Stylegan3Config, list[dict]]:
    """The layer schedule of the paper's configs for a fresh generator, and each layer's filter design
    (dicts of taps, cutoff, half_width, sampling_rate for the up and down filters; see `filters.py`).

    R doubles channel_base/channel_max (65536/1024 at the paper's settings), uses 1x1 convs and radial
    down filters in the non-critically-sampled layers.
    """
    radial = kind == "stylegan3-r"
    channel_base = channel_base or (65536 if radial else 32768)
    channel_max = channel_max or (1024 if radial else 512)
    last_cutoff = resolution / 2
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + 2 * margin_size
    sizes[-2:] = resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    layers, designs = [], []
    for i in range(num_layers + 1):
        prev, torgb = max(i - 1, 0), i == num_layers
        kernel = 1 if torgb or radial else 3
        tmp_rate = max(rates[prev], rates[i]) * (1 if torgb else 2)
        up, down = int(tmp_rate // rates[prev]), int(tmp_rate // rates[i])
        up_taps = 6 * up if up > 1 and not torgb else 1
        down_taps = 6 * down if down > 1 and not torgb else 1
        pad_total = (sizes[i] - 1) * down + 1 - (sizes[prev] + kernel - 1) * up + up_taps + down_taps - 2
        pad_lo = int(pad_total + up) // 2
        pad_hi = int(pad_total) - pad_lo
        layers.append(LayerSpec(
            name=f"L{i}_{int(sizes[i])}_{int(channels[i])}", in_channels=int(channels[prev]),
            out_channels=int(channels[i]), in_size=int(sizes[prev]), out_size=int(sizes[i]), kernel=kernel, up=up,
            down=down, up_taps=up_taps, down_taps=down_taps,
            down_radial=radial and i < num_layers - num_critical, padding=(pad_lo, pad_hi, pad_lo, pad_hi),
            torgb=torgb, clamp=None if conv_clamp is None else float(conv_clamp)))
        designs.append(dict(up=dict(taps=up_taps, cutoff=cutoffs[prev], half_width=half_widths[prev], rate=tmp_rate),
                            down=dict(taps=down_taps, cutoff=cutoffs[i], half_width=half_widths[i], rate=tmp_rate,
                                      radial=layers[-1].down_radial)))
    config = Stylegan3Config(resolution=resolution, kind=kind, img_channels=img_channels,
                             input_channels=int(channels[0]), input_size=int(sizes[0]),
                             input_sampling_rate=float(rates[0]), input_bandwidth=float(cutoffs[0]), layers=layers,
                             **config)
    return config, designs
