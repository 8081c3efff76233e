"""Hearing the music as curves: analyse a song (with stems per role), add semantic curves, shape any curve
into what other nodes take (a FLOAT list, a schedule string, MASK and IMAGE batches), and plot them."""

from __future__ import annotations

import numpy as np
import torch

from soundclip_core.analysis import FORMATS, Envelope, curve_frames, hear, to_schedule
from soundclip_core.analysis.analyze import open_tempo_range
from soundclip_core.analysis.envelope import NORMALISE
from soundclip_core.analysis.hearing import Hearing, add_semantic, parse_bands
from soundclip_core.timing import MAX_FPS, MIN_FPS
from soundclip_core.video import DEFAULT_HOP, DEFAULT_WINDOW, cut_windows

from . import comfy_env
from .form import Node, choice, link, number, text, toggle, whole
from .types import ANALYSIS, AUDIO_ENCODER, CLIP, EMBEDDING, SOUND_ANALYSIS, one_sound

DEFAULT_BANDS_TEXT = "20-150, 150-2000, 2000-11025"
ROLE_TIPS = {
    "meaning": "what is heard (e.g. a vocals stem); its curves come as meaning.<name>",
    "pulse": "the loudness that pushes the image (e.g. a bass stem); its curves come as pulse.<name>",
    "motion": "the onsets that move the image (e.g. a drums stem); its curves come as motion.<name>",
    "beat": "where the beats, bars and sections are heard (e.g. a drums stem); its curves come as beat.<name>",
}


class AnalyzeSound(Node):
    """AUDIO (+ a stem per role) -> every curve of the song at the video's frame rate, analysed once per sound
    and settings (a change of frame rate or of a later node's slider does not hear the song again)."""

    REQUIRED = {
        "audio": link("AUDIO", "The song (one sound; its curves keep their plain names)."),
        "fps": number(24.0, MIN_FPS, MAX_FPS, 1.0, "Frames per second: every curve has one value per frame."),
        "bands": text(DEFAULT_BANDS_TEXT, "Frequency bands (low-high Hz, comma-separated) for band levels and onsets: "
                                          "curves level_<band> and onset_<band>, e.g. onset_20-150Hz for the kick."),
        "min_bpm": number(0.0, 0.0, 400.0, 1.0, "Slowest tempo allowed: a song read at half its tempo is moved up "
                                                "by octaves. 0 = no lower limit."),
        "max_bpm": number(0.0, 0.0, 400.0, 1.0, "Fastest tempo allowed: a song read at double its tempo is moved "
                                                "down by octaves. 0 = no upper limit."),
        "sections": whole(0, 0, 64, "Exactly this many sections; 0 = as many as the music has."),
    }
    OPTIONAL = {role: link("AUDIO", f"A stem for the {role} role: {tip}. Resampled to the song's rate; up to 0.5 s "
                                    f"longer or shorter is trimmed or padded, more is refused.")
                for role, tip in ROLE_TIPS.items()}
    OUTPUTS = (("analysis", SOUND_ANALYSIS), ("report", "STRING"))
    FUNCTION = "analyze"
    CATEGORY = ANALYSIS
    DESCRIPTION = ("Hears a song once: loudness, onsets, centroid, chroma, band levels and onsets per frame, beats, "
                   "tempo, bars and sections; each role (meaning, pulse, motion, beat) may come from its own stem. "
                   "The report lists the curve names for Sound Curve.")

    def analyze(self, audio: dict, fps: float, bands: str, min_bpm: float, max_bpm: float, sections: int,
                meaning=None, pulse=None, motion=None, beat=None):
        stems = {role: one_sound(sound, f"the {role} stem", allow_silence=True) for role, sound in
                 (("meaning", meaning), ("pulse", pulse), ("motion", motion), ("beat", beat)) if sound is not None}
        tempo_range = open_tempo_range(min_bpm, max_bpm) if min_bpm > 0 or max_bpm > 0 else None
        heard = hear(one_sound(audio, "the song", allow_silence=True), fps, stems=stems, bands=parse_bands(bands),
                     section_count=sections or None, tempo_range=tempo_range)
        return heard, heard.report()


