"""Build hook only (metadata lives in pyproject.toml): a wheel carries the weights manifest.

The manifest's home is the checkout's `weights/` folder (ComfyUI users clone the pack and read it
there); a built wheel has no checkout, so the file is copied into `soundclip_core/weights/`.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithManifest(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "soundclip_core" / "weights" / "manifest.json"
        self.mkpath(str(target.parent))
        self.copy_file(str(Path(__file__).parent / "weights" / "manifest.json"), str(target))


setup(cmdclass={"build_py": BuildWithManifest})
