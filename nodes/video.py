"""A whole song -> keyframes -> frames: for ComfyUI's own CreateVideo / SaveVideo, or straight to an mp4."""

from __future__ import annotations

from soundclip_core.errors import SoundClipError
from soundclip_core.manipulate import mask_options
from soundclip_core.memory import edit_step_bytes
from soundclip_core.video import (
    CUTS,
    DEFAULT_HOP,
    DEFAULT_WINDOW,
    Keyframes,
    MusicCut,
    MusicFrames,
    cut_windows,
    music_keyframes,
    render_images,
    render_video,
)
from soundclip_core.video.cuts import DEFAULT_TRANSITION
from soundclip_core.video.drives import BLEND_MODES
from soundclip_core.video.frames import DECODE_BATCH, MAX_FPS, MIN_FPS, frame_batch_bytes, frame_count
from soundclip_core.video.heard import check_hearing
from soundclip_core.video.regions import DEFAULT_THRESHOLD, LocatedRegion
from soundclip_core.video.writer import DEFAULT_CRF

from . import comfy_env
from .form import Node, choice, link, number, text, toggle, whole
from .manipulate import LAYERS, LR, MASK, PRECISION, PRESET, SEED, STEPS
from .types import (
    AUDIO_ENCODER,
    CLIP,
    EMBEDDING,
    GENERATOR,
    KEYFRAMES,
    SOUND_ANALYSIS,
    VIDEO,
    WPLUS,
    WPlus,
    latent_for,
    noise_for,
    one_sound,
)

NOISE_MODES = ["const", "none"]  # "random" noise would flicker from frame to frame

# The inputs both frame nodes share: what to render and how.
FRAME_INPUTS = {
    "generator": link(GENERATOR, "The generator the keyframes were made with."),
    "keyframes": link(KEYFRAMES, "From Sound to Keyframes."),
    "audio": link("AUDIO", "The song the keyframes were made from (its loudness and onsets drive pulse and "
                           "motion)."),
    "fps": number(24.0, MIN_FPS, MAX_FPS, 1.0, "Frames per second of the video."),
    "pulse": number(0.0, 0.0, 2.0, 0.05, "Loudness pushes the image's features away from the average image; 0 = off. "
                                         "With pulse_bands: each band's strength (unless it has its own @strength)."),
    "motion": number(0.0, 0.0, 2.0, 0.05, "Onsets move the image along a closed loop in latent space; 0 = off. With "
                                          "motion_bands: each band's strength (unless it has its own @strength)."),
    "noise_mode": choice(NOISE_MODES, "const: the checkpoint's fixed noise (no flicker); none: no noise."),
    "batch_size": whole(DECODE_BATCH, 1, 64, "Frames decoded at once (lower it if memory runs out)."),
}

# What the music does to the frames (soundclip_core/video/drives.py), optional inputs both frame nodes append.
MUSIC_FRAME_INPUTS = {
    "strength_curve": text("", "The edit's strength follows this analysis curve: rms, onset, centroid, chroma_A, "
                               "onset_20-150Hz or level_20-150Hz for any band... Empty: full strength."),
    "strength_envelope": text("", "The curve's shaping as NAME=VALUE pairs: normalise (song|window|none), window, "
                                  "threshold, ceiling, attack, hold, release, smoothing (s), gamma, invert."),
    "pulse_bands": text("", "Band:layers pairs, e.g. '20-150Hz:0-3, 5000-11025Hz:10-17@0.5': each band's onsets "
                            "pulse only its W+ layers with `pulse` (or @strength); replaces the whole-song pulse."),
    "motion_bands": text("", "Band:layers pairs as pulse_bands: each band's onsets move only its layers along their "
                             "own loop, with `motion` (or @strength)."),
    "pulse_audio": link("AUDIO", "A separate sound the pulse bands hear (e.g. a drum stem); default: the song."),
    "motion_audio": link("AUDIO", "A separate sound the motion bands hear; default: the song."),
    "blend_latents": link(WPLUS, "Several source latents (a batch: seeds, inverted photos, class labels) blended "
                                 "per frame by blend_by; the keyframes' edit rides on the blend."),
    "blend_by": text("chroma", "chroma (pitch class k feeds source k mod S) or one curve name per source, "
                               "comma-separated."),
    "blend_smoothing": number(1.0, 0.0, 30.0, 0.1, "Seconds of Gaussian smoothing of the blend weights."),
    "blend_mode": choice(list(BLEND_MODES), "normalise: weights in proportion; softmax: the strongest source "
                                            "dominates."),
    "analysis": link(SOUND_ANALYSIS, "The song already heard (Analyze Sound, Semantic Curves) at this fps: its curves "
                                     "(e.g. label_rain, pulse.onset_20-150Hz) may be the strength or blend curves, "
                                     "its pulse and motion stems drive the bands, and nothing is analysed again."),
}


