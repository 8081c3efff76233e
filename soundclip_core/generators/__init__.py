"""Generators: one entry (`load_generator` / `save_generator`) for every StyleGAN file people have.

- `loader.py`, the entry: sniffs the file, runs its format's reader and the checks every file gets,
  builds the architecture its config names (`ARCHITECTURES`, the only place that knows them all);
- what every architecture shares: `base.GeneratorBase` (shape properties, `check_ws`, `NOISE_MODES`),
  the mapping network and its one config (`mapping.py`), labels and label sets (`labels.py`), the
  modulated-conv building blocks (`modconv.py`, `winograd.py`, `derived.py`), the NVIDIA pickle
  container (`nvidia_pickle.py`), size limits and tensor checks (`limits.py`, `checks.py`);
- the architectures, `stylegan2/` and `stylegan3/`, each with its networks and its format name maps;
  they never import each other, and a new one is a new folder plus one line in the loader.
"""

from .loader import load_generator, save_generator

__all__ = ["load_generator", "save_generator"]
