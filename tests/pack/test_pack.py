"""The pack as ComfyUI sees it: entry point, node declarations, packaging trap."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from pack_loading import import_pack
from paths import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}


@pytest.fixture(scope="module")
def pack():
    return import_pack()


def test_entry_point_exports_prefixed_nodes(pack):
    mappings = pack.NODE_CLASS_MAPPINGS
    assert set(mappings) == set(pack.NODE_DISPLAY_NAME_MAPPINGS)
    assert all(node_id.startswith("SoundCLIP_") for node_id in mappings)
    required = {"LoadAudio", "AudioEncode", "TextEncode", "StyleGANLoad", "LatentOptimize", "StyleMix", "Decode"}
    assert {f"SoundCLIP_{n}" for n in required} <= set(mappings)


def test_every_node_declares_a_callable_form(pack, tmp_path, monkeypatch):
    (tmp_path / "x.wav").write_bytes(b"")  # file lists (Load Audio) read the input folder: here, the cwd
    monkeypatch.chdir(tmp_path)
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        names = [*spec["required"], *spec.get("optional", {})]
        assert isinstance(cls.RETURN_TYPES, tuple) and cls.RETURN_TYPES, node_id
        assert cls.CATEGORY.startswith("SoundCLIP/"), node_id
        if hasattr(cls, "RETURN_NAMES"):
            assert len(cls.RETURN_NAMES) == len(cls.RETURN_TYPES), node_id
        parameters = inspect.signature(getattr(cls(), cls.FUNCTION)).parameters
        assert list(parameters) == names, f"{node_id}: function parameters {list(parameters)} != inputs {names}"
        for name, declaration in spec["required"].items():
            kind = declaration[0]
            assert isinstance(kind, (list, str)), (node_id, name)
            options = declaration[1] if len(declaration) > 1 else {}
            # the frontend's audio upload widget needs a player widget it adds to core audio nodes only: our
            # web extension adds both to Load Audio (SoundCLIP); declared here, a node without it would break
            assert not options.get("audio_upload"), f"{node_id}.{name}: the web extension adds the audio upload"
            uploads = options.get("image_upload")
            if isinstance(kind, list) and not uploads:  # an upload list is empty until a file is uploaded
                assert kind, f"{node_id}.{name}: empty choice list"


def _this_checkouts_core(tmp_path: Path) -> str:
    """A PYTHONPATH entry holding only this checkout's soundclip_core, so that a subprocess imports the code under
    test and not an editable install of another checkout (a venv shared between worktrees)."""
    folder = tmp_path / "core_only"
    folder.mkdir()
    (folder / "soundclip_core").symlink_to(ROOT / "soundclip_core")
    return str(folder)


# Every node ID and input name of this release: saved workflows refer to them, so none may be renamed or
# removed (new ones may be added at the end of a node's inputs).
SAVED_NAMES = {
    "LoadAudio": "audio start duration",
    "AudioEncoderLoader": "encoder_name kind",
    "AudioEncode": "audio encoder long_clip window_start",
    "CLIPLoader": "clip_name arch",
    "TextEncode": "clip text",
    "EmbeddingMix": "embedding_a weight_a embedding_b weight_b",
    "EmbeddingBatch": "embedding_1 embedding_2 embedding_3 embedding_4",
    "StyleGANLoad": "generator_name",
    "LatentFromSeed": "generator seed batch_size truncation_psi label",
    "ArcFaceLoader": "arcface_name",
    "LatentOptimize": "generator clip target latent preset steps lr lam_sim lam_id mask layers seed precision "
                      "clip_input preview_every arcface chunk_size region_mask perceptual",
    "StyleMix": "latent_a latent_b layers_from_a",
    "Decode": "generator latent noise_mode styles region_mask",
    "PerceptualLoader": "vgg_name lpips_weights",
    "E4ELoader": "e4e_name",
    "InvertImage": "image generator perceptual preset steps fit seed batch_size preview_every e4e",
    "SaveImageWithLatent": "images latent filename_prefix",
    "LoadLatentFromPNG": "image",
    "ZeroShotClassify": "audio encoder clip labels template",
    "SoundKeyframes": "audio encoder clip generator latent window hop preset steps lr mask layers seed chunk_size "
                      "precision text text_weight cut every transition section_texts beat_audio analysis "
                      "region_text region_by_sound region_threshold meaning_audio",
    "KeyframesToFrames": "generator keyframes audio fps pulse motion noise_mode batch_size memory_budget_gb "
                         "strength_curve strength_envelope pulse_bands motion_bands pulse_audio motion_audio "
                         "blend_latents blend_by blend_smoothing blend_mode analysis",
    "WriteSoundVideo": "generator keyframes audio fps pulse motion noise_mode batch_size crf filename_prefix "
                       "strength_curve strength_envelope pulse_bands motion_bands pulse_audio motion_audio "
                       "blend_latents blend_by blend_smoothing blend_mode analysis",
    "AlignFace": "image faces size",
    "PasteBack": "edited face feather photo",
    "WhereIsTheSound": "image target clip threshold detail opacity",
    "SearchBySound": "target clip top folder images",
    "HearFrames": "audio encoder fps window smooth",
    "InstantVideo": "frame_sounds audio generator latent clip table_file neutral alpha beta layers pulse motion "
                    "noise_mode batch_size memory_budget_gb table neutral_embedding alpha_curve analysis "
                    "alpha_curve_name",
    "TeachSounds": "encoder clip sounds path name epochs seed",
    "AnalyzeSound": "audio fps bands min_bpm max_bpm sections meaning pulse motion beat",
    "SemanticCurves": "analysis audio encoder clip labels template window hop embedding",
    "SoundCurve": "analysis curve normalise window threshold ceiling attack hold release smoothing gamma invert "
                  "schedule_format frame",
    "PlotSoundCurves": "analysis curves width lane_height",
    "ComputeStyleSpaceTable": "generator clip method samples seed",
    "SoundDirection": "target clip neutral table generator neutral_embedding estimate_images",
    "ApplyDirection": "generator latent direction alpha beta layers styles",
}


def _declared(cls) -> dict:
    spec = cls.INPUT_TYPES()
    return {**spec["required"], **spec.get("optional", {})}


def test_saved_node_ids_and_input_names_still_exist(pack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, inputs in SAVED_NAMES.items():
        cls = pack.NODE_CLASS_MAPPINGS[f"SoundCLIP_{name}"]
        declared = list(_declared(cls))
        assert declared[:len(inputs.split())] == inputs.split(), name


def test_every_node_has_a_description_and_every_input_a_tooltip(pack, tmp_path, monkeypatch):
    """ComfyUI shows DESCRIPTION (not the docstring) in the node library and on hover, and each input's
    tooltip beside it."""
    monkeypatch.chdir(tmp_path)
    inputs = 0
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert isinstance(cls.__dict__.get("DESCRIPTION"), str) and len(cls.DESCRIPTION) > 40, node_id
        for name, declaration in _declared(cls).items():
            inputs += 1
            tooltip = declaration[1].get("tooltip", "") if len(declaration) > 1 else ""
            assert len(tooltip) > 10, f"{node_id}.{name} has no tooltip"
    assert inputs == sum(len(v.split()) for v in SAVED_NAMES.values())


def test_nodes_are_grouped_by_stage_and_titled_by_what_they_do(pack):
    categories = {node_id.removeprefix("SoundCLIP_"): cls.CATEGORY for node_id, cls in pack.NODE_CLASS_MAPPINGS.items()}
    stages = ("loaders", "sound", "embedding", "latent", "edit", "video", "analysis")
    assert set(categories.values()) == {f"SoundCLIP/{stage}" for stage in stages}
    assert all(categories[n] == "SoundCLIP/loaders" for n in categories if n.endswith(("Loader", "Load")))
    assert categories["LatentOptimize"] == "SoundCLIP/edit" and categories["SoundKeyframes"] == "SoundCLIP/video"
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["SoundCLIP_StyleGANLoad"] == "Load StyleGAN (SoundCLIP)"  # 2 and 3
    assert all(title.endswith(" (SoundCLIP)") for title in pack.NODE_DISPLAY_NAME_MAPPINGS.values())


def test_seeds_keep_the_frontend_control_and_the_web_extension_is_exported(pack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seeds = [(node_id, d) for node_id, cls in pack.NODE_CLASS_MAPPINGS.items()
             for name, d in _declared(cls).items() if name == "seed"]
    assert len(seeds) == 6  # LatentFromSeed, LatentOptimize, InvertImage, SoundKeyframes, TeachSounds,
    # ComputeStyleSpaceTable
    for node_id, (kind, options) in seeds:
        # the frontend reads a string here as the control widget's *name*: "fixed" comes from web/soundclip.js
        assert kind == "INT" and options["control_after_generate"] is True, node_id
    assert pack.WEB_DIRECTORY == "./web" and (ROOT / "web" / "soundclip.js").is_file()


def test_fresh_loaders_default_to_the_papers_models(pack, tmp_path, monkeypatch):
    """A freshly added loader shows its `default` (else the first entry): the paper's encoder with the CLIP
    it was trained against, not the 537 MB AudioCLIP file that sorts first."""
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    def fresh(node: str, name: str):
        options, settings = _declared(pack.NODE_CLASS_MAPPINGS[f"SoundCLIP_{node}"])[name]
        value = settings.get("default", options[0])
        assert value in options
        return value, options

    encoder, encoders = fresh("AudioEncoderLoader", "encoder_name")
    clip, clips = fresh("CLIPLoader", "clip_name")
    assert (encoder, clip, fresh("CLIPLoader", "arch")[0]) == ("resnet18_57.pth", "ViT-B-32.pt", "ViT-B-32")
    assert encoders[0].startswith("AudioCLIP") and clips[0].startswith("AudioCLIP")  # what the old default was
    assert fresh("StyleGANLoad", "generator_name")[0] == "landscape.pt"
    assert fresh("PerceptualLoader", "vgg_name")[0] == "vgg16-397923af.pth"
    assert fresh("PerceptualLoader", "lpips_weights")[0] == "vgg.pth"


def test_pack_does_not_shadow_comfyui_nodes_module(tmp_path):
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
                            env={"PATH": "", "HF_HUB_OFFLINE": "1", "PYTHONPATH": _this_checkouts_core(tmp_path)})
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


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(lines: list[str]) -> dict[str, str]:
    """'name>=1.2' / 'name==1.2' lines (comments, markers and upper bounds aside) -> {normalised name: version}."""
    out = {}
    for line in lines:
        line = line.split("#")[0].split(";")[0].strip()
        if line:
            name, _, version = line.replace("==", ">=").partition(">=")
            release = version.split(",")[0].strip().split(".")
            while len(release) > 1 and release[-1] == "0":  # 2.4.0 and 2.4 are the same release
                release.pop()
            out[name.strip().lower().replace("-", "_")] = ".".join(release)
    return out


def _optional_extras() -> dict[str, str]:
    """The packages of the optional feature extras (not `test`): imported on first use, through require()."""
    extras = _pyproject()["project"]["optional-dependencies"]
    return _requirements([line for name, lines in extras.items() if name != "test" for line in lines])


def test_requirements_txt_and_oldest_stack_agree_with_pyproject():
    """ComfyUI-Manager installs requirements.txt, pip installs pyproject.toml, CI tests .ci/oldest.txt:
    the same packages, the same lower bounds, and the oldest stack pins exactly those bounds, the optional
    extras' too (which the test extra pulls, so CI tests them)."""
    declared = _requirements(_pyproject()["project"]["dependencies"])
    assert "torchaudio" not in declared
    assert _requirements((ROOT / "requirements.txt").read_text().splitlines()) == declared
    oldest = _requirements((ROOT / ".ci" / "oldest.txt").read_text().splitlines())
    extras = _optional_extras()
    assert extras and not set(extras) & set(declared)
    assert {name: oldest[name] for name in {**declared, **extras}} == {**declared, **extras}
    # torchvision: open_clip's, pinned to the torch it pairs with
    assert set(oldest) - set(declared) == {"torchvision", *extras}
    test_extra = _requirements(_pyproject()["project"]["optional-dependencies"]["test"])
    assert {name: test_extra.get(name) for name in extras} == extras