def _music_frames(generator, strength_curve: str = "", strength_envelope: str = "", pulse_bands: str = "",
                  motion_bands: str = "", pulse_audio=None, motion_audio=None, blend_latents=None,
                  blend_by: str = "chroma", blend_smoothing: float = 1.0, blend_mode: str = "normalise",
                  analysis=None) -> dict:
    """render_images / render_video's `music` and role keywords from the optional inputs (`analysis`: a
    Hearing, drives.music_reactive's `hearing`)."""
    return {"music": MusicFrames(strength_curve, strength_envelope, pulse_bands, motion_bands, blend_by,
                                 blend_smoothing, blend_mode), "hearing": analysis,
            "sources": None if blend_latents is None else latent_for(generator, blend_latents),
            "pulse_audio": None if pulse_audio is None else one_sound(pulse_audio, "the pulse stem"),
            "motion_audio": None if motion_audio is None else one_sound(motion_audio, "the motion stem")}


def _at_once(song, plan: MusicCut, window: float, hop: float, chunk_size: int) -> int:
    """Keyframes optimised at once: the chunk size, or fewer fixed windows (a music cut's count is known only
    after the analysis: the chunk size bounds it)."""
    return min(chunk_size, len(cut_windows(song, window, hop))) if plan.cut == "fixed" else chunk_size


def _frame_progress(song, fps: float) -> comfy_env.Progress:
    return comfy_env.Progress(frame_count(song.waveform.shape[-1], song.sample_rate, fps))


