"""TF-era pickles: load time of our restricted loader and, with --nvidia, agreement with (and the time of)
NVIDIA's own conversion, stylegan2-ada-pytorch legacy.py, on the same file (run from a checkout, never vendored).

The file is written here in the real TF layout (tests/stylegan_formats.py), random weights, config-f channels
at --resolution with a 512-d latent, unconditional or LabelEmbed-conditional (legacy.py reads no LabelConcat).

    python benchmarks/tf_pickle.py [--resolution 256] [--nvidia DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from stylegan_formats import save_tf_pickle, tf_generator_variables, tf_static_kwargs  # noqa: E402

from soundclip_core.generators import load_generator  # noqa: E402
from soundclip_core.generators.stylegan2.config import config_f_channels  # noqa: E402


def nvidia_loader(checkout: str):
    """legacy.py's TF conversion of Gs (its unpickler is unrestricted: only for files we wrote)."""
    sys.modules.setdefault("requests", types.ModuleType("requests"))  # dnnlib.util imports it for downloads
    sys.path.insert(0, checkout)
    for name in [m for m in sys.modules if m.startswith("dnnlib")]:
        del sys.modules[name]  # the stand-in Network class used for writing
    import legacy

    def load(path: Path):
        with open(path, "rb") as f:
            return legacy.convert_tf_generator(legacy._LegacyUnpickler(f).load()[2]).eval()

    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--nvidia", help="an NVlabs/stylegan2-ada-pytorch checkout")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("none", "embed"):
            c_dim = 10 if label == "embed" else 0
            v = tf_generator_variables(args.resolution, z_dim=512, w_dim=512, mapping_layers=8, c_dim=c_dim,
                                       label=label, channels=config_f_channels(args.resolution))
            path = save_tf_pickle(v, Path(tmp) / f"{label}.pkl", tf_static_kwargs(v))
            size = path.stat().st_size / 2 ** 20
            start = time.perf_counter()
            ours = load_generator(path, "cpu")
            ours_s = time.perf_counter() - start
            print(f"{label:5s} {args.resolution} px, {size:.0f} MiB: soundclip load {ours_s:.2f} s")
            if not args.nvidia:
                continue
            load = nvidia_loader(args.nvidia)
            start = time.perf_counter()
            theirs = load(path)
            theirs_s = time.perf_counter() - start
            z = torch.randn(4, 512, generator=torch.Generator().manual_seed(0))
            c = torch.eye(c_dim)[:4] if c_dim else torch.zeros(4, 0)
            with torch.no_grad():
                for psi in (1.0, 0.7):
                    diff = (theirs.mapping(z, c, truncation_psi=psi)[:, 0]
                            - ours.mapping(z, c if c_dim else None, truncation_psi=psi)).abs().max()
                    print(f"      mapping psi={psi}: max |ours - legacy.py| = {diff:.2e}")
                ws = ours.ws_from_seed(1, batch_size=2, c=c[:1] if c_dim else None)
                image = theirs.synthesis(ws, noise_mode="const", force_fp32=True)
                diff = (image - ours.synthesis(ws, noise_mode="const")).abs().max()
            print(f"      synthesis (const noise): max |ours - legacy.py| = {diff:.2e} (image range "
                  f"{image.abs().max():.2f}); legacy.py load {theirs_s:.2f} s")


if __name__ == "__main__":
    main()
