"""Labelled sound datasets in their published layouts, read into one form (`AudioDataset`).

ESC-50, UrbanSound8K, VGGSound, a CSV manifest and a folder of `label/clip.wav` all become a
tuple of `Clip`s (absolute paths, the label as the dataset writes it, a caption for training,
the fold where the layout has folds, an image or video to take a frame from). Every problem
the metadata can show in advance (missing files, malformed columns, empty or single classes)
is one `DatasetError` raised here, before any audio is decoded.
"""

from __future__ import annotations

from .dataset import AudioDataset, Clip, clean_label, require_classes
from .layouts import DATASET_KINDS, detect_kind, open_dataset
from .media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, load_clip_audio, load_frame

__all__ = ["AUDIO_EXTENSIONS", "DATASET_KINDS", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "AudioDataset", "Clip",
           "clean_label", "detect_kind", "load_clip_audio", "load_frame", "open_dataset", "require_classes"]