class SemanticCurves(Node):
    """analysis + the sound + encoder + CLIP + labels -> the analysis with label_<label> (zero-shot probability)
    and similarity_<name> curves added, heard in the same windows as Sound to Keyframes."""

    REQUIRED = {
        "analysis": link(SOUND_ANALYSIS, "From Analyze Sound."),
        "audio": link("AUDIO", "The sound whose meaning is heard: the analysed song, or a stem of it."),
        "encoder": link(AUDIO_ENCODER, "From Load Audio Encoder."),
        "clip": link(CLIP, "The CLIP model of the encoder's space (it encodes the labels)."),
        "labels": text("rain\napplause\nviolin", "One label per line (or comma-separated): each becomes a curve "
                                                 "label_<label>, its zero-shot probability per frame.", multiline=True),
        "template": text("{}", "Prompt with {} for the label; several separated by '|' are averaged."),
        "window": number(DEFAULT_WINDOW, 0.1, 60.0, 0.1, "Seconds of sound per window (as Sound to Keyframes)."),
        "hop": number(DEFAULT_HOP, 0.1, 60.0, 0.1, "Seconds between windows (as Sound to Keyframes)."),
    }
    OPTIONAL = {
        "embedding": link(EMBEDDING, "A text or sound embedding: its cosine similarity per frame becomes the curve "
                                     "similarity_target (similarity_target_<i> for a batch)."),
    }
    OUTPUTS = (("analysis", SOUND_ANALYSIS), ("report", "STRING"))
    FUNCTION = "add"
    CATEGORY = ANALYSIS
    DESCRIPTION = ("The curves only soundclip has: per frame, how likely each of your labels is (zero-shot: what "
                   "Zero-shot Classify says for each window) and how close the sound is to any embedding. Values "
                   "between window centres are interpolated.")

    def add(self, analysis: Hearing, audio: dict, encoder, clip, labels: str, template: str, window: float,
            hop: float, embedding=None):
        sound = one_sound(audio, "the sound", allow_silence=True)
        names = [part.strip() for line in labels.splitlines() for part in line.split(",") if part.strip()]
        templates = [t.strip() for t in template.split("|") if t.strip()]
        targets = {"target": embedding} if embedding is not None else {}
        spans = cut_windows(sound, window, hop).spans
        progress = comfy_env.Progress(len(spans))
        heard = comfy_env.run_long(lambda: add_semantic(analysis, encoder, sound, spans, clip=clip, labels=names,
                                                        targets=targets, templates=templates, progress=progress,
                                                        should_cancel=comfy_env.interrupted), encoder, clip)
        added = [name for name in heard.curves if name not in analysis.curves]
        return heard, f"{len(spans)} windows; curves added: {', '.join(added)}"