class SoundKeyframes(Node):
    """A song -> one keyframe latent per window, each optimised toward its window's sound (all windows in one
    batched run of the paper's edit, from one source latent; optionally mixed with a text embedding)."""

    REQUIRED = {
        "audio": link("AUDIO", "The song (one sound, up to an hour)."),
        "encoder": link(AUDIO_ENCODER, "From Load Audio Encoder."),
        "clip": link(CLIP, "The CLIP model of the encoder's space."),
        "generator": link(GENERATOR, "The generator of the source latent."),
        "latent": link(WPLUS, "The source every keyframe starts from (one latent)."),
        "window": number(DEFAULT_WINDOW, 0.1, 60.0, 0.1, "Seconds of sound per keyframe."),
        "hop": number(DEFAULT_HOP, 0.1, 60.0, 0.1, "Seconds between keyframes."),
        "preset": PRESET,
        "steps": STEPS,
        "lr": LR,
        "mask": MASK,
        "layers": LAYERS,
        "seed": SEED,
        "chunk_size": whole(8, 1, 256, "Keyframes rendered at once in each step (bounds memory)."),
        "precision": PRECISION,
    }
    OPTIONAL = {
        "text": link(EMBEDDING, "Mixed into every window's sound (e.g. a style prompt)."),
        "text_weight": number(0.5, -2.0, 2.0, 0.05, "Weight of the text against each window's sound."),
        "cut": choice(list(CUTS), "Keyframe windows: fixed (window/hop), or cut on the song's beats, bars or "
                                  "sections (no beats heard: fixed windows, said in the report)."),
        "every": whole(1, 1, 64, "With a cut on beats or bars: a keyframe every N of them."),
        "transition": number(DEFAULT_TRANSITION, 0.0, 10.0, 0.05, "With a music cut: seconds around each boundary "
                                                                   "in which the image turns into the next window's "
                                                                   "(0: glide between window centres)."),
        "section_texts": text("", "One text per song section, separated by ';' (e.g. 'at night; fireworks'), mixed "
                                  "with each window's sound at text_weight; fewer texts than sections cycle.",
                              multiline=True),
        "beat_audio": link("AUDIO", "A separate sound (e.g. a drum stem) whose beats or bars cut the song; default: "
                                    "the song."),
        "analysis": link(SOUND_ANALYSIS, "The song already heard (Analyze Sound, with its stems and tempo range): "
                                         "the cut follows its beats, bars and sections (its beat stem's) instead "
                                         "of analysing again; beat_audio, when connected, still cuts on its own "
                                         "beats."),
        "region_text": text("", "Confine every keyframe's edit to where this text is in the source image (e.g. "
                                "'the sky'), found by CLIP as Where Is the Sound finds it. Empty: no text region."),
        "region_by_sound": toggle(False, "Confine each keyframe's edit to where its own window's sound is in the "
                                         "source image: a mask per keyframe, following the song."),
        "region_threshold": number(DEFAULT_THRESHOLD, 0.0, 1.0, 0.05, "The part of each heatmap's range inside the "
                                                                      "region (as Where Is the Sound's threshold)."),
        "meaning_audio": link("AUDIO", "A separate sound (e.g. a vocals stem) whose windows guide the keyframes "
                                       "instead of the song's; default: the song."),
    }
    OUTPUTS = (("keyframes", KEYFRAMES), ("report", "STRING"))
    FUNCTION = "run"
    CATEGORY = VIDEO
    DESCRIPTION = ("Cuts a song into windows (fixed, or on its beats, bars or sections, with a text per section) "
                   "and edits one keyframe toward each window's sound, all in one batched optimisation from one "
                   "source image. Previews while it runs; Cancel stops it within one step.")

    def run(self, audio: dict, encoder, clip, generator, latent: WPlus, window: float, hop: float, preset: str,
            steps: int, lr: float, mask: str, layers: str, seed: int, chunk_size: int, precision: str, text=None,
            text_weight: float = 0.5, cut: str = "fixed", every: int = 1, transition: float = DEFAULT_TRANSITION,
            section_texts: str = "", beat_audio=None, analysis=None, region_text: str = "",
            region_by_sound: bool = False, region_threshold: float = DEFAULT_THRESHOLD, meaning_audio=None):
        song = one_sound(audio, "the song")
        region = LocatedRegion(region_text, region_by_sound, region_threshold)
        region.check()
        heard = None if analysis is None else check_hearing(analysis, song).rhythm
        source = latent_for(generator, latent)
        if source.shape[0] != 1:
            raise SoundClipError(f"expected one source latent, got {source.shape[0]}", fix="use batch size 1")
        plan = MusicCut(cut, every, transition, section_texts)
        plan.check()
        progress = comfy_env.Progress(steps)
        keyframes, result, notes = comfy_env.run_long(lambda: music_keyframes(
            generator, clip, encoder, song, source, plan, window=window, hop=hop, text=text, text_weight=text_weight,
            beat_audio=None if beat_audio is None else one_sound(beat_audio, "the beat stem"), analysis=heard,
            meaning_audio=None if meaning_audio is None else one_sound(meaning_audio, "the meaning stem"),
            chunk_size=chunk_size, noise=noise_for(generator, latent), preset=preset, steps=steps, lr=lr, mask=mask,
            **mask_options(mask, layers, generator.num_ws), seed=seed, precision=precision, callback=progress,
            should_cancel=comfy_env.interrupted, region=region), encoder, clip, generator,
            memory_required=lambda: edit_step_bytes(generator, _at_once(song, plan, window, hop, chunk_size)))
        times = ", ".join(f"{t:.1f}" for t in keyframes.times.tolist()[:8])
        report = (f"{len(keyframes.times)} keyframes at {times}{' ...' if len(keyframes.times) > 8 else ''} s; "
                  f"{result.report()}")
        return (keyframes, "; ".join([report, *notes]))


