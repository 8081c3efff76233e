"""The music drives the frames: edit strength from a curve, frequency bands to W+ layers, blends of sources.

All three come from the song's analysis (soundclip_core.analysis), per video frame, and become fields of the
frames' `Reactive` (reactive.py has the formulas):

- strength: any analysis curve ("loudness" or its alias "rms", "onset", "centroid", "chroma_A",
  "level_20-150Hz", "onset_20-150Hz" for any band, ...) shaped by an `Envelope` (threshold, ceiling, attack,
  hold, release, smoothing, gamma, invert, normalise: "attack=0.05, release=0.5, gamma=2") gives g(t) in [0, 1]
  and w(t) = source + g(t) (keyframe(t) - source): a loud chorus edits hard, a quiet verse barely at all.
- bands to layers: "20-150Hz:0-3, 5000-16000Hz:10-17@0.5": each pair is a band (Hz) and a W+ layer range (the
  Style Mix syntax, manipulate/layers.py), with an optional "@strength" (else the pulse's or motion's own
  strength). A pulse pair follows its band's onsets (over their song maximum, band_onsets: a band without
  attacks stays still instead of having its faint spill scaled up), with a PULSE_RELEASE s release
  (each hit swells and fades); a motion pair advances its own loop with its band's onsets, followed like the
  whole-song motion (MOTION_FOLLOW s). A band's pulse moves only its layers.
- blend: several source latents (seeds, inverted photos, class labels) weighted per frame by chroma (pitch class
  k feeds source k mod S, so 12 classes share out over S sources, as Lucid Sonic Dreams' classes) or by S named
  curves (normalised over the song), smoothed over `blend_smoothing` s (a Gaussian), then normalised to sum 1
  ("normalise"; a silent frame weighs all sources equally) or through a softmax of SOFTMAX_SHARPNESS x
  ("softmax": the loudest source dominates).

Each role may hear its own audio (stems from any tool): pulse_audio for pulse pairs, motion_audio for motion
pairs, defaulting to the song; the strength and the blend hear the song. Every stem goes through the analysis'
one door for stems (analysis.assign_roles): resampled to the song's rate, padded or trimmed (with a warning)
when it is at most roles.LENGTH_TOLERANCE s off the song's length, else one error naming the role, so a stem
from another cut of the song never drives the frames out of time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np
import torch

from .. import analysis as music
from ..analysis import assign_roles
from ..analysis.envelope import Envelope, smooth
from ..analysis.features import PITCH_CLASSES, band_name, check_bands
from ..analysis.onsets import MIN_RANGE
from ..audio import Audio
from ..errors import SoundClipError
from ..manipulate.layers import parse_layers
from .heard import check_hearing
from .keyframes import Keyframes
from .reactive import MOTION_SEED, LayerDrive, Reactive, build_reactive, loop_directions

PULSE_RELEASE = 0.2  # s: a kick's pulse fades over a fifth of a second
MOTION_FOLLOW = 0.08  # s: the whole-song motion's follower (reactive.py)
SOFTMAX_SHARPNESS = 8.0
BLEND_MODES = ("normalise", "softmax")
ALIASES = {"rms": "loudness", "rms_db": "loudness_db"}
_BAND = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*hz\s*$", re.IGNORECASE)
_BANDED = re.compile(r"^(onset|level)_(.+)$")


@dataclass(frozen=True)
class BandLayers:
    band: tuple[float, float]
    layers: list[int]
    strength: float | None = None


@dataclass(frozen=True)
class MusicFrames:
    """What the music does to the frames (module doc); the defaults do nothing."""

    strength_curve: str = ""
    strength_envelope: str = ""
    pulse_bands: str = ""
    motion_bands: str = ""
    blend_by: str = "chroma"
    blend_smoothing: float = 1.0
    blend_mode: str = "normalise"


def parse_band(text: str) -> tuple[float, float]:
    """'20-150Hz' -> (20.0, 150.0)."""
    found = _BAND.match(text)
    if not found:
        raise SoundClipError(f"bad band {text.strip()!r}", fix="write a band as LOW-HIGHHz, e.g. 20-150Hz")
    return check_bands([(float(found[1]), float(found[2]))])[0]


def parse_band_layers(spec: str, num_ws: int) -> list[BandLayers]:
    """'20-150Hz:0-3, 5000-16000Hz:10-17@0.5' -> one BandLayers per pair; a layer list may hold commas
    ('20-150Hz:0-3,10'): a part without a band continues the pair before it."""
    pairs: list[tuple[str, list[str], str]] = []
    for part in (p.strip() for p in spec.replace(";", ",").split(",")):
        if not part:
            continue
        if ":" in part:
            band, _, rest = part.partition(":")
            pairs.append((band, [], ""))
        elif not pairs:
            raise SoundClipError(f"'{part}' in {spec!r} has no band",
                                 fix="write pairs as BAND:LAYERS, e.g. '20-150Hz:0-3, 5000-16000Hz:10-17'")
        else:
            rest = part
        layers, _, strength = rest.partition("@")
        pairs[-1][1].append(layers)
        if strength:
            pairs[-1] = (pairs[-1][0], pairs[-1][1], strength)
    out = []
    for band, layers, strength in pairs:
        try:
            value = float(strength) if strength else None
        except ValueError:
            raise SoundClipError(f"bad strength '@{strength}' in {spec!r}", fix="write e.g. 20-150Hz:0-3@0.5") \
                from None
        out.append(BandLayers(parse_band(band), parse_layers(",".join(layers), num_ws), value))
    return out


def parse_envelope(spec: str) -> Envelope:
    """'threshold=0.2, attack=0.05, invert=true, normalise=window' -> Envelope (bad values: its own error)."""
    fields = {name: type(value) for name, value in vars(Envelope()).items()}
    values: dict = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, equals, value = (s.strip() for s in part.partition("="))
        if not equals or name not in fields:
            raise SoundClipError(f"bad envelope setting {part!r}",
                                 fix=f"write NAME=VALUE pairs, NAME one of {', '.join(fields)}")
        if fields[name] is bool:
            values[name] = value.lower() in ("1", "true", "yes", "on")
        elif fields[name] is str:
            values[name] = value
        else:
            try:
                values[name] = float(value)
            except ValueError:
                raise SoundClipError(f"envelope {name} must be a number, got {value!r}",
                                     fix=f"e.g. {name}=0.1") from None
    return Envelope(**values)


def curve_band(name: str) -> tuple[float, float] | None:
    """The band a curve name needs from the analysis ('onset_20-150Hz' -> (20, 150)), or None."""
    found = _BANDED.match(ALIASES.get(name, name))
    return parse_band(found[2]) if found else None


def check_music_frames(settings: MusicFrames, num_ws: int) -> tuple[list[BandLayers], list[BandLayers]]:
    """Every setting parsed once, before any analysis or decoding: each mistake is one clear error. Returns
    the (pulse, motion) band pairs."""
    parse_envelope(settings.strength_envelope)
    pairs = parse_band_layers(settings.pulse_bands, num_ws), parse_band_layers(settings.motion_bands, num_ws)
    if settings.strength_curve.strip():
        curve_band(settings.strength_curve.strip())
    if settings.blend_mode not in BLEND_MODES:
        raise SoundClipError(f"unknown blend mode {settings.blend_mode!r}", fix=f"use one of {', '.join(BLEND_MODES)}")
    if not (math.isfinite(settings.blend_smoothing) and settings.blend_smoothing >= 0):
        raise SoundClipError(f"blend smoothing must be 0 or more seconds, got {settings.blend_smoothing}",
                             fix="use e.g. 1.0 (0: none)")
    return pairs


def pick_curve(curves: dict[str, np.ndarray], name: str) -> np.ndarray:
    key = ALIASES.get(name, name)
    if key not in curves:
        raise SoundClipError(f"no curve named {name!r}",
                             fix=f"use one of {', '.join(sorted(curves))} (or rms), or onset_/level_ with any "
                                 "band, e.g. onset_20-150Hz")
    return curves[key]


def fit(curve: np.ndarray, n_frames: int) -> torch.Tensor:
    """A curve cut or padded with zeros to n_frames, float32."""
    out = np.zeros((n_frames, *curve.shape[1:]), np.float32)
    out[:min(n_frames, len(curve))] = curve[:n_frames]
    return torch.from_numpy(out)


def named_alpha(curves: dict[str, np.ndarray], name: str, alpha: float, fps: float, n_frames: int) -> list[float]:
    """The instant mode's alpha per frame following a curve: alpha x the curve `name` of `curves` (an analysis'
    or a hearing's, semantic ones too) normalised to 0-1 over the song (the analysis Envelope's default), so the
    loudest (or likeliest) moment edits with the full alpha."""
    shaped = Envelope().apply(pick_curve(curves, name), fps)
    return (alpha * fit(shaped, n_frames).double()).tolist()


def blend_weights(columns: np.ndarray, fps: float, smoothing: float, mode: str) -> torch.Tensor:
    """Per-frame weights [N, S] summing to 1 from non-negative source curves [N, S] (module doc)."""
    x = torch.from_numpy(np.stack([smooth(c.astype(np.float64), fps, smoothing) for c in columns.T], 1))
    if mode == "softmax":
        return torch.softmax(SOFTMAX_SHARPNESS * x, 1).float()
    total = x.sum(1, keepdim=True)
    uniform = torch.full_like(x, 1 / x.shape[1])
    return torch.where(total > 1e-12, x / total.clamp_min(1e-12), uniform).float()


def blend_columns(curves: dict[str, np.ndarray], by: str, count: int) -> np.ndarray:
    """Source curves [N, S]: chroma classes folded k -> k mod S, or S named curves normalised over the song."""
    if by.strip() == "chroma":
        if count > 12:
            raise SoundClipError(f"{count} sources but 12 pitch classes: chroma cannot reach them all",
                                 fix="blend at most 12 sources by chroma, or name one curve per source")
        chroma = np.stack([curves[f"chroma_{name}"] for name in PITCH_CLASSES], 1)
        return np.stack([chroma[:, i::count].sum(1) for i in range(count)], 1)
    names = [n.strip() for n in by.split(",") if n.strip()]
    if len(names) != count:
        raise SoundClipError(f"{len(names)} blend curves for {count} sources",
                             fix="name one curve per source (comma-separated), or blend by chroma")
    return np.stack([Envelope().apply(pick_curve(curves, n), 1.0) for n in names], 1)


def band_onsets(curve: np.ndarray) -> np.ndarray:
    """A band's onset curve over its song maximum, or over MIN_RANGE when its peaks are lower than that
    (analysis/onsets.py: a band the sound has no attacks in), so faint spill is not scaled up into a pulse."""
    return curve / max(float(curve.max(initial=0.0)), MIN_RANGE)


def song_bands(settings: MusicFrames) -> list:
    """The bands the strength curve and the blend curves need from the song's analysis."""
    names = [settings.strength_curve, *settings.blend_by.split(",")]
    return [band for name in names if (band := curve_band(name.strip())) is not None]


