"""A whole song -> keyframes -> frames: for ComfyUI's own CreateVideo / SaveVideo, or straight to an mp4."""

from __future__ import annotations

from soundclip_core.audio import Audio
from soundclip_core.errors import SoundClipError
from soundclip_core.manipulate import MASK_MODES, PRESETS, parse_layer_weights
from soundclip_core.video import DEFAULT_HOP, DEFAULT_WINDOW, Keyframes, render_images, render_video, sound_keyframes
from soundclip_core.video.frames import DECODE_BATCH, MAX_FPS, MIN_FPS, frame_count
from soundclip_core.video.writer import DEFAULT_CRF

from . import comfy_env
from .types import AUDIO_ENCODER, CATEGORY, CLIP, EMBEDDING, GENERATOR, KEYFRAMES, WPLUS, WPlus, latent_for, noise_for

NOISE_MODES = ["const", "none"]  # "random" noise would flicker from frame to frame


def _song(audio: dict):
    clips = Audio.from_comfy(audio, "the song")
    if len(clips) != 1:
        raise SoundClipError(f"expected one song, got a batch of {len(clips)} sounds", fix="connect a single AUDIO")
    return clips[0]


def _frame_inputs() -> dict:
    """The inputs both frame nodes share: what to render and how."""
    return {
        "generator": (GENERATOR,),
        "keyframes": (KEYFRAMES,),
        "audio": ("AUDIO",),
        "fps": ("FLOAT", {"default": 24.0, "min": MIN_FPS, "max": MAX_FPS, "step": 1.0}),
        "pulse": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 2.0, "step": 0.05,
                            "tooltip": "Loudness pushes the image's features away from the average image; 0 = off."}),
        "motion": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 2.0, "step": 0.05,
                             "tooltip": "Onsets move the image along a closed loop in latent space; 0 = off."}),
        "noise_mode": (NOISE_MODES, {"tooltip": "const: the checkpoint's fixed noise (no flicker)."}),
        "batch_size": ("INT", {"default": DECODE_BATCH, "min": 1, "max": 64, "tooltip": "Frames decoded at once."}),
    }


