"""Instant-mode video: every frame follows its own window of the song through a StyleSpace table, no optimisation.

Two nodes, so the sliders stay quick: Hear Every Frame encodes the song once (ComfyUI keeps its output while its
inputs stay the same); Sound to Instant Video turns what each frame heard into an edit of one source latent and
decodes the frames, so changing alpha, beta, the neutral or pulse/motion re-runs only the edits and the decode.
"""

from __future__ import annotations

from pathlib import Path

from soundclip_core.directions import ChannelTable, load_table
from soundclip_core.embedding import Embedding
from soundclip_core.errors import SoundClipError
from soundclip_core.video import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    DEFAULT_NEUTRAL,
    DEFAULT_SMOOTH,
    DEFAULT_WINDOW,
    InstantSettings,
    hear_frames,
    render_instant_images,
)
from soundclip_core.video.drives import named_alpha
from soundclip_core.video.frames import DECODE_BATCH, MAX_FPS, MIN_FPS, frame_batch_bytes, frame_count
from soundclip_core.video.heard import check_hearing

from . import comfy_env
from .form import Node, choice, link, number, text, whole
from .types import (
    AUDIO_ENCODER,
    CLIP,
    EMBEDDING,
    FRAME_SOUNDS,
    GENERATOR,
    SOUND,
    SOUND_ANALYSIS,
    TABLE,
    VIDEO,
    WPLUS,
    WPlus,
    latent_for,
    noise_for,
    one_sound,
)
from .video import NOISE_MODES


class HearFrames(Node):
    """A song -> what each video frame hears: the window of sound centred on the frame, encoded (all windows in
    batches), smoothed over time so the frames do not flicker."""

    REQUIRED = {
        "audio": link("AUDIO", "The song (one sound)."),
        "encoder": link(AUDIO_ENCODER, "From Load Audio Encoder."),
        "fps": number(24.0, MIN_FPS, MAX_FPS, 1.0, "Frames per second of the video: one window per frame."),
        "window": number(DEFAULT_WINDOW, 0.1, 60.0, 0.1, "Seconds of sound each frame hears, centred on the frame."),
        "smooth": number(DEFAULT_SMOOTH, 0.0, 10.0, 0.05, "Seconds over which the embeddings are smoothed (a "
                                                          "Gaussian's standard deviation): larger is calmer; 0 = "
                                                          "none."),
    }
    OUTPUTS = (("frame_sounds", FRAME_SOUNDS),)
    FUNCTION = "hear"
    CATEGORY = SOUND
    DESCRIPTION = ("Encodes, for every frame of a video of the song, the window of sound centred on that frame, and "
                   "smooths the embeddings over time. Connect it to Sound to Instant Video; it runs again only when "
                   "the song, the encoder, the fps, the window or the smoothing change.")

    def hear(self, audio: dict, encoder, fps: float, window: float, smooth: float):
        song = one_sound(audio, "the song")
        n_frames = frame_count(song.waveform.shape[-1], song.sample_rate, fps)
        progress = comfy_env.Progress(n_frames)
        heard = comfy_env.run_long(lambda: hear_frames(
            encoder, song, fps, window, smooth, callback=lambda done, total: progress(done, total),
            should_cancel=comfy_env.interrupted), encoder)
        return ({"embedding": heard, "fps": float(fps)},)