class SoundCurve(Node):
    """analysis + a curve's name + its shaping -> the curve as a FLOAT list, a schedule string, MASK and IMAGE
    batches (one per frame), and its value at one frame."""

    REQUIRED = {
        "analysis": link(SOUND_ANALYSIS, "From Analyze Sound or Semantic Curves."),
        "curve": text("onset_20-150Hz", "The curve's name (Analyze Sound's report lists them): loudness, "
                                        "loudness_db, onset, centroid, chroma_C..chroma_B, level_<band>, "
                                        "onset_<band>, <role>.<name>, label_<label>, similarity_<name>."),
        "normalise": choice(NORMALISE, "song: scaled to 0-1 over the whole song; window: over a moving window; "
                                       "none: as it is."),
        "window": number(10.0, 0.1, 600.0, 0.5, "Seconds of the moving window (normalise = window)."),
        "threshold": number(0.0, 0.0, 1.0, 0.01, "At or under this (after normalising) the curve is 0."),
        "ceiling": number(1.0, 0.01, 1.0, 0.01, "At or over this the curve is 1; linear between."),
        "attack": number(0.0, 0.0, 10.0, 0.01, "Seconds to rise toward a higher value (0 = at once)."),
        "hold": number(0.0, 0.0, 10.0, 0.01, "Seconds a peak is held before it falls."),
        "release": number(0.0, 0.0, 10.0, 0.01, "Seconds to fall toward a lower value (0 = at once)."),
        "smoothing": number(0.0, 0.0, 10.0, 0.01, "Gaussian smoothing, its standard deviation in seconds."),
        "gamma": number(1.0, 0.05, 10.0, 0.05, "Under 1 lifts quiet parts; over 1 keeps only the peaks."),
        "invert": toggle(False, "1 - the curve: loud parts low."),
        "schedule_format": choice(FORMATS, "keyframes: 0:(0.5000) for FizzNodes / Deforum-style value schedules; "
                                           "animatediff: 0=0.5000; json: \"0\": 0.5000."),
        "frame": whole(0, 0, 10_000_000, "The frame whose value comes out as `value` (past the end: the last)."),
    }
    OUTPUTS = (("floats", "FLOAT"), ("FLOATS", "FLOATS"), ("schedule", "STRING"), ("mask", "MASK"),
               ("image", "IMAGE"), ("value", "FLOAT"), ("frame_count", "INT"))
    OUTPUT_TOOLTIPS = (
        "One value per frame as a Python list on a FLOAT socket (as RyanOnTheInside's FeatureToFloat and "
        "AnimateDiff's multival inputs take it; KJNodes' FloatToMask reads it too).",
        "The same list as ComfyUI's FLOATS type (AnimateDiff-Evolved, ComfyUI's hooks).",
        "The curve as keyframes in the chosen schedule format (frames on a straight line left out).",
        "One 64x64 mask per frame, filled with the frame's value (0-1); smaller past about 11 minutes at 24 fps, so "
        "that the batch stays under 256 MB.",
        "One 64x64 image per frame (smaller for long songs, as the mask): a bar as high as the frame's value.",
        "The value at `frame`.",
        "How many frames the curve has.",
    )
    FUNCTION = "shape"
    CATEGORY = ANALYSIS
    DESCRIPTION = ("Any curve of the analysis, shaped (normalise, threshold/ceiling, attack/hold/release, smoothing, "
                   "gamma, invert), out as a FLOAT list, a schedule string, mask and image batches, and one value.")

    def shape(self, analysis: Hearing, curve: str, normalise: str, window: float, threshold: float, ceiling: float,
              attack: float, hold: float, release: float, smoothing: float, gamma: float, invert: bool,
              schedule_format: str, frame: int):
        envelope = Envelope(normalise=normalise, window=window, threshold=threshold, ceiling=ceiling, attack=attack,
                            hold=hold, release=release, smoothing=smoothing, gamma=gamma, invert=invert)
        values = envelope.apply(analysis.curve(curve), analysis.fps)
        mask, image = curve_frames(values)
        floats = [float(v) for v in values]
        return (floats, floats, to_schedule(values, schedule_format), torch.from_numpy(mask),
                torch.from_numpy(image), floats[min(frame, len(floats) - 1)], len(floats))


class PlotSoundCurves(Node):
    """analysis -> an IMAGE of curves against time, with section starts and beats marked."""

    REQUIRED = {
        "analysis": link(SOUND_ANALYSIS, "From Analyze Sound or Semantic Curves."),
        "curves": text("", "Curve names, comma-separated; empty: loudness, onset, each band's onset and every "
                           "semantic curve."),
        "width": whole(1024, 256, 4096, "Width of the plot in pixels."),
        "lane_height": whole(80, 20, 400, "Height of each curve's lane in pixels."),
    }
    OUTPUTS = (("image", "IMAGE"),)
    FUNCTION = "plot"
    CATEGORY = ANALYSIS
    DESCRIPTION = ("Draws the curves against time (each in its own lane, scaled to its range), section starts as "
                   "lines and beats as ticks (downbeats longer): look at what the song does before wiring it.")

    def plot(self, analysis: Hearing, curves: str, width: int, lane_height: int):
        picture = analysis.plot([n.strip() for n in curves.split(",") if n.strip()], width, lane_height)
        return (torch.from_numpy(np.ascontiguousarray(picture, np.float32) / 255)[None],)
