"""Generators: one entry (`load_generator` / `save_generator`) for every StyleGAN file people have.

Below the entry, each architecture is a package of its own (`stylegan2/`, `stylegan3/`) with its
format readers; the loader sniffs the file, picks the reader and builds the architecture its config names.
"""

from .loader import load_generator, save_generator

__all__ = ["load_generator", "save_generator"]
