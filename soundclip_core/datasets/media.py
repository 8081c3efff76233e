"""Reading a clip's sound and picture: sound files through `load_audio`, video files through PyAV.

VGGSound and many manifests hold `.mp4` clips: their audio track is the sound and their middle
frame the picture for the audio-image term. PyAV is imported only when a video is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..audio import Audio, load_audio
from ..errors import AudioError, DatasetError
from ..optional import require

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4a")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def load_clip_audio(path: str | os.PathLike, max_seconds: float = 600.0) -> Audio:
    """The sound of a clip as float32 [C, T]: a sound file, or the first audio stream of a video."""
    path = Path(path)
    if not is_video(path):
        return load_audio(path, max_seconds=max_seconds)
    if not path.is_file() or path.stat().st_size == 0:
        raise AudioError("video file not found or empty", path=path,
                         fix="copy or download the clip again, or correct its path in the metadata")
    av = require("av", "reading video files")

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError("the video has no audio track", path=path, fix="use a clip with sound")
            stream = container.streams.audio[0]
            chunks, rate, samples_read, full_scale = [], stream.rate, 0, 1.0
            for frame in container.decode(stream):
                array = frame.to_ndarray()
                if np.issubdtype(array.dtype, np.integer):  # integer PCM (s16, s32, u8): to [-1, 1]
                    info = np.iinfo(array.dtype)
                    full_scale = (info.max + 1) / 2 if info.min == 0 else -float(info.min)
                    array = array.astype(np.float32) - (full_scale if info.min == 0 else 0.0)  # u8 is offset
                if not frame.format.is_planar:
                    array = array.reshape(-1, len(frame.layout.channels)).T
                chunks.append(array.astype(np.float32))  # [C, n]
                samples_read += array.shape[1]
                if samples_read > max_seconds * rate:
                    raise AudioError(f"the sound is over the {max_seconds:.0f} s limit", path=path,
                                     fix=f"cut the clip to under {max_seconds:.0f} s, or leave it out")
    except AudioError:
        raise
    except Exception as error:  # av.error.* on damaged containers
        raise AudioError(f"cannot decode the video's sound ({str(error)[:200]})", path=path,
                         fix="download the clip again, or re-encode it with ffmpeg") from error
    if not chunks:
        raise AudioError("the video's audio track is empty", path=path,
                         fix="download the clip again, or leave it out (it has no sound)")
    samples = np.concatenate(chunks, axis=1) / full_scale
    audio = Audio(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), int(rate), str(path))
    return audio.require_sound()


def load_frame(path: str | os.PathLike) -> torch.Tensor:
    """An image file, or the middle frame of a video, as float [3, H, W] in [-1, 1]. Image files are read
    as every picture a user brings is (`picture.load_image`: 16-bit, CMYK, alpha, EXIF, huge-file guard)."""
    from ..picture import ImageInputError, load_image

    path = Path(path)
    if not path.is_file():
        raise DatasetError("image or video file not found", path=path,
                           fix="restore the file, or correct its path in the dataset's metadata")
    try:
        if not is_video(path):
            return load_image(path)[0]
        picture = _middle_frame(path)
    except (OSError, UnidentifiedImageError, ValueError, ImageInputError) as error:
        reason = error.problem if isinstance(error, ImageInputError) else str(error)[:200]
        raise DatasetError(f"cannot read a picture from this file ({reason})", path=path,
                           fix="replace it with a readable image or video, or remove it from the dataset") from error
    array = torch.from_numpy(np.asarray(picture, dtype=np.float32).copy())
    return array.permute(2, 0, 1) / 127.5 - 1.0


def _middle_frame(path: Path) -> Image.Image:
    av = require("av", "reading video files")

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            stream = container.streams.video[0]
            middle = stream.frames // 2 if stream.frames else None  # None: the count is not in the header
            frames = []
            for index, frame in enumerate(container.decode(stream)):
                if index == middle:
                    return frame.to_image()
                frames.append(frame.to_image())
    except av.error.FFmpegError as error:
        raise ValueError(str(error)) from error
    if not frames:
        raise ValueError("the video has no frames")
    return frames[len(frames) // 2]
