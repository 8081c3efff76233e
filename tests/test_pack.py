"""The pack as ComfyUI sees it: entry point, node declarations, packaging trap."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}


def import_pack(name: str = "soundclip_pack"):
    """Import the repository folder as a package, the way ComfyUI imports custom_nodes/<folder>."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pack():
    return import_pack()


def test_entry_point_exports_prefixed_nodes(pack):
    mappings = pack.NODE_CLASS_MAPPINGS
    assert set(mappings) == set(pack.NODE_DISPLAY_NAME_MAPPINGS)
    assert all(node_id.startswith("SoundCLIP_") for node_id in mappings)
    required = {"LoadAudio", "AudioEncode", "TextEncode", "StyleGANLoad", "LatentOptimize", "StyleMix", "Decode"}
    assert {f"SoundCLIP_{n}" for n in required} <= set(mappings)


def test_every_node_declares_a_callable_form(pack):
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        names = [*spec["required"], *spec.get("optional", {})]
        assert isinstance(cls.RETURN_TYPES, tuple) and cls.RETURN_TYPES, node_id
        assert cls.CATEGORY == "SoundCLIP", node_id
        if hasattr(cls, "RETURN_NAMES"):
            assert len(cls.RETURN_NAMES) == len(cls.RETURN_TYPES), node_id
        parameters = inspect.signature(getattr(cls(), cls.FUNCTION)).parameters
        assert list(parameters) == names, f"{node_id}: function parameters {list(parameters)} != inputs {names}"
        for name, declaration in spec["required"].items():
            kind = declaration[0]
            assert isinstance(kind, (list, str)), (node_id, name)
            options = declaration[1] if len(declaration) > 1 else {}
            uploads = options.get("audio_upload") or options.get("image_upload")
            if isinstance(kind, list) and not uploads:  # an upload list is empty until a file is uploaded
                assert kind, f"{node_id}.{name}: empty choice list"


def test_pack_does_not_shadow_comfyui_nodes_module():
    """Importing the pack must not make our nodes/ importable as the top-level `nodes`."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('pack', r'{ROOT / '__init__.py'}',"
        f" submodule_search_locations=[r'{ROOT}'])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['pack'] = m; spec.loader.exec_module(m)\n"
        "assert 'nodes' not in sys.modules, 'top-level nodes imported'\n"
        "assert importlib.util.find_spec('nodes') is None, 'our nodes/ is importable as top-level nodes'\n"
        "print(len(m.NODE_CLASS_MAPPINGS))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True,
                            env={"PATH": "", "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 7


def test_pyproject_installs_only_the_core_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["soundclip_core*"]
    assert config["project"]["scripts"]["soundclip"] == "soundclip_core.cli:main"
    assert "comfy" in config["tool"]
    from setuptools import find_packages

    packages = find_packages(str(ROOT), include=find["include"])
    assert "nodes" not in packages and all(p.startswith("soundclip_core") for p in packages)
    assert "soundclip_core.cli" in packages
