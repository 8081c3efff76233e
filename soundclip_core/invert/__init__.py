"""Inversion: a user's picture -> a W+ latent (and noise maps) the sound-guided edit starts from."""

from .e4e import E4EEncoder, Encoder4Editing, load_e4e
from .perceptual import VGG16LPIPS, load_perceptual
from .prepare import FITS, ImageInputError, fit_square, load_image
from .presets import PRESETS
from .project import Result, noise_regularization, project, psnr

__all__ = ["E4EEncoder", "Encoder4Editing", "FITS", "PRESETS", "ImageInputError", "Result", "VGG16LPIPS",
           "fit_square", "load_e4e", "load_image", "load_perceptual", "noise_regularization", "project", "psnr"]
