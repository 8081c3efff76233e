"""Audio encoders into CLIP space, configured as data (`configs/*.json`)."""

from .encoder import LONG_CLIP_POLICIES, AudioEncoder, build_audio_encoder, load_audio_encoder
from .registry import ENCODER_KINDS, encoder_config

__all__ = ["ENCODER_KINDS", "LONG_CLIP_POLICIES", "AudioEncoder", "build_audio_encoder", "encoder_config",
           "load_audio_encoder"]
