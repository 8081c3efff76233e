"""Where is the sound: dense CLIP similarity maps (MaskCLIP's readout of ViT and ResNet towers), tiled over
pictures of any size, as heatmaps and masks."""

from .dense import dense_features
from .locate import Located, cosine_map, locate, normalise, tile_origins
from .overlay import colourise, overlay

__all__ = ["Located", "colourise", "cosine_map", "dense_features", "locate", "normalise", "overlay",
           "tile_origins"]
