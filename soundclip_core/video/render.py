"""The whole job: a song -> keyframes -> frames -> an mp4 with the song, or an IMAGE batch.

Progress is reported over the whole job in one count: optimisation steps first, then frames
(`progress(done, total, preview)`: the edit's previews, then each frame batch's first frame); Cancel
(`should_cancel`) is honoured within one step or one frame batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..analysis import assign_roles
from ..audio import Audio
from ..image import to_comfy_image
from .drives import MusicFrames, check_music_frames, music_reactive
from .frames import DECODE_BATCH, check_image_batch_fits, decode_frames, frame_count, frame_rate, to_uint8_frames
from .keyframes import Keyframes
from .music import MusicCut, music_keyframes, plan_windows
from .reactive import build_reactive
from .regions import LocatedRegion
from .windows import DEFAULT_HOP, DEFAULT_WINDOW
from .writer import DEFAULT_CRF, check_output, write_mp4

Progress = Callable[[int, int, "torch.Tensor | None"], None]


def frame_controls(generator, keyframes: Keyframes, audio: Audio, fps: float, n_frames: int, pulse: float,
                   motion: float, music: MusicFrames | None, roles: dict):
    """The frames' Reactive: the whole-song pulse/motion, plus the music's drives when `music` or `roles` are
    given. roles: sources (latents to blend), pulse_audio, motion_audio, analysis, hearing (drives.music_reactive)."""
    if music is None and not roles:
        return build_reactive(generator, audio, fps, n_frames, pulse, motion)
    return music_reactive(generator, keyframes, audio, fps, n_frames, music or MusicFrames(), pulse=pulse,
                          motion=motion, **roles)


def matched_audio(audio: Audio, n_frames: int, fps: float) -> Audio:
    """The sound cut or padded with silence to exactly the video's length, n_frames / fps."""
    rate = frame_rate(fps)
    samples = round(n_frames * audio.sample_rate / rate)
    waveform = audio.waveform[:, :samples]
    if waveform.shape[1] < samples:
        waveform = torch.nn.functional.pad(waveform, (0, samples - waveform.shape[1]))
    return Audio(waveform, audio.sample_rate, audio.source)


def render_video(path: str | os.PathLike, generator, keyframes: Keyframes, audio: Audio, fps: float = 24.0, *,
                 pulse: float = 0.0, motion: float = 0.0, batch_size: int = DECODE_BATCH, noise_mode: str = "const",
                 crf: int = DEFAULT_CRF, progress: Progress | None = None, done: int = 0,
                 should_cancel: Callable[[], bool] | None = None, checked: bool = False,
                 music: MusicFrames | None = None, **roles) -> Path:
    """Frames along the keyframes (plus pulse/motion, and the `music`'s drives: drives.py) streamed into an mp4
    at `path` with the sound. `done` offsets the progress count (steps already reported); `checked`:
    check_output already ran; `roles`: sources, pulse_audio, motion_audio, analysis, hearing
    (drives.music_reactive)."""
    n_frames = frame_count(audio.waveform.shape[-1], audio.sample_rate, fps)
    size = generator.resolution
    if not checked:
        check_output(path, n_frames, size, size, frame_rate(fps))
    reactive = frame_controls(generator, keyframes, audio, fps, n_frames, pulse, motion, music, roles)
    total = done + n_frames

    def batches():
        frames = 0
        for images in decode_frames(generator, keyframes, fps, n_frames, reactive, batch_size=batch_size,
                                    noise_mode=noise_mode, should_cancel=should_cancel):
            yield to_uint8_frames(images)
            frames += images.shape[0]
            if progress is not None:
                progress(done + frames, total, images[:1])  # the batch's first frame as the preview

    return write_mp4(path, batches(), frame_rate(fps), audio, crf=crf)


