"""Time to encode 10 s of audio with each encoder (random weights, real architecture sizes).

    python benchmarks/encoders.py [--audioclip /path/to/AudioCLIP]

With `--audioclip` (a checkout of AndreyGuzhov/AudioCLIP; its code is imported from there, never
copied here) the official ESResNeXtFBSP head gets the same random weights: the script prints how
far its spectrogram and embedding are from ours, and its time for the same 10 s.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.audio import Audio  # noqa: E402
from soundclip_core.encoders import ENCODER_KINDS, build_audio_encoder  # noqa: E402

RATE = 44100


def best_ms(fn, repeat: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def official_audioclip_head(checkout: Path) -> torch.nn.Module:
    """The official head, imported without its training framework, dataset loaders or tokenizer."""
    sys.path.insert(0, str(checkout))
    trainer = types.ModuleType("ignite_trainer")
    trainer.AbstractNet = type("AbstractNet", (torch.nn.Module,), {})
    trainer.AbstractTransform = type("AbstractTransform", (), {})
    datasets = types.ModuleType("utils.datasets")
    datasets.__spec__ = importlib.machinery.ModuleSpec("utils.datasets", None)
    model = types.ModuleType("model")
    model.__path__ = [str(checkout / "model")]
    sys.modules.update({"ignite_trainer": trainer, "utils.datasets": datasets, "model": model})
    from model.esresnet.fbsp import ESResNeXtFBSP

    return ESResNeXtFBSP(n_fft=2048, hop_length=561, win_length=1654, window="blackmanharris", normalized=True,
                         onesided=True, spec_height=-1, spec_width=-1, num_classes=1024, apply_attention=True,
                         pretrained=False).eval()


def compare_audioclip(checkout: Path) -> None:
    ours = build_audio_encoder("audioclip", device="cpu", seed=1)
    with torch.no_grad():  # trained-looking filters and batch norms, so nothing is trivially the identity
        ours.net.fbsp.m.uniform_(0.2, 2.7)
        ours.net.fbsp.fb.uniform_(0.5, 2.5)
        for module in ours.net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    official = official_audioclip_head(checkout)
    official.load_state_dict(ours.net.state_dict())
    y = torch.randn(1, RATE * 5) * 0.1
    with torch.no_grad():
        reference = F.normalize(official(y[None] * 32768.0), dim=-1)  # official input: int16-range [B, C, T]
        spec_reference = official._forward_pre_processing(y[None] * 32768.0)[:, 0]
        spec_difference = (ours.net.spectrogram_db(y) - spec_reference).abs().max()
    difference = (ours.encode(Audio(y, RATE)).vectors - reference).abs().max()
    print(f"audioclip vs official head, 5 s: embedding max |diff| {difference:.1e}, "
          f"spectrogram max |diff| {spec_difference:.1e} dB")
    clip = torch.randn(1, RATE * 10) * 0.1
    with torch.no_grad():
        official_ms = best_ms(lambda: [official(clip[None, :, s:s + RATE * 5] * 32768.0) for s in (0, RATE * 5)])
    ours_ms = best_ms(lambda: ours.encode(Audio(clip, RATE)))
    print(f"audioclip 10 s (two 5 s windows): ours {ours_ms:.0f} ms, official head {official_ms:.0f} ms "
          f"({ours_ms / official_ms:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audioclip", type=Path, help="a checkout of AndreyGuzhov/AudioCLIP to compare with")
    args = parser.parse_args()
    audio = Audio(torch.randn(2, 48000 * 10) * 0.1, 48000)  # 10 s stereo at 48 kHz: resampling included
    for kind in ENCODER_KINDS:
        encoder = build_audio_encoder(kind, device="cpu")
        print(f"{kind:10} 10 s of audio: {best_ms(lambda encoder=encoder: encoder.encode(audio)):.0f} ms "
              f"({torch.get_num_threads()} CPU threads)")
    if args.audioclip:
        compare_audioclip(args.audioclip)


if __name__ == "__main__":
    main()
