"""W+ layer specs shared by masks and style mixing: "0-8", "0-3,10,12-13" (0-based, inclusive)."""

from __future__ import annotations

from ..errors import SoundClipError


def parse_layers(spec: str, num_ws: int) -> list[int]:
    """Sorted unique layer indices from a spec; every index must be < num_ws."""
    layers: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        try:
            first, _, last = part.partition("-")
            lo, hi = int(first), int(last or first)
        except ValueError:
            raise SoundClipError(f"bad layer range '{part}' in '{spec}'",
                                 fix="write ranges like '0-8' or '0-3,10'") from None
        if not 0 <= lo <= hi < num_ws:
            raise SoundClipError(f"layer range '{part}' is outside 0-{num_ws - 1} (this generator has {num_ws} "
                                 f"W+ layers)", fix=f"use layer numbers from 0 to {num_ws - 1}")
        layers.update(range(lo, hi + 1))
    if not layers:
        raise SoundClipError(f"no layers in '{spec}'", fix="write ranges like '0-8'")
    return sorted(layers)


def default_mix_layers(num_ws: int) -> str:
    """The paper's split (layers 1-9 of 18 from the sound, 10-18 from the text), scaled: the coarse half.

    StyleGAN2: W+ layer i drives conv i (4x4 first), ToRGBs share the next conv's index.
    StyleGAN3 (16 layers): ws[0] sets the input transform (rotation/translation of the Fourier
    features), ws[1 + i] drives layer L_i in order of rising cutoff frequency, ws[15] the ToRGB
    layer; "0-7" is the transform plus L0-L6 (coarse), the rest the fine, high-cutoff layers."""
    return f"0-{num_ws // 2 - 1}"


def parse_layer_weights(text: str, num_ws: int) -> list[float]:
    """One weight per W+ layer from a comma-separated list, e.g. "1,1,0.5,...": exactly num_ws numbers."""
    try:
        weights = [float(v) for v in text.split(",")]
    except ValueError:
        raise SoundClipError(f"bad layer weights '{text}'", fix=f"give {num_ws} comma-separated numbers") from None
    if len(weights) != num_ws:
        raise SoundClipError(f"got {len(weights)} layer weights, this generator has {num_ws} W+ layers",
                             fix=f"give {num_ws} comma-separated numbers")
    return weights


def mask_options(mask: str, layers: str, num_ws: int) -> dict:
    """`optimize`'s mask arguments from the one free-text `layers` field a form offers (the nodes, the video
    keyframes): "freeze" reads it as the layers that may move (empty: all), "fixed" as one weight per layer
    (empty: all ones); other masks ignore it."""
    spec = layers.strip()
    if mask == "freeze":
        return {"layers": spec or None}
    if mask == "fixed" and spec:
        return {"mask_weights": parse_layer_weights(spec, num_ws)}
    return {}