def render_images(generator, keyframes: Keyframes, audio: Audio, fps: float = 24.0, *, pulse: float = 0.0,
                  motion: float = 0.0, batch_size: int = DECODE_BATCH, noise_mode: str = "const",
                  memory_budget: int | None = None, progress: Progress | None = None,
                  should_cancel: Callable[[], bool] | None = None, music: MusicFrames | None = None,
                  **roles) -> tuple[torch.Tensor, Audio]:
    """All frames as one ComfyUI IMAGE [N, H, W, 3] and the sound matched to its length. The batch is
    refused before decoding when it would not fit in `memory_budget` bytes (default: half the free RAM).
    `music` and `roles` as render_video's."""
    n_frames = frame_count(audio.waveform.shape[-1], audio.sample_rate, fps)
    size = generator.resolution
    check_image_batch_fits(n_frames, size, size, memory_budget)
    reactive = frame_controls(generator, keyframes, audio, fps, n_frames, pulse, motion, music, roles)
    out = torch.empty(n_frames, size, size, 3)  # filled in place: no second copy of the video
    first = 0
    for images in decode_frames(generator, keyframes, fps, n_frames, reactive, batch_size=batch_size,
                                noise_mode=noise_mode, should_cancel=should_cancel):
        out[first:first + images.shape[0]] = to_comfy_image(images)
        first += images.shape[0]
        if progress is not None:
            progress(first, n_frames, images[:1])  # the batch's first frame as the preview
    return out, matched_audio(audio, n_frames, fps)


def make_video(path: str | os.PathLike, generator, clip, encoder, audio: Audio, w_source: torch.Tensor, *,
               fps: float = 24.0, window: float = DEFAULT_WINDOW, hop: float = DEFAULT_HOP, steps: int = 300,
               text=None, pulse: float = 0.0, motion: float = 0.0, batch_size: int = DECODE_BATCH,
               crf: int = DEFAULT_CRF,
               keyframes_path: str | os.PathLike | None = None, progress: Progress | None = None,
               should_cancel: Callable[[], bool] | None = None, plan: MusicCut | None = None,
               music: MusicFrames | None = None, roles: dict | None = None, notes: list[str] | None = None,
               beat_audio: Audio | None = None, meaning_audio: Audio | None = None,
               **optimize_kwargs) -> tuple[Keyframes, object]:
    """Song -> keyframes (one batched optimisation) -> mp4 with the song. Every input problem that can be
    known in advance (fps, window vs the sound's length, the music settings, output folder, free disk) is
    refused first. `plan`: keyframes on beats, bars or sections and per-section texts (music.py); `music`
    and `roles`: what the music does to the frames (drives.py); `notes` collects what was changed from what
    was asked (e.g. no beats: fixed windows); `beat_audio`: a separate sound whose beats or bars cut the song;
    `region` (in optimize_kwargs): a LocatedRegion confines each keyframe to where its sound is (regions.py);
    `meaning_audio`: a stem whose windows guide the keyframes instead of the song's. Every stem (beat_audio,
    meaning_audio, roles' pulse_audio and motion_audio) is fitted to the song (analysis.assign_roles) before
    anything is heard or optimised: one that does not fit is refused naming its role."""
    rate = frame_rate(fps)
    plan = MusicCut() if plan is None else plan
    plan.check()
    if music is not None:
        check_music_frames(music, generator.num_ws)
    if isinstance(optimize_kwargs.get("region"), LocatedRegion):
        optimize_kwargs["region"].check()
    roles = dict(roles or {})
    stems = assign_roles(audio, pulse=roles.get("pulse_audio"), motion=roles.get("motion_audio"), beat=beat_audio,
                         meaning=meaning_audio)
    roles.update({f"{role}_audio": stems[role] for role in ("pulse", "motion") if stems.own(role)})
    beat_audio = stems["beat"] if stems.own("beat") else None
    meaning_audio = stems["meaning"] if stems.own("meaning") else None
    if notes is not None:
        notes += stems.notes
    n_frames = frame_count(audio.waveform.shape[-1], audio.sample_rate, fps)
    check_output(path, n_frames, generator.resolution, generator.resolution, rate)
    windows, analysis = plan_windows(audio, plan, window, hop, beat_audio=beat_audio)  # before the optimisation
    total = steps + n_frames

    def on_step(step: int, _steps: int, preview, info) -> None:
        if progress is not None:
            progress(step, total, preview)

    if analysis is not None and music is not None:
        roles = {"analysis": analysis, **roles}  # the frames reuse the song's analysis
    keyframes, result, changed = music_keyframes(
        generator, clip, encoder, audio, w_source, plan, window=window, hop=hop, text=text, analysis=analysis,
        windows=windows, meaning_audio=meaning_audio, steps=steps, callback=on_step, should_cancel=should_cancel,
        **optimize_kwargs)
    if notes is not None:
        notes += changed
    if keyframes_path is not None:
        keyframes.save(keyframes_path, generator.source)
    render_video(path, generator, keyframes, audio, fps, pulse=pulse, motion=motion, batch_size=batch_size, crf=crf,
                 progress=progress, done=steps, should_cancel=should_cancel, checked=True, music=music,
                 **roles)
    return keyframes, result
