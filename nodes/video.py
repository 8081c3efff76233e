"""A whole song -> keyframes -> frames: for ComfyUI's own CreateVideo / SaveVideo, or straight to an mp4."""

from __future__ import annotations

from soundclip_core.audio import Audio
from soundclip_core.errors import SoundClipError
from soundclip_core.manipulate import mask_options
from soundclip_core.memory import edit_step_bytes
from soundclip_core.video import (
    DEFAULT_HOP,
    DEFAULT_WINDOW,
    Keyframes,
    cut_windows,
    render_images,
    render_video,
    sound_keyframes,
)
from soundclip_core.video.frames import DECODE_BATCH, MAX_FPS, MIN_FPS, frame_batch_bytes, frame_count
from soundclip_core.video.writer import DEFAULT_CRF

from . import comfy_env
from .form import Node, choice, link, number, text, whole
from .manipulate import LAYERS, LR, MASK, PRECISION, PRESET, SEED, STEPS
from .types import AUDIO_ENCODER, CLIP, EMBEDDING, GENERATOR, KEYFRAMES, VIDEO, WPLUS, WPlus, latent_for, noise_for

NOISE_MODES = ["const", "none"]  # "random" noise would flicker from frame to frame

# The inputs both frame nodes share: what to render and how.
FRAME_INPUTS = {
    "generator": link(GENERATOR, "The generator the keyframes were made with."),
    "keyframes": link(KEYFRAMES, "From Sound to Keyframes."),
    "audio": link("AUDIO", "The song the keyframes were made from (its loudness and onsets drive pulse and "
                           "motion)."),
    "fps": number(24.0, MIN_FPS, MAX_FPS, 1.0, "Frames per second of the video."),
    "pulse": number(0.0, 0.0, 2.0, 0.05, "Loudness pushes the image's features away from the average image; 0 = off."),
    "motion": number(0.0, 0.0, 2.0, 0.05, "Onsets move the image along a closed loop in latent space; 0 = off."),
    "noise_mode": choice(NOISE_MODES, "const: the checkpoint's fixed noise (no flicker); none: no noise."),
    "batch_size": whole(DECODE_BATCH, 1, 64, "Frames decoded at once (lower it if memory runs out)."),
}


def _song(audio: dict):
    clips = Audio.from_comfy(audio, "the song")
    if len(clips) != 1:
        raise SoundClipError(f"expected one song, got a batch of {len(clips)} sounds", fix="connect a single AUDIO")
    return clips[0]


def _window_count(song, window: float, hop: float) -> int:
    return len(cut_windows(song, window, hop).starts)


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
    }
    OUTPUTS = (("keyframes", KEYFRAMES), ("report", "STRING"))
    FUNCTION = "run"
    CATEGORY = VIDEO
    DESCRIPTION = ("Cuts a song into windows and edits one keyframe toward each window's sound, all in one batched "
                   "optimisation from one source image. Previews while it runs; Cancel stops it within one step.")

    def run(self, audio: dict, encoder, clip, generator, latent: WPlus, window: float, hop: float, preset: str,
            steps: int, lr: float, mask: str, layers: str, seed: int, chunk_size: int, precision: str, text=None,
            text_weight: float = 0.5):
        song = _song(audio)
        source = latent_for(generator, latent)
        if source.shape[0] != 1:
            raise SoundClipError(f"expected one source latent, got {source.shape[0]}", fix="use batch size 1")
        progress = comfy_env.Progress(steps)
        keyframes, result = comfy_env.run_long(lambda: sound_keyframes(
            generator, clip, encoder, song, source, window=window, hop=hop, text=text, text_weight=text_weight,
            chunk_size=chunk_size, noise=noise_for(generator, latent), preset=preset, steps=steps, lr=lr, mask=mask,
            **mask_options(mask, layers, generator.num_ws), seed=seed, precision=precision, callback=progress,
            should_cancel=comfy_env.interrupted), encoder, clip, generator,
            memory_required=lambda: edit_step_bytes(generator, min(chunk_size, _window_count(song, window, hop))))
        times = ", ".join(f"{t:.1f}" for t in keyframes.times.tolist()[:8])
        return (keyframes, f"{len(keyframes.times)} keyframes at {times}{' ...' if len(keyframes.times) > 8 else ''} "
                           f"s; {result.report()}")


class KeyframesToFrames(Node):
    """Keyframes -> every video frame as an IMAGE batch, the song matched to the video's length, and the fps:
    connect all three to core Create Video, then Save Video. Refuses, before decoding, a batch that would not
    fit in memory (use Write Sound Video for long songs)."""

    REQUIRED = {
        **FRAME_INPUTS,
        "memory_budget_gb": number(0.0, 0.0, 4096.0, 0.5, "Largest IMAGE batch allowed; 0 = half the free RAM."),
    }
    OUTPUTS = (("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT"))
    FUNCTION = "render"
    CATEGORY = VIDEO
    DESCRIPTION = ("Renders every frame between the keyframes (with pulse and motion from the song) as one IMAGE "
                   "batch, plus the song cut to the video's length and the fps, for core Create Video and Save "
                   "Video. Previews frames while it renders.")

    def render(self, generator, keyframes: Keyframes, audio: dict, fps: float, pulse: float, motion: float,
               noise_mode: str, batch_size: int, memory_budget_gb: float):
        song = _song(audio)
        progress = _frame_progress(song, fps)
        budget = int(memory_budget_gb * 1024**3) if memory_budget_gb > 0 else None
        images, matched = comfy_env.run_long(lambda: render_images(
            generator, keyframes, song, fps, pulse=pulse, motion=motion, batch_size=batch_size, noise_mode=noise_mode,
            memory_budget=budget, progress=progress, should_cancel=comfy_env.interrupted), generator,
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
    OUTPUTS = (("path", "STRING"),)
    FUNCTION = "write"
    CATEGORY = VIDEO
    OUTPUT_NODE = True
    DESCRIPTION = ("Writes the video with the song straight into an mp4 in ComfyUI's output folder, streaming "
                   "frames to the file: memory stays flat however long the song. Previews frames while it renders.")

    def write(self, generator, keyframes: Keyframes, audio: dict, fps: float, pulse: float, motion: float,
              noise_mode: str, batch_size: int, crf: int, filename_prefix: str):
        song = _song(audio)
        path = comfy_env.output_file(filename_prefix, ".mp4")
        progress = _frame_progress(song, fps)
        comfy_env.run_long(lambda: render_video(
            path, generator, keyframes, song, fps, pulse=pulse, motion=motion, batch_size=batch_size,
            noise_mode=noise_mode, crf=crf, progress=progress, should_cancel=comfy_env.interrupted), generator,
            memory_required=lambda: frame_batch_bytes(generator, batch_size))
        return {"ui": {"images": comfy_env.saved_files([path]), "animated": (True,)}, "result": (str(path),)}