def _third_party_imports() -> dict[str, str]:
    """Top-level modules the pack and core import unconditionally or through optional.require(), mapped to the
    file that first does; imports inside `try: ... except ImportError` (ComfyUI's own modules, psutil) are the
    optional ones with a fallback and are left out."""
    import ast

    found: dict[str, str] = {}
    sources = [ROOT / "__init__.py", *(ROOT / "nodes").rglob("*.py"), *(ROOT / "soundclip_core").rglob("*.py")]
    for path in sorted(sources):
        tree = ast.parse(path.read_text())
        guarded = {id(node) for t in ast.walk(tree) if isinstance(t, ast.Try)
                   and any(isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                           for h in t.handlers) for stmt in t.body for node in ast.walk(stmt)}
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import) and id(node) not in guarded:
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and id(node) not in guarded:
                names = [node.module]
            elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and node.args
                  and isinstance(node.args[0], ast.Constant)):
                names = [node.args[0].value]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("soundclip_core", "__future__"):
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_requirements_cover_every_package_the_pack_imports():
    """ComfyUI-Manager installs only requirements.txt: every package the pack imports without a fallback must
    be there (under its distribution name), or be an optional extra of pyproject.toml (librosa: only the
    musical analysis needs it, and fails without it naming the pip command), and nothing ComfyUI must not
    get (torchaudio)."""
    distributions = {"PIL": "pillow", "open_clip": "open_clip_torch"}
    declared = _requirements((ROOT / "requirements.txt").read_text().splitlines())
    imported = {distributions.get(m, m).lower(): where for m, where in _third_party_imports().items()}
    assert {"torch", "open_clip_torch", "av", "soundfile", "soxr", "timm"} <= set(imported)
    missing = {name: where for name, where in imported.items() if name not in declared and name not in
               _optional_extras()}
    assert not missing, f"imported but not in requirements.txt: {missing}"
    assert "torchaudio" not in declared and "comfyui_frontend_package" not in declared