class SoundKeyframes:
    """A song -> one keyframe latent per window, each optimised toward its window's sound (all windows in one
    batched run of the paper's edit, from one source latent; optionally mixed with a text embedding)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "audio": ("AUDIO",),
                "encoder": (AUDIO_ENCODER,),
                "clip": (CLIP,),
                "generator": (GENERATOR,),
                "latent": (WPLUS, {"tooltip": "The source every keyframe starts from (one latent)."}),
                "window": ("FLOAT", {"default": DEFAULT_WINDOW, "min": 0.1, "max": 60.0, "step": 0.1,
                                     "tooltip": "Seconds of sound per keyframe."}),
                "hop": ("FLOAT", {"default": DEFAULT_HOP, "min": 0.1, "max": 60.0, "step": 0.1,
                                  "tooltip": "Seconds between keyframes."}),
                "preset": (list(PRESETS),),
                "steps": ("INT", {"default": 300, "min": 1, "max": 10000}),
                "lr": ("FLOAT", {"default": 0.1, "min": 0.0001, "max": 10.0, "step": 0.005}),
                "mask": (list(MASK_MODES),),
                "layers": ("STRING", {"default": "", "tooltip": "freeze: layers that may change, e.g. '0-8'. "
                                                                 "fixed: one weight per layer."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": True}),
                "chunk_size": ("INT", {"default": 8, "min": 1, "max": 256,
                                       "tooltip": "Keyframes rendered at once in each step (bounds memory)."}),
                "precision": (["fp32", "bf16", "fp16"],),
            },
            "optional": {
                "text": (EMBEDDING, {"tooltip": "Mixed into every window's sound (e.g. a style prompt)."}),
                "text_weight": ("FLOAT", {"default": 0.5, "min": -2.0, "max": 2.0, "step": 0.05}),
            },
        }

    RETURN_TYPES = (KEYFRAMES, "STRING")
    RETURN_NAMES = ("keyframes", "report")
    FUNCTION = "run"
    CATEGORY = CATEGORY

    def run(self, audio: dict, encoder, clip, generator, latent: WPlus, window: float, hop: float, preset: str,
            steps: int, lr: float, mask: str, layers: str, seed: int, chunk_size: int, precision: str, text=None,
            text_weight: float = 0.5):
        song = _song(audio)
        source = latent_for(generator, latent)
        if source.shape[0] != 1:
            raise SoundClipError(f"expected one source latent, got {source.shape[0]}", fix="use batch size 1")
        fixed = mask == "fixed" and layers.strip()
        progress = comfy_env.Progress(steps)

        def work():
            return sound_keyframes(
                generator, clip, encoder, song, source, window=window, hop=hop, text=text, text_weight=text_weight,
                chunk_size=chunk_size, noise=noise_for(generator, latent), preset=preset, steps=steps, lr=lr, mask=mask,
                layers=(layers.strip() or None) if mask == "freeze" else None,
                mask_weights=parse_layer_weights(layers, generator.num_ws) if fixed else None, seed=seed,
                precision=precision, callback=lambda step, total, preview, info: progress.update(step, total, preview),
                should_cancel=comfy_env.interrupted)

        keyframes, result = comfy_env.run_long(work)
        times = ", ".join(f"{t:.1f}" for t in keyframes.times.tolist()[:8])
        return (keyframes, f"{len(keyframes.times)} keyframes at {times}{' ...' if len(keyframes.times) > 8 else ''} "
                           f"s; {result.report()}")


class KeyframesToFrames:
    """Keyframes -> every video frame as an IMAGE batch, the song matched to the video's length, and the fps:
    connect all three to core Create Video, then Save Video. Refuses, before decoding, a batch that would not
    fit in memory (use Write Sound Video for long songs)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            **_frame_inputs(),
            "memory_budget_gb": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 4096.0, "step": 0.5,
                                           "tooltip": "Largest IMAGE batch allowed; 0 = half the free RAM."}),
        }}

    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT")
    RETURN_NAMES = ("images", "audio", "fps")
    FUNCTION = "render"
    CATEGORY = CATEGORY

    def render(self, generator, keyframes: Keyframes, audio: dict, fps: float, pulse: float, motion: float,
               noise_mode: str, batch_size: int, memory_budget_gb: float):
        song = _song(audio)
        progress = comfy_env.Progress(frame_count(song.waveform.shape[-1], song.sample_rate, fps))
        budget = int(memory_budget_gb * 1024**3) if memory_budget_gb > 0 else None
        images, matched = comfy_env.run_long(lambda: render_images(
            generator, keyframes, song, fps, pulse=pulse, motion=motion, batch_size=batch_size, noise_mode=noise_mode,
            memory_budget=budget, progress=progress.update, should_cancel=comfy_env.interrupted))
        return (images, matched.to_comfy(), float(fps))


class WriteSoundVideo:
    """Keyframes -> an H.264 mp4 with the song in ComfyUI's output folder, frames streamed to the file in
    batches: memory stays flat however long the song."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            **_frame_inputs(),
            "crf": ("INT", {"default": DEFAULT_CRF, "min": 0, "max": 51, "tooltip": "H.264 quality: lower is better."}),
            "filename_prefix": ("STRING", {"default": "soundclip/video"}),
        }}

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    FUNCTION = "write"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True

    def write(self, generator, keyframes: Keyframes, audio: dict, fps: float, pulse: float, motion: float,
              noise_mode: str, batch_size: int, crf: int, filename_prefix: str):
        song = _song(audio)
        root = comfy_env.output_directory().resolve()
        path = comfy_env.output_file(filename_prefix, ".mp4")
        progress = comfy_env.Progress(frame_count(song.waveform.shape[-1], song.sample_rate, fps))
        comfy_env.run_long(lambda: render_video(
            path, generator, keyframes, song, fps, pulse=pulse, motion=motion, batch_size=batch_size,
            noise_mode=noise_mode, crf=crf, progress=progress.update, should_cancel=comfy_env.interrupted))
        subfolder = str(path.parent.relative_to(root)) if path.parent != root else ""
        return {"ui": {"images": [{"filename": path.name, "subfolder": subfolder, "type": "output"}],
                       "animated": (True,)}, "result": (str(path),)}
