"""Musical analysis speed and memory on the CPU: seconds to analyse 1, 10 and 60 minutes of a synthetic
song (44.1 kHz stereo, 20 s parts cycling: a chord with accented clicks at 120 BPM, gated noise with kicks,
another chord with hi-hats), and peak memory, each in a fresh process; optionally HPSS, and librosa's own
calls for the same features side by side (`--librosa`, on the shortest duration), and the semantic curves
(`--semantic`: three labels' zero-shot curves from the video's 5 s windows, the paper's ResNet-18 encoder with
random weights) beside the video's own window encoding (encode_windows, one window at a time), both on the
shortest duration.

    python benchmarks/analysis.py [--minutes 1 10 60] [--hpss] [--librosa] [--semantic]

Peak memory is the process's peak resident set during the analysis (VmHWM, reset just before it) less its
resident set just before it, with the song already in memory: what the analysis itself adds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
RATE = 44100


def song(minutes: float) -> np.ndarray:
    """[2, T] float32: a minute of three 20 s parts, tiled."""
    from music_signals import chord, click, click_track, hihat, kick, place

    part = 20 * RATE
    t = np.arange(part) / RATE
    clicks, _ = click_track(120, 20.0, RATE, accent_every=4)
    first = 0.3 * chord(20, RATE) + clicks
    gate = np.floor(t * 8) % 2 == 0
    second = 0.2 * np.random.default_rng(0).standard_normal(part) * gate
    second = place(second, 0.8 * kick(RATE), np.arange(0.0, 20, 0.5), RATE)
    third = 0.3 * chord(20, RATE, (220.0, 277.18, 329.63, 415.3))
    third = place(third, hihat(RATE), np.arange(0.25, 20, 0.25), RATE)
    minute = np.concatenate([first, second, third]).astype(np.float32)
    del click
    mono = np.tile(minute, int(np.ceil(minutes)))[:int(minutes * 60 * RATE)]
    return np.stack([mono, np.roll(mono, 7)])  # stereo, the channels slightly apart


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def reset_peak() -> bool:
    """Restart the kernel's count of peak resident memory (VmHWM; Linux 4.0+): making the song must not count."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(minutes: float, what: str) -> dict:
    from soundclip_core.audio import Audio

    audio = Audio(torch.from_numpy(song(minutes)), RATE, "benchmark")
    if what == "analyze":
        from soundclip_core.analysis import analyze

        analyze(Audio(torch.from_numpy(song(0.1)), RATE))  # librosa's first calls compile (numba): not timed
    elif what == "librosa":
        librosa_features(Audio(torch.from_numpy(song(0.1)), RATE))
    elif what in ("semantic", "windows"):
        from soundclip_core.clip import TINY_SPACE, tiny_clip
        from soundclip_core.encoders import build_audio_encoder
        from soundclip_core.video import cut_windows

        encoder = build_audio_encoder("soundclip", device="cpu", embed_dim=64, space=TINY_SPACE)  # ResNet-18 trunk
        clip = tiny_clip()
        spans = cut_windows(audio).spans
    before = resident_bytes()
    reset = reset_peak()
    start = time.perf_counter()
    if what == "analyze":
        result = analyze(audio)
        extra = {"tempo": result.tempo, "beats": len(result.beats.times), "sections": len(result.sections),
                 "meter": result.bars.meter}
    elif what == "hpss":
        from soundclip_core.analysis import hpss

        hpss(audio)
        extra = {}
    elif what == "semantic":
        from soundclip_core.analysis import semantic_curves

        curves = semantic_curves(encoder, audio, spans, 24, 24 * int(audio.duration) + 1, clip=clip,
                                 labels=["rain", "applause", "violin"])
        extra = {"windows": len(spans), "curves": len(curves)}
    elif what == "windows":
        from soundclip_core.video import encode_windows

        extra = {"windows": len(encode_windows(encoder, audio, cut_windows(audio)).vectors)}
    else:
        extra = librosa_features(audio)
    seconds = time.perf_counter() - start
    peak = peak_bytes()
    return {"peak_reset": reset, "minutes": minutes, "what": what, "seconds": seconds,
            "peak_above_input_mb": (peak - before) / 2**20, "input_mb": audio.waveform.numel() * 4 / 2**20, **extra}


def librosa_features(audio) -> dict:
    """librosa's own calls for the same features (its defaults, hop 512), one after another as a user would."""
    import librosa

    y = audio.mono().resample(22050).waveform[0].numpy()
    onset = librosa.onset.onset_strength(y=y, sr=22050)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=22050)
    librosa.feature.rms(y=y)
    librosa.feature.spectral_centroid(y=y, sr=22050)
    chroma = librosa.feature.chroma_stft(y=y, sr=22050)
    mfcc = librosa.feature.mfcc(y=y, sr=22050, n_mfcc=13)
    librosa.onset.onset_detect(onset_envelope=onset, sr=22050)
    librosa.segment.agglomerative(np.vstack([chroma, mfcc]), 3)
    return {"tempo": float(np.atleast_1d(tempo)[0]), "beats": len(beats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", nargs="+", type=float, default=[1, 10, 60])
    parser.add_argument("--hpss", action="store_true", help="also time HPSS (slow: medians)")
    parser.add_argument("--librosa", action="store_true", help="librosa's own calls on the shortest duration")
    parser.add_argument("--semantic", action="store_true", help="semantic curves beside the video's window encoding")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(float(args.worker[0]), args.worker[1])))
        return
    runs = [(m, "analyze") for m in args.minutes]
    if args.hpss:
        runs += [(min(args.minutes), "hpss")]
    if args.librosa:
        runs += [(min(args.minutes), "librosa")]
    if args.semantic:
        runs += [(min(args.minutes), "semantic"), (min(args.minutes), "windows")]
    print("| what | minutes | seconds | peak memory above the input | input | result |")
    print("| --- | --- | --- | --- | --- | --- |")
    for minutes, what in runs:
        out = subprocess.run([sys.executable, __file__, "--worker", str(minutes), what], capture_output=True,
                             text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        rest = {k: v for k, v in r.items() if k not in ("minutes", "what", "seconds", "peak_above_input_mb",
                                                        "input_mb", "peak_reset")}
        if not r["peak_reset"]:
            rest["note"] = "peak since the process began (VmHWM could not be reset): includes making the song"
        print(f"| {what} | {minutes:g} | {r['seconds']:.1f} | {r['peak_above_input_mb']:.0f} MB | "
              f"{r['input_mb']:.0f} MB | {rest} |", flush=True)


if __name__ == "__main__":
    main()
