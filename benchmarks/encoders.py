"""Time to encode 10 s of audio (random weights, real architecture sizes), and a text prompt.

    python benchmarks/encoders.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.encoders import ENCODER_KINDS, build_audio_encoder  # noqa: E402


def main() -> None:
    waveform = torch.randn(2, 48000 * 10) * 0.1  # 10 s stereo at 48 kHz: resampling included
    for kind in ENCODER_KINDS:
        encoder = build_audio_encoder(kind, device="cpu")
        encoder.encode(waveform, 48000)
        start = time.perf_counter()
        for _ in range(3):
            encoder.encode(waveform, 48000)
        print(f"{kind:10} 10 s of audio: {(time.perf_counter() - start) / 3 * 1000:.0f} ms "
              f"({torch.get_num_threads()} CPU threads)")


if __name__ == "__main__":
    main()