def test_ci_runs_the_readme_set_up_commands():
    commands = subprocess.run(["bash", str(ROOT / ".ci" / "readme_commands.sh"), str(ROOT / "README.md")],
                              capture_output=True, text=True, check=True).stdout.splitlines()
    install = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && soundclip selftest'
    assert commands == [install, "python -m pytest -q"]
    assert 'commands=$(bash .ci/readme_commands.sh README.md)' in (ROOT / ".ci" / "run").read_text()


def test_pack_imports_and_works_with_optional_packages_missing(tmp_path):
    """A ComfyUI without open_clip, timm, soundfile, soxr or av (or with a broken build of one) still gets
    every node; only the nodes that need a missing package fail, naming the pip command."""
    code = f"""
import importlib.util, sys
for name in ("open_clip", "timm", "soundfile", "soxr", "av"):
    sys.modules[name] = None  # `import name` raises ImportError
spec = importlib.util.spec_from_file_location("pack", r"{ROOT / '__init__.py'}", submodule_search_locations=[r"{ROOT}"])
pack = importlib.util.module_from_spec(spec); sys.modules["pack"] = pack; spec.loader.exec_module(pack)
nodes = pack.NODE_CLASS_MAPPINGS
for cls in nodes.values():
    cls.INPUT_TYPES()
from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig
generator = Generator(GeneratorConfig(resolution=8, z_dim=16, w_dim=16, mapping_layers=2, channels=[8, 8]))
(latent,) = nodes["SoundCLIP_LatentFromSeed"]().sample(generator, 1, 2, 0.7)
(image,) = nodes["SoundCLIP_Decode"]().decode(generator, latent, "const")
assert image.shape == (2, 8, 8, 3), image.shape
from soundclip_core.errors import MissingDependency
for node, args, package in [("SoundCLIP_LoadAudio", (r"{tmp_path / 'x.wav'}", 0.0, 0.0), "soundfile"),
                            ("SoundCLIP_AudioEncoderLoader", None, "timm")]:
    try:
        if args is None:
            from soundclip_core.encoders import build_audio_encoder
            build_audio_encoder("soundclip")
        else:
            cls = nodes[node]
            getattr(cls(), cls.FUNCTION)(*args)
    except MissingDependency as error:
        assert f"pip install {{package}}" in str(error), str(error)
    else:
        raise AssertionError(node + " did not report the missing package")
print(len(nodes))
"""
    (tmp_path / "x.wav").write_bytes(b"RIFF")
    result = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True, text=True,
                            env={"PATH": "", "HF_HUB_OFFLINE": "1", "PYTHONPATH": _this_checkouts_core(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) == len(import_pack("soundclip_pack_full").NODE_CLASS_MAPPINGS)


def test_suite_runs_in_a_clone_whose_folder_is_no_package_name(tmp_path):
    """GitHub's zip and many clones are named like `soundclip-main`: pytest then imports the pack's
    `__init__.py` as a bare module, which must not fail (it once broke every test)."""
    import shutil

    clone = tmp_path / "soundclip-main"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache")
    shutil.copytree(ROOT, clone, ignore=ignore)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/core/encoders/test_audio_encoders.py::test_window_policy"],
                            cwd=clone, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 passed" in result.stdout


def test_registry_metadata_is_complete_and_names_one_repository():
    """What the Comfy Registry and ComfyUI-Manager read (ComfyUI's comfy_config/types.py: PublisherId,
    DisplayName, Icon, includes; the project's Repository URL), and the README's clone line for the same
    repository, the placeholder owner explained."""
    import re

    config = _pyproject()
    comfy = config["tool"]["comfy"]
    assert re.fullmatch(r"[a-z][a-z0-9-]*", comfy["PublisherId"])
    assert comfy["DisplayName"] == "SoundCLIP: sound-guided StyleGAN"
    repository = config["project"]["urls"]["Repository"]
    owner, name = re.fullmatch(r"https://github\.com/([A-Za-z0-9-]+)/([A-Za-z0-9._-]+)", repository).groups()
    icon = re.fullmatch(rf"https://raw\.githubusercontent\.com/{owner}/{name}/main/(.+)", comfy["Icon"]).group(1)
    from PIL import Image

    with Image.open(ROOT / icon) as image:  # the registry shows a square icon of at most 400 px
        assert image.size[0] == image.size[1] <= 400
    assert comfy["includes"] and all((ROOT / folder).is_dir() for folder in comfy["includes"])
    readme = (ROOT / "README.md").read_text()
    assert "git clone https://github.com/<owner>/soundclip soundclip" in readme and "`<owner>` is" in readme
    assert 'search for\n  **SoundCLIP**' in readme and "Install via Git URL" in readme
    assert "<this repository>" not in readme
