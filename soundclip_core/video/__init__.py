"""A whole song -> a video whose imagery follows what it hears.

The sound is cut into windows, each window's embedding guides one keyframe (one batched run of the
single-image edit), a C1 spline carries the latent from keyframe to keyframe at the frame rate,
optional pulse/motion controls follow the signal's loudness and onsets, and frames are decoded and
encoded in batches into an H.264/AAC mp4, never holding the whole video in memory.

The music can drive it (issue 25): keyframes cut on beats, bars or sections with a text per section
(music.py, cuts.py, section_texts.py), and the edit's strength, band-to-layer pulses and motions and blends of
several sources following the song's analysis (drives.py).
"""

from .cuts import CUTS, hold_keyframes, music_windows
from .drives import MusicFrames, music_reactive, parse_band_layers, parse_envelope
from .frames import (
           available_memory,
           check_image_batch_fits,
           decode_frames,
           frame_count,
           frame_latents,
           frame_rate,
           frame_times,
           image_batch_bytes,
)
from .keyframes import Keyframes, load_keyframes, sound_keyframes
from .motion import hermite, tangents
from .music import MusicCut, music_keyframes
from .reactive import Reactive, build_reactive, loudness_and_onsets
from .render import make_video, matched_audio, render_images, render_video
from .windows import DEFAULT_HOP, DEFAULT_WINDOW, Windows, cut_windows, encode_windows
from .writer import check_output, estimate_bytes, write_mp4

__all__ = ["CUTS", "DEFAULT_HOP", "DEFAULT_WINDOW", "Keyframes", "MusicCut", "MusicFrames", "Reactive", "Windows",
           "available_memory", "build_reactive", "check_image_batch_fits", "check_output", "cut_windows",
           "decode_frames", "encode_windows", "estimate_bytes", "frame_count", "frame_latents", "frame_rate",
           "frame_times", "hermite", "hold_keyframes", "image_batch_bytes", "load_keyframes", "loudness_and_onsets",
           "make_video", "matched_audio", "music_keyframes", "music_reactive", "music_windows", "parse_band_layers",
           "parse_envelope", "render_images", "render_video", "sound_keyframes", "tangents", "write_mp4"]
