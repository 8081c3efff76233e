"""soundclip_core: sound-guided semantic image manipulation with StyleGAN2.

Implements Lee et al., "Sound-Guided Semantic Image Manipulation" (CVPR 2022):
an audio encoder maps a sound into CLIP space, and a StyleGAN2 W+ latent is
optimised until the generated image matches it. This package has no ComfyUI
dependency; the ComfyUI nodes in ``nodes/`` are thin wrappers around it.
"""

__version__ = "0.2.0"
