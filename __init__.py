"""ComfyUI entry point of the soundclip node pack (sound-guided StyleGAN2 editing).

ComfyUI imports this folder as a package from custom_nodes/. The core library sits
beside it in ``soundclip_core/``: when the pack was cloned rather than pip-installed,
that one package is registered from here by its file location. The pack folder itself
is never put on sys.path, and the node classes are imported relatively, so our
``nodes/`` can never shadow ComfyUI's own top-level ``nodes`` module.
"""

import importlib.util
import sys
from pathlib import Path


def _ensure_core_importable() -> None:
    if importlib.util.find_spec("soundclip_core") is not None:
        return
    core_dir = Path(__file__).resolve().parent / "soundclip_core"
    spec = importlib.util.spec_from_file_location(
        "soundclip_core", core_dir / "__init__.py", submodule_search_locations=[str(core_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["soundclip_core"] = module
    spec.loader.exec_module(module)


_ensure_core_importable()

if __package__:  # ComfyUI imports the folder as a package; pytest may import this file bare (a clone named
    # e.g. "soundclip-main" is no valid package name), and then there is no pack to register
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
