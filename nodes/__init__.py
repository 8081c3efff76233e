"""ComfyUI node classes of the soundclip pack, keyed by their prefixed node IDs.

Imported only relatively, from the pack's own ``__init__.py``: ComfyUI has a top-level
module called ``nodes`` and this package must never shadow it.
"""

from __future__ import annotations

from . import comfy_env
from .analysis import AnalyzeSound, PlotSoundCurves, SemanticCurves, SoundCurve
from .audio import AudioEncode, AudioEncoderLoader, LoadAudio
from .classify import ZeroShotClassify
from .directions import ApplyDirection, ComputeStyleSpaceTable, SoundDirection
from .faces import AlignFace, PasteBack
from .instant_video import HearFrames, InstantVideo
from .invert import E4ELoader, InvertImage, LoadLatentFromPNG, PerceptualLoader, SaveImageWithLatent
from .manipulate import ArcFaceLoader, LatentOptimize
from .stylegan import Decode, LatentFromSeed, StyleGANLoad, StyleMix
from .teach import TeachSounds
from .text import CLIPLoader, EmbeddingBatch, EmbeddingMix, TextEncode
from .video import KeyframesToFrames, SoundKeyframes, WriteSoundVideo
from .where import SearchBySound, WhereIsTheSound

comfy_env.register_model_folders()

_NODES = {
    "LoadAudio": (LoadAudio, "Load Audio (SoundCLIP)"),
    "AudioEncoderLoader": (AudioEncoderLoader, "Load Audio Encoder (SoundCLIP)"),
    "AudioEncode": (AudioEncode, "Audio Encode (SoundCLIP)"),
    "CLIPLoader": (CLIPLoader, "Load CLIP (SoundCLIP)"),
    "TextEncode": (TextEncode, "Text Encode (SoundCLIP)"),
    "EmbeddingMix": (EmbeddingMix, "Mix Embeddings (SoundCLIP)"),
    "EmbeddingBatch": (EmbeddingBatch, "Batch Embeddings (SoundCLIP)"),
    "StyleGANLoad": (StyleGANLoad, "Load StyleGAN (SoundCLIP)"),
    "LatentFromSeed": (LatentFromSeed, "StyleGAN Latent from Seed (SoundCLIP)"),
    "ArcFaceLoader": (ArcFaceLoader, "Load ArcFace (SoundCLIP)"),
    "LatentOptimize": (LatentOptimize, "Sound-Guided Latent Optimize (SoundCLIP)"),
    "StyleMix": (StyleMix, "Style Mix W+ Layers (SoundCLIP)"),
    "Decode": (Decode, "StyleGAN Decode (SoundCLIP)"),
    "PerceptualLoader": (PerceptualLoader, "Load VGG16-LPIPS (SoundCLIP)"),
    "E4ELoader": (E4ELoader, "Load e4e Encoder (SoundCLIP)"),
    "InvertImage": (InvertImage, "Invert Image (SoundCLIP)"),
    "SaveImageWithLatent": (SaveImageWithLatent, "Save Image with Latent (SoundCLIP)"),
    "LoadLatentFromPNG": (LoadLatentFromPNG, "Load Latent from PNG (SoundCLIP)"),
    "ZeroShotClassify": (ZeroShotClassify, "Zero-shot Classify Audio (SoundCLIP)"),
    "SoundKeyframes": (SoundKeyframes, "Sound to Keyframes (SoundCLIP)"),
    "KeyframesToFrames": (KeyframesToFrames, "Keyframes to Frames (SoundCLIP)"),
    "WriteSoundVideo": (WriteSoundVideo, "Write Sound Video (SoundCLIP)"),
    "AlignFace": (AlignFace, "Align Face (SoundCLIP)"),
    "PasteBack": (PasteBack, "Paste Back (SoundCLIP)"),
    "WhereIsTheSound": (WhereIsTheSound, "Where Is the Sound (SoundCLIP)"),
    "SearchBySound": (SearchBySound, "Search by Sound (SoundCLIP)"),
    "HearFrames": (HearFrames, "Hear Every Frame (SoundCLIP)"),
    "InstantVideo": (InstantVideo, "Sound to Instant Video (SoundCLIP)"),
    "TeachSounds": (TeachSounds, "Teach Sounds (SoundCLIP)"),
    "AnalyzeSound": (AnalyzeSound, "Analyze Sound (SoundCLIP)"),
    "SemanticCurves": (SemanticCurves, "Semantic Curves (SoundCLIP)"),
    "SoundCurve": (SoundCurve, "Sound Curve (SoundCLIP)"),
    "PlotSoundCurves": (PlotSoundCurves, "Plot Sound Curves (SoundCLIP)"),
    "ComputeStyleSpaceTable": (ComputeStyleSpaceTable, "Compute StyleSpace Table (SoundCLIP)"),
    "SoundDirection": (SoundDirection, "Sound Direction (SoundCLIP)"),
    "ApplyDirection": (ApplyDirection, "Apply Direction (SoundCLIP)"),
}

NODE_CLASS_MAPPINGS = {f"SoundCLIP_{name}": cls for name, (cls, _) in _NODES.items()}
NODE_DISPLAY_NAME_MAPPINGS = {f"SoundCLIP_{name}": title for name, (_, title) in _NODES.items()}
