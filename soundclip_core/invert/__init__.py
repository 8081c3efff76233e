"""Inversion: a user's picture -> a W+ latent (and noise maps) the sound-guided edit starts from."""

from .e4e import E4EEncoder, Encoder4Editing, load_e4e
from .perceptual import VGG16LPIPS, load_perceptual
from .presets import PRESETS
from .project import Result, noise_regularization, project, psnr

__all__ = ["E4EEncoder", "Encoder4Editing", "PRESETS", "Result", "VGG16LPIPS", "load_e4e", "load_perceptual",
           "noise_regularization", "project", "psnr"]