class KeyframesToFrames(Node):
    """Keyframes -> every video frame as an IMAGE batch, the song matched to the video's length, and the fps:
    connect all three to core Create Video, then Save Video. Refuses, before decoding, a batch that would not
    fit in memory (use Write Sound Video for long songs)."""

    REQUIRED = {
        **FRAME_INPUTS,
        "memory_budget_gb": number(0.0, 0.0, 4096.0, 0.5, "Largest IMAGE batch allowed; 0 = half the free RAM."),
    }
    OPTIONAL = MUSIC_FRAME_INPUTS
    OUTPUTS = (("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT"))
    FUNCTION = "render"
    CATEGORY = VIDEO
    DESCRIPTION = ("Renders every frame between the keyframes (with pulse and motion from the song) as one IMAGE "
                   "batch, plus the song cut to the video's length and the fps, for core Create Video and Save "
                   "Video. Previews frames while it renders.")

    def render(self, generator, keyframes: Keyframes, audio: dict, fps: float, pulse: float, motion: float,
               noise_mode: str, batch_size: int, memory_budget_gb: float, strength_curve: str = "",
               strength_envelope: str = "", pulse_bands: str = "", motion_bands: str = "", pulse_audio=None,
               motion_audio=None, blend_latents=None, blend_by: str = "chroma", blend_smoothing: float = 1.0,
               blend_mode: str = "normalise", analysis=None):
        song = one_sound(audio, "the song")
        progress = _frame_progress(song, fps)
        budget = int(memory_budget_gb * 1024**3) if memory_budget_gb > 0 else None
        roles = _music_frames(generator, strength_curve, strength_envelope, pulse_bands, motion_bands, pulse_audio,
                              motion_audio, blend_latents, blend_by, blend_smoothing, blend_mode, analysis)
        images, matched = comfy_env.run_long(lambda: render_images(
            generator, keyframes, song, fps, pulse=pulse, motion=motion, batch_size=batch_size, noise_mode=noise_mode,
            memory_budget=budget, progress=progress, should_cancel=comfy_env.interrupted, **roles), generator,
            memory_required=lambda: frame_batch_bytes(generator, batch_size))
        return (images, matched.to_comfy(), float(fps))


class WriteSoundVideo(Node):
    """Keyframes -> an H.264 mp4 with the song in ComfyUI's output folder, frames streamed to the file in
    batches: memory stays flat however long the song."""

    REQUIRED = {
        **FRAME_INPUTS,
        "crf": whole(DEFAULT_CRF, 0, 51, "H.264 quality: lower is better (and larger)."),
        "filename_prefix": text("soundclip/video", "Where in ComfyUI's output folder: a subfolder and a file name "
                                                   "start; a counter is added."),
    }
    OPTIONAL = MUSIC_FRAME_INPUTS
    OUTPUTS = (("path", "STRING"),)
    FUNCTION = "write"
    CATEGORY = VIDEO
    OUTPUT_NODE = True
    DESCRIPTION = ("Writes the video with the song straight into an mp4 in ComfyUI's output folder, streaming "
                   "frames to the file: memory stays flat however long the song. Previews frames while it renders.")

    def write(self, generator, keyframes: Keyframes, audio: dict, fps: float, pulse: float, motion: float,
              noise_mode: str, batch_size: int, crf: int, filename_prefix: str, strength_curve: str = "",
              strength_envelope: str = "", pulse_bands: str = "", motion_bands: str = "", pulse_audio=None,
              motion_audio=None, blend_latents=None, blend_by: str = "chroma", blend_smoothing: float = 1.0,
              blend_mode: str = "normalise", analysis=None):
        song = one_sound(audio, "the song")
        path = comfy_env.output_file(filename_prefix, ".mp4")
        progress = _frame_progress(song, fps)
        roles = _music_frames(generator, strength_curve, strength_envelope, pulse_bands, motion_bands, pulse_audio,
                              motion_audio, blend_latents, blend_by, blend_smoothing, blend_mode, analysis)
        comfy_env.run_long(lambda: render_video(
            path, generator, keyframes, song, fps, pulse=pulse, motion=motion, batch_size=batch_size,
            noise_mode=noise_mode, crf=crf, progress=progress, should_cancel=comfy_env.interrupted, **roles), generator,
            memory_required=lambda: frame_batch_bytes(generator, batch_size))
        return {"ui": {"images": comfy_env.saved_files([path]), "animated": (True,)}, "result": (str(path),)}
