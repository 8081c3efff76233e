"""Evaluation encoding speed: clips/s per encoder kind and the projected time for ESC-50 (2000 clips of 5 s).

    python benchmarks/evaluate.py [--clips 32] [--kinds soundclip wav2clip audioclip] [--batch 16] [--audioset 32]

Random weights with the real architectures, on ESC-50-shaped clips (5 s, 44.1 kHz mono WAV) written to a
temporary folder. Side by side in one run: decoding alone; the loop a user would otherwise write (decode one
clip, `AudioEncoder.encode` it, next); and `embed_clips` (batched network, decoding ahead in threads, and
inline without threads). The AudioSet-shaped row: a generated AudioSet folder (class index, eval segment CSV,
10 s clips at 32 kHz named Y<id>.wav as PANNs saves them) read by `open_dataset` and embedded by `embed_clips`
with the resumable cache, as `soundclip evaluate --dataset audioset` does: clips/s streaming, the projected time
for the 20,371 eval clips, the peak resident memory, and the time to take up a finished run from its cache.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core.datasets import load_clip_audio, open_dataset  # noqa: E402
from soundclip_core.encoders import ENCODER_KINDS, build_audio_encoder  # noqa: E402
from soundclip_core.evaluate.embed import embed_clips  # noqa: E402

ESC50_CLIPS, RATE, SECONDS = 2000, 44100, 5.0
AUDIOSET_EVAL, AUDIOSET_RATE, AUDIOSET_SECONDS = 20371, 32000, 10.0


def write_clips(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        t = np.arange(int(RATE * SECONDS)) / RATE
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + rng.normal(0, 0.05, t.shape)
        paths.append(folder / f"{i}.wav")
        soundfile.write(paths[-1], y.astype(np.float32), RATE, subtype="PCM_16")  # ESC-50 stores 16-bit PCM
    return paths


def report(name: str, count: int, seconds: float) -> float:
    rate = count / seconds
    print(f"  {name:34} {rate:7.2f} clips/s   ESC-50 projected {ESC50_CLIPS / rate / 60:6.1f} min")
    return rate


def write_audioset(folder: Path, count: int) -> Path:
    """An AudioSet folder of `count` eval clips (three classes, some rows with two labels)."""
    rng = np.random.default_rng(1)
    mids = ("/m/09x0r", "/m/015p6", "/m/01d3sd")
    (folder / "class_labels_indices.csv").write_text('index,mid,display_name\n0,/m/09x0r,"Speech"\n'
                                                     '1,/m/015p6,"Bird"\n2,/m/01d3sd,"Snore"\n')
    lines = ["# Segments csv created Sun Mar  5 10:54:31 2017", "# YTID, start_seconds, end_seconds, positive_labels"]
    t = np.arange(int(AUDIOSET_RATE * AUDIOSET_SECONDS)) / AUDIOSET_RATE
    for i in range(count):
        ytid = f"-{i:010d}"
        labels = ",".join(mids[j] for j in sorted({i % 3, (i * 7) % 3}))
        lines.append(f'{ytid}, 30.000, 40.000, "{labels}"')
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + rng.normal(0, 0.05, t.shape)
        soundfile.write(folder / f"Y{ytid}.wav", y.astype(np.float32), AUDIOSET_RATE, subtype="PCM_16")
    (folder / "eval_segments.csv").write_text("\n".join(lines) + "\n")
    return folder


def audioset_row(kind: str, root: Path, batch: int) -> None:
    encoder = build_audio_encoder(kind, device="cpu")
    paths = [c.audio for c in open_dataset("audioset", root).clips]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cache = root / "cache" / kind
    streamed = embed_clips(encoder, paths, batch_size=batch, cache=cache)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = len(paths) / streamed.seconds["wall"]
    start = time.perf_counter()
    embed_clips(encoder, paths, batch_size=batch, cache=cache)
    print(f"  {kind:10} AudioSet-shaped {rate:6.2f} clips/s   eval set ({AUDIOSET_EVAL} clips) projected "
          f"{AUDIOSET_EVAL / rate / 3600:5.1f} h   peak RSS {rss_after:.0f} MB (was {rss_before:.0f} MB)   "
          f"resume of the finished run {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--kinds", nargs="+", default=list(ENCODER_KINDS), choices=ENCODER_KINDS)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--audioset", type=int, default=32, help="clips of the AudioSet-shaped row (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.clips} clips of {SECONDS:g} s at {RATE} Hz, {torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory() as folder:
        paths = write_clips(Path(folder), args.clips)
        for threads in sorted({1, args.threads}):  # the worker threads decode with one torch thread each
            torch.set_num_threads(threads)
            start = time.perf_counter()
            for path in paths:
                load_clip_audio(path)
            report(f"decode only, {threads} torch thread(s)", len(paths), time.perf_counter() - start)
        torch.set_num_threads(args.threads)
        for kind in args.kinds:
            encoder = build_audio_encoder(kind, device="cpu")
            encoder.embed_inputs([encoder.prepare(load_clip_audio(paths[0]))])  # build the inference twin
            print(kind)
            start = time.perf_counter()
            loop = torch.cat([encoder.encode(load_clip_audio(p)).vectors for p in paths])
            baseline = report("one clip at a time (encode loop)", len(paths), time.perf_counter() - start)
            inline = embed_clips(encoder, paths, batch_size=args.batch, workers=0)
            report(f"embed_clips batch {args.batch}, inline decode", len(paths), inline.seconds["wall"])
            threaded = embed_clips(encoder, paths, batch_size=args.batch)
            rate = report(f"embed_clips batch {args.batch}, 2 threads", len(paths), threaded.seconds["wall"])
            difference = (threaded.vectors - loop).abs().max()
            s = inline.seconds
            print(f"  inline split: decode {s['decode']:.2f} s, frontend {s['frontend']:.2f} s, network "
                  f"{s['network']:.2f} s; speed-up over the loop {rate / baseline:.2f}x; max |diff| {difference:.1e}")
    if args.audioset:
        with tempfile.TemporaryDirectory() as folder:
            root = write_audioset(Path(folder), args.audioset)
            print(f"AudioSet-shaped: {args.audioset} clips of {AUDIOSET_SECONDS:g} s at {AUDIOSET_RATE} Hz, "
                  f"streamed with the resumable cache")
            for kind in args.kinds:
                audioset_row(kind, root, args.batch)


if __name__ == "__main__":
    main()