def _analysis(audio: Audio, bands: list, cache: dict):
    """The analysis of `audio` with the default bands and `bands`, made once per sound within one call (or
    taken from `cache`, seeded with one the caller already has, when it holds those bands)."""
    known = cache.get(id(audio))
    if known is None or not set(bands) <= set(known.bands):
        wanted = tuple(dict.fromkeys([*music.DEFAULT_BANDS, *(known.bands if known else ()), *bands]))
        cache[id(audio)] = known = music.analyze(audio, bands=wanted)
    return known


def _role_analysis(role: str, stems, bands: list, cache: dict, hearing):
    """The analysis a role's bands are heard from: its own stem's when one is given here, else the hearing's
    stem for the role (which must hold the bands), else the song's."""
    if stems.own(role) or hearing is None or hearing.analyses[role] is hearing.song:
        return _analysis(stems[role], bands, cache)
    heard = hearing.analyses[role]
    missing = [band_name(band) for band in bands if band not in heard.bands]
    if missing:
        raise SoundClipError(f"the analysis heard its {role} stem without the band(s) {', '.join(missing)}",
                             fix=f"add them to Analyze Sound's bands, or connect the stem to {role}_audio here")
    return heard


def music_reactive(generator, keyframes: Keyframes, audio: Audio, fps: float, n_frames: int, settings: MusicFrames,
                   *, pulse: float = 0.0, motion: float = 0.0, sources: torch.Tensor | None = None,
                   pulse_audio: Audio | None = None, motion_audio: Audio | None = None, analysis=None,
                   hearing=None) -> Reactive:
    """The frames' controls for one song: the whole-song pulse/motion (reactive.py) unless band pairs take them
    over, plus strength, band pairs and blend from `settings` (module doc). `sources` [S, num_ws, w_dim]: the
    latents to blend (None: no blend; one: that latent is the base). `analysis`: the song's, when already made
    (used when it holds the bands needed). `hearing`: the song heard at `fps` (analysis.Hearing, heard.py): its
    song analysis is reused, its curves (semantic ones too) may be the strength or blend curves, and its pulse
    and motion stems drive the bands unless pulse_audio / motion_audio are given."""
    num_ws = generator.num_ws
    pulses, motions = check_music_frames(settings, num_ws)
    strength_name = settings.strength_curve.strip()
    blending = sources is not None
    if (strength_name or blending) and keyframes.source is None:
        raise SoundClipError("these keyframes do not know the latent they were edited from, which a strength "
                             "curve or a blend needs", fix="make the keyframes in the same run (Sound to Keyframes "
                                                           "or `soundclip video`), not from a file")
    if blending:
        generator.check_ws(sources, "the blend's source latents", fix="give latents of this generator")
    stems = assign_roles(audio, pulse=pulse_audio, motion=motion_audio)  # before any analysis
    if hearing is not None:
        check_hearing(hearing, audio, fps)
        analysis = hearing.song if analysis is None else analysis
    reactive = build_reactive(generator, audio, fps, n_frames, 0.0 if pulses else pulse, 0.0 if motions else motion)
    cache: dict = {} if analysis is None else {id(audio): analysis}
    changes: dict = {}
    if strength_name or blending:
        curves = _analysis(audio, song_bands(settings), cache).curves(fps)
        curves = curves if hearing is None else {**curves, **hearing.curves}
        changes["source"] = keyframes.source[0].float()
        if strength_name:
            shaped = parse_envelope(settings.strength_envelope).apply(pick_curve(curves, strength_name), fps)
            changes["strength"] = fit(shaped, n_frames)
        if blending:
            columns = blend_columns(curves, settings.blend_by, sources.shape[0])
            changes["blend"] = blend_weights(fit(columns, n_frames).numpy(), fps, settings.blend_smoothing,
                                             settings.blend_mode)
            changes["sources"] = sources.detach().float().cpu()
    drives = []
    for kind, pairs, default, follow in (("pulse", pulses, pulse, Envelope(normalise="none", release=PULSE_RELEASE)),
                                         ("motion", motions, motion, Envelope(normalise="none", attack=MOTION_FOLLOW,
                                                                              release=MOTION_FOLLOW))):
        if not pairs:
            continue
        curves = _role_analysis(kind, stems, [p.band for p in pairs], cache, hearing).curves(fps)
        for index, pair in enumerate(pairs):
            layers = torch.zeros(num_ws, dtype=torch.bool)
            layers[pair.layers] = True
            curve = fit(follow.apply(band_onsets(curves[f"onset_{band_name(pair.band)}"]), fps), n_frames)
            directions = loop_directions(generator, MOTION_SEED + 1 + index) if kind == "motion" else \
                torch.zeros(2, generator.w_avg.shape[-1])
            drives.append(LayerDrive(kind, curve, layers, default if pair.strength is None else pair.strength,
                                     directions))
    return replace(reactive, drives=tuple(drives), **changes)
