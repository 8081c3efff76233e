"""ComfyUI entry point of the soundclip node pack (sound-guided StyleGAN editing).

ComfyUI imports this folder as a package from custom_nodes/. The core library sits
beside it in ``soundclip_core/`` and is registered from here by its file location. The pack folder itself
is never put on sys.path, and the node classes are imported relatively, so our
``nodes/`` can never shadow ComfyUI's own top-level ``nodes`` module.
"""

import importlib.util
import sys
from pathlib import Path


def _ensure_core_importable() -> None:
    """The core beside this file, which the nodes are written against, even where another version of soundclip
    is pip-installed (an older one would lack what the nodes call); already imported, it is used as it is."""
    core_dir = Path(__file__).resolve().parent / "soundclip_core"
    if "soundclip_core" in sys.modules or not (core_dir / "__init__.py").is_file():
        return
    spec = importlib.util.spec_from_file_location(
        "soundclip_core", core_dir / "__init__.py", submodule_search_locations=[str(core_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["soundclip_core"] = module
    spec.loader.exec_module(module)


_ensure_core_importable()

if __package__:  # ComfyUI imports the folder as a package; pytest may import this file bare (a clone named
    # e.g. "soundclip-main" is no valid package name), and then there is no pack to register
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    WEB_DIRECTORY = "./web"  # the frontend extension: Load Audio's upload and player, seeds fixed on new nodes
    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
