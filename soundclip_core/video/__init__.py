"""A whole song -> a video whose imagery follows what it hears.

The sound is cut into windows, each window's embedding guides one keyframe (one batched run of the
single-image edit), a C1 spline carries the latent from keyframe to keyframe at the frame rate,
optional pulse/motion controls follow the signal's loudness and onsets, and frames are decoded and
encoded in batches into an H.264/AAC mp4, never holding the whole video in memory. The instant mode
(`make_instant_video`, `instant_images`) skips the optimisation: every frame hears its own window and
becomes a StyleSpace edit of one source image along a global direction (`soundclip_core.directions`).

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
from .instant import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_NEUTRAL, alpha_per_frame, frame_directions, instant_frames
from .instant_render import (
    InstantSettings,
    instant_images,
    make_instant_video,
    render_instant_images,
    render_instant_video,
)
from .instant_sound import DEFAULT_SMOOTH, encode_frame_windows, frame_windows, hear_frames, smooth_embeddings
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
__all__ += ["DEFAULT_ALPHA", "DEFAULT_BETA", "DEFAULT_NEUTRAL", "DEFAULT_SMOOTH", "InstantSettings", "alpha_per_frame",
            "encode_frame_windows", "frame_directions", "frame_windows", "hear_frames", "instant_frames",
            "instant_images", "make_instant_video", "render_instant_images", "render_instant_video",
            "smooth_embeddings"]