class InstantVideo(Node):
    """What every frame heard -> per frame a StyleSpace direction and an edit of one source latent -> every
    frame as an IMAGE batch, the song matched to the video's length, and the fps (for core Create Video)."""

    REQUIRED = {
        "frame_sounds": link(FRAME_SOUNDS, "From Hear Every Frame: what each frame of the song hears."),
        "audio": link("AUDIO", "The same song (its loudness and onsets drive pulse and motion; it is the video's "
                               "sound)."),
        "generator": link(GENERATOR, "The generator of the source latent."),
        "latent": link(WPLUS, "The source image every frame edits (one latent)."),
        "clip": link(CLIP, "The CLIP model of the table's space (encodes the neutral text)."),
        "table_file": text("", "A StyleSpace table (.safetensors) of this generator in the encoder's CLIP space, "
                               "made by `soundclip table`: its path, absolute or in models/stylegan2 beside the "
                               "generator. Ignored when a table is connected (Compute StyleSpace Table)."),
        "neutral": text(DEFAULT_NEUTRAL, "What the direction starts from: each frame moves from this text toward "
                                         "its sound. Ignored when a neutral embedding is connected."),
        "alpha": number(DEFAULT_ALPHA, -10.0, 10.0, 0.1, "Edit strength (StyleCLIP: -10..10); 0 = the source."),
        "beta": number(DEFAULT_BETA, 0.0, 1.0, 0.01, "Channels whose relevance is under beta stay still "
                                                     "(StyleCLIP: 0.08-0.3): higher moves fewer channels."),
        "layers": text("", "W+ layers the edit may touch, e.g. 0-6 (as in Style Mix); empty = all the table covers."),
        "pulse": number(0.0, 0.0, 2.0, 0.05, "Loudness pushes the image's features away from the average image; "
                                             "0 = off."),
        "motion": number(0.0, 0.0, 2.0, 0.05, "Onsets move the image along a closed loop in latent space; 0 = off."),
        "noise_mode": choice(NOISE_MODES, "const: the checkpoint's fixed noise (no flicker); none: no noise."),
        "batch_size": whole(DECODE_BATCH, 1, 64, "Frames decoded at once (lower it if memory runs out)."),
        "memory_budget_gb": number(0.0, 0.0, 4096.0, 0.5, "Largest IMAGE batch allowed; 0 = half the free RAM."),
    }
    OPTIONAL = {
        "table": link(TABLE, "A StyleSpace table from another node (used instead of table_file)."),
        "neutral_embedding": link(EMBEDDING, "A neutral embedding (e.g. a quiet room's sound) instead of the text."),
        "alpha_curve": ("FLOAT", {"forceInput": True, "tooltip": "One value per frame (a curve, e.g. the song's "
                                  "loudness from an analysis node): alpha at frame i = alpha x curve[i]."}),
        "analysis": link(SOUND_ANALYSIS, "The song already heard at this fps (Analyze Sound, Semantic Curves), for "
                                         "alpha_curve_name."),
        "alpha_curve_name": text("", "A curve of the connected analysis (e.g. label_rain, loudness, "
                                     "pulse.onset_20-150Hz), normalised to 0-1 over the song: alpha at frame i = "
                                     "alpha x curve[i]. Empty: alpha_curve or a constant alpha."),
    }
    OUTPUTS = (("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT"))
    FUNCTION = "render"
    CATEGORY = VIDEO
    DESCRIPTION = ("Edits one source image, frame by frame, toward what each frame of the song hears: a StyleSpace "
                   "direction per frame (the table, the neutral, beta) applied with strength alpha (or alpha times a "
                   "per-frame curve), with pulse and motion from the song, and no optimisation. Outputs the frames, "
                   "the song cut to the video's length and the fps for core Create Video.")

    def render(self, frame_sounds: dict, audio: dict, generator, latent: WPlus, clip, table_file: str, neutral: str,
               alpha: float, beta: float, layers: str, pulse: float, motion: float, noise_mode: str, batch_size: int,
               memory_budget_gb: float, table: ChannelTable | None = None, neutral_embedding: Embedding | None = None,
               alpha_curve=None, analysis=None, alpha_curve_name: str = ""):
        song, heard, fps = one_sound(audio, "the song"), frame_sounds["embedding"], frame_sounds["fps"]
        values = _alpha(alpha, alpha_curve, analysis, alpha_curve_name.strip(), song, fps, heard.batch_size)
        table = table if table is not None else _load_table(table_file, generator, heard.space)
        start = neutral_embedding if neutral_embedding is not None else clip.encode_text([neutral])
        settings = InstantSettings(fps=fps, alpha=values, beta=beta, layers=layers.strip() or None, pulse=pulse,
                                   motion=motion, batch_size=batch_size, noise_mode=noise_mode)
        budget = int(memory_budget_gb * 1024**3) if memory_budget_gb > 0 else None
        progress = comfy_env.Progress(heard.batch_size)
        images, matched = comfy_env.run_long(lambda: render_instant_images(
            generator, heard, song, latent_for(generator, latent), table, start, settings,
            noise=noise_for(generator, latent), memory_budget=budget, progress=progress,
            should_cancel=comfy_env.interrupted), generator,
            memory_required=lambda: frame_batch_bytes(generator, batch_size))
        return (images, matched.to_comfy(), float(fps))


def _load_table(table_file: str, generator, space: str) -> ChannelTable:
    """A table file by its path: absolute, or relative to the generators' model folder (where tables sit beside
    the generator they were made for)."""
    if not table_file.strip():
        raise SoundClipError("no StyleSpace table: table_file is empty and no table is connected",
                             fix="give the path of a table made by `soundclip table` (or Compute StyleSpace Table), "
                                 "or connect a table")
    path = Path(table_file.strip()).expanduser()
    if not path.is_absolute():
        candidates = [folder / path for folder in comfy_env.model_dirs("stylegan2")]
        path = next((c for c in candidates if c.is_file()), candidates[0])
    return load_table(path, generator, space)


def _alpha(alpha: float, curve, analysis, name: str, song, fps: float, n_frames: int) -> float | list[float]:
    """alpha for every frame: a constant, times a connected FLOAT curve, or times a named curve of the analysis."""
    if not name:
        return alpha if curve is None else _curve(curve, alpha)
    if curve is not None:
        raise SoundClipError("both alpha_curve and alpha_curve_name are given",
                             fix="connect a FLOAT curve or name an analysis curve, not both")
    if analysis is None:
        raise SoundClipError(f"alpha_curve_name '{name}' needs an analysis",
                             fix="connect Analyze Sound (or Semantic Curves) to the analysis input")
    return named_alpha(check_hearing(analysis, song, fps).curves, name, alpha, fps, n_frames)


def _curve(curve, alpha: float) -> float | list[float]:
    """A FLOAT input holding one number per frame (a list, a tuple or a tensor), or one number for every frame,
    times alpha."""
    values = curve.tolist() if hasattr(curve, "tolist") else curve
    try:
        if not isinstance(values, (list, tuple)):
            return alpha * float(values)
        return [alpha * float(v) for v in values]
    except (TypeError, ValueError) as error:
        raise SoundClipError("alpha_curve must be numbers, one per frame",
                             fix="connect a FLOAT list (one value per frame), e.g. an analysis curve") from error
