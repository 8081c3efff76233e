"""Video speed on random config-f weights: seconds per keyframe optimisation step (all keyframes batched,
chunked), and frames per second of decoding (spline + synthesis, in batches) and of decoding + H.264
encoding to an mp4, next to the per-frame cost of the Decode node's way (a batch of 8 in chunks of 4).

With --instant (instead), the instant mode against the keyframe mode on the same song, whole jobs: the instant video
(every frame's window encoded, directions, edits, decode, mp4) is timed end to end; the keyframe video is its
measured render plus `--keyframe-steps` optimisation steps at the measured seconds per step of that song's
keyframes (300 real steps take many minutes on a CPU). Both as frames of video per second of work.

    python benchmarks/video.py [--sizes 256 1024] [--keyframes 4] [--chunk 4] [--steps 1] [--frames 8]
                               [--device cuda] [--instant [--song-seconds 4] [--fps 8]] [--music SECONDS]

With --region: each keyframe confined to where its window's sound is (video/regions.py): the seconds to locate one
mask per keyframe on the source image (once per video), and a keyframe step with those masks against one without.

With --music SECONDS: the same synthetic song of three parts (a chord with clicks, gated noise, another chord)
cut on its sections vs into fixed 5 s windows (hop 2.5 s), side by side: the analysis, the keyframe count and a
keyframe optimisation step for each, the frame controls (strength on rms, bass pulse on layers 0-3) and their
per-frame cost on the latents, and the peak memory the music adds (tracemalloc: the analysis streams).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import open_clip
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from soundclip_core import runtime  # noqa: E402
from soundclip_core.audio import Audio  # noqa: E402
from soundclip_core.clip import ClipModel  # noqa: E402
from soundclip_core.embedding import Embedding  # noqa: E402
from soundclip_core.generators.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from soundclip_core.manipulate import optimize  # noqa: E402
from soundclip_core.video import (  # noqa: E402
    InstantSettings,
    Keyframes,
    MusicFrames,
    cut_windows,
    decode_frames,
    frame_count,
    frame_latents,
    make_instant_video,
    music_reactive,
    music_windows,
    render_video,
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def keyframe_step_seconds(g, clip, keyframes: int, chunk: int, steps: int, device, region=None) -> float:
    """Median seconds of one optimisation step over `keyframes` targets (the first steps warm up); `region`: a
    manipulate Region confining each keyframe."""
    targets = Embedding(torch.randn(keyframes, 512, generator=torch.Generator().manual_seed(0)), clip.space)
    stamps: list[float] = []

    def stamp(step, total, preview, info):
        sync(device)
        stamps.append(time.perf_counter())

    optimize(g, clip, targets, g.ws_from_seed(0), steps=steps + 2, chunk_size=chunk, callback=stamp, region=region)
    return statistics.median(b - a for a, b in zip(stamps[1:], stamps[2:], strict=False))


def decode_node_ms(g, device) -> float:
    """ms per frame the way the Decode node decodes a batch of 8 latents (chunks of 4), best of 2."""
    ws = g.ws_from_seed(0, batch_size=8).to(device)
    best = float("inf")
    for _ in range(2):
        sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            torch.cat([g.synthesis(chunk) for chunk in ws.split(4)])
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best * 1000 / 8


def random_table(g, clip_dim: int = 512):
    """A table of random unit rows in the generator's real layout and statistics (its values do not change the
    time an edit takes; computing a real one at 256 px takes hours on a CPU)."""
    from soundclip_core.directions import ChannelTable, channel_statistics, generator_fingerprint, table_layout

    layout = table_layout(g)
    rows = torch.randn(layout.total, clip_dim, generator=torch.Generator().manual_seed(0))
    rows = torch.nn.functional.normalize(rows, dim=1)
    return ChannelTable(rows, layout, "openai/ViT-B-32", "gradient", generator_fingerprint(g),
                        channel_statistics(g, 2000), 1, 5.0)


def instant_against_keyframes(g, clip, device, args) -> None:
    """One row: the same song as an instant video and as a keyframe video (see the module doc)."""
    from soundclip_core.encoders import build_audio_encoder

    rate, seconds, fps = 22050, args.song_seconds, args.fps
    t = torch.arange(int(seconds * rate)) / rate
    song = Audio((0.3 * torch.sin(2 * math.pi * (220 + 110 * t) * t) + 0.05 * torch.randn(t.shape))[None], rate)
    n_frames = frame_count(song.waveform.shape[-1], rate, fps)
    encoder, table = build_audio_encoder("soundclip", device=device), random_table(g)
    neutral = Embedding(torch.randn(1, 512, generator=torch.Generator().manual_seed(1)), table.space)
    settings = InstantSettings(fps=fps, beta=0.0, batch_size=args.batch)
    marks: dict[str, float] = {}

    def progress(done, total, preview):
        if done >= n_frames and "heard" not in marks:
            sync(device)
            marks["heard"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        make_instant_video(Path(folder) / "i.mp4", g, encoder, song, g.ws_from_seed(0).to(device), table, neutral,
                           settings, progress=progress)
        instant = time.perf_counter() - start
        heard = marks["heard"] - start
        windows = len(cut_windows(song))
        step = keyframe_step_seconds(g, clip, windows, min(args.chunk, windows), args.steps, device)
        ws = torch.cat([g.ws_from_seed(i) for i in range(max(2, windows))]).cpu()
        keyframes = Keyframes(ws, torch.linspace(0, seconds, ws.shape[0], dtype=torch.float64), seconds, {})
        start = time.perf_counter()
        render_video(Path(folder) / "k.mp4", g, keyframes, song, fps, batch_size=args.batch)
        render = time.perf_counter() - start
    keyframe_job = args.keyframe_steps * step + render
    print(f"{device.type:6} {g.resolution:5} {n_frames:7} {heard * 1000 / n_frames:13.0f} "
          f"{(instant - heard) * 1000 / n_frames:14.0f} {n_frames / instant:12.2f} {render * 1000 / n_frames:15.0f} "
          f"{windows:4} {step:7.2f} {n_frames / keyframe_job:13.4f} {keyframe_job / instant:8.1f}", flush=True)


def three_part_song(seconds: float, rate: int = 22050) -> Audio:
    """A C major chord with clicks every 0.5 s, gated noise, an A major chord: a third of `seconds` each."""
    import numpy as np

    n = int(seconds / 3 * rate)
    t = np.arange(n) / rate
    chord = lambda freqs: sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)  # noqa: E731
    clicks = np.zeros(n)
    for at in range(0, n, rate // 2):
        burst = np.random.default_rng(at).standard_normal(min(int(0.02 * rate), n - at))
        clicks[at:at + len(burst)] += burst * np.exp(-np.arange(len(burst)) / rate / 0.003)
    gated = np.random.default_rng(0).standard_normal(n) * (np.floor(t * 8) % 2 == 0)
    y = np.concatenate([0.3 * chord((261.63, 329.63, 392.0)) + clicks, 0.3 * gated,
                        0.3 * chord((220.0, 277.18, 329.63, 415.3))])
    return Audio(torch.from_numpy(y.astype(np.float32))[None], rate, "three parts")


def music_rows(g, clip, seconds: float, chunk: int, steps: int, device, time_steps: bool = True) -> None:
    """The section-cut video vs fixed windows on one song (see the module doc); time_steps False: no
    optimisation step (the slow part on a CPU)."""
    import tracemalloc

    from soundclip_core.analysis import analyze

    audio = three_part_song(seconds)
    analyze(three_part_song(3.0))  # librosa's first calls compile (numba): not the song's cost
    start = time.perf_counter()
    analysis = analyze(audio)
    analysed = time.perf_counter() - start
    tracemalloc.start()  # a second run for the memory: tracing slows numpy's allocations down
    analyze(audio)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"music: {seconds:g} s song, analysis {analysed:.2f} s (peak {peak / 2**20:.0f} MiB traced), sections at "
          f"{', '.join(f'{t:.1f}' for t in analysis.sections)} s")
    print(f"{'cut':9} {'keyframes':>9} {'s/step':>8} {'controls s':>11} {'latents ms/frame':>17}")
    fps = 24.0
    n = frame_count(audio.waveform.shape[-1], audio.sample_rate, fps)
    for cut in ("fixed", "sections"):
        windows = music_windows(audio, analysis, cut)
        step = keyframe_step_seconds(g, clip, len(windows), chunk, steps, device) if time_steps else math.nan
        ws = torch.cat([g.ws_from_seed(i) for i in range(len(windows))]).cpu()
        keyframes = Keyframes(ws, torch.tensor(windows.times, dtype=torch.float64), audio.duration, {}, None,
                              g.ws_from_seed(99).cpu())
        start = time.perf_counter()
        reactive = None if cut == "fixed" else music_reactive(
            g, keyframes, audio, fps, n, MusicFrames(strength_curve="rms", pulse_bands="20-150Hz:0-3"), pulse=0.5,
            analysis=analysis)
        controls = time.perf_counter() - start
        start = time.perf_counter()
        for _ in frame_latents(keyframes, fps, n, reactive):
            pass
        latents = (time.perf_counter() - start) * 1000 / n
        print(f"{cut:9} {len(windows):9} {step:8.2f} {controls:11.2f} {latents:17.3f}", flush=True)


def region_row(g, clip, keyframes: int, chunk: int, steps: int, device) -> None:
    """One row of --region (see the module doc): random unit sound embeddings stand in for the windows'."""
    from soundclip_core.video.regions import LocatedRegion, window_regions

    sounds = Embedding(torch.nn.functional.normalize(torch.randn(keyframes, 512, generator=torch.Generator()
                                                                 .manual_seed(1)), dim=1), clip.space)
    w = g.ws_from_seed(0).to(device)
    window_regions(LocatedRegion(by_sound=True), g, clip, w, sounds)  # warm-up
    sync(device)
    start = time.perf_counter()
    region, masks = window_regions(LocatedRegion(by_sound=True), g, clip, w, sounds)
    sync(device)
    located = time.perf_counter() - start
    before = keyframe_step_seconds(g, clip, keyframes, chunk, steps, device)  # free, held, free again: the two
    held = keyframe_step_seconds(g, clip, keyframes, chunk, steps, device, region)  # free runs show the noise
    after = keyframe_step_seconds(g, clip, keyframes, chunk, steps, device)
    free = (before + after) / 2
    print(f"{device.type:6} {g.resolution:5} {keyframes:4} {located:10.2f} {before:7.2f}/{after:<7.2f} {held:12.2f} "
          f"{held / free:7.2f} {float(masks.mean()):10.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--keyframes", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-steps", action="store_true", help="only time decoding and writing")
    parser.add_argument("--device", nargs="+", help="devices to time, e.g. cuda (default: cpu, and cuda if present)")
    parser.add_argument("--instant", action="store_true", help="time the instant mode against the keyframe mode "
                                                                 "(instead of the keyframe table)")
    parser.add_argument("--song-seconds", type=float, default=4.0, help="--instant: the song's length")
    parser.add_argument("--fps", type=float, default=8.0, help="--instant: frames per second of both videos")
    parser.add_argument("--keyframe-steps", type=int, default=300, help="--instant: the keyframe mode's steps")
    parser.add_argument("--region", action="store_true", help="only the located-region rows (see above)")
    parser.add_argument("--music", type=float, metavar="SECONDS",
                        help="only the section-cut vs fixed-window comparison on a song this long (e.g. 30)")
    args = parser.parse_args()
    devices = [runtime.pick_device(d) for d in args.device] if args.device else (
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []))
    if args.instant:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
        instant_rows(devices, args)
        return
    if args.region:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; {args.keyframes} keyframes in chunks "
              f"of {args.chunk}")
        print(f"{'device':6} {'px':>5} {'kfs':>4} {'locate s':>10} {'s/step free':>15} {'s/step held':>12} "
              f"{'ratio':>7} {'mask area':>10}")
        for device in devices:
            torch.manual_seed(0)
            model = open_clip.create_model("ViT-B-32-quickgelu").eval().requires_grad_(False).to(device)
            clip = ClipModel(model, "openai/ViT-B-32", "random ViT-B-32")
            for size in args.sizes:
                torch.manual_seed(0)
                g = Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False).to(device)
                region_row(g, clip, args.keyframes, args.chunk, args.steps, device)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; {args.keyframes} keyframes in chunks "
          f"of {args.chunk}, {args.frames} frames in batches of {args.batch}")
    print(f"{'device':6} {'px':>5} {'s/step':>8} {'s/keyframe-step':>16} {'Decode ms/frame':>16} "
          f"{'ours ms/frame':>14} {'decode fps':>11} {'+mp4 fps':>9}")
    for device in devices:
        torch.manual_seed(0)
        model = open_clip.create_model("ViT-B-32-quickgelu").eval().requires_grad_(False).to(device)
        clip = ClipModel(model, "openai/ViT-B-32", "random ViT-B-32")
        if args.music:
            for size in args.sizes:
                torch.manual_seed(0)
                g = Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False).to(device)
                print(f"{device.type}, {size} px:")
                music_rows(g, clip, args.music, args.chunk, args.steps, device, not args.no_steps)
            continue
        for size in args.sizes:
            torch.manual_seed(0)
            g = Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False).to(device)
            step = math.nan if args.no_steps else keyframe_step_seconds(g, clip, args.keyframes, args.chunk,
                                                                         args.steps, device)
            node_ms = decode_node_ms(g, device)
            fps = 8.0
            seconds = args.frames / fps
            ws = torch.cat([g.ws_from_seed(i) for i in range(3)]).cpu()
            keyframes = Keyframes(ws, torch.tensor([0.0, seconds / 2, seconds], dtype=torch.float64), seconds, {})
            decode = float("inf")
            for _ in range(2):  # best of 2, as the Decode node's timing
                sync(device)
                start = time.perf_counter()
                for _ in decode_frames(g, keyframes, fps, args.frames, batch_size=args.batch):
                    sync(device)
                decode = min(decode, time.perf_counter() - start)
            audio = Audio(torch.randn(1, int(seconds * 44100)) * 0.1, 44100)
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                render_video(Path(folder) / "v.mp4", g, keyframes, audio, fps, batch_size=args.batch)
                written = time.perf_counter() - start
            print(f"{device.type:6} {size:5} {step:8.2f} {step / args.keyframes:16.2f} {node_ms:16.0f} "
                  f"{decode * 1000 / args.frames:14.0f} {args.frames / decode:11.2f} {args.frames / written:9.2f}",
                  flush=True)


def instant_rows(devices, args) -> None:
    """The instant mode against the keyframe mode, per device and size (one table after the keyframe one)."""
    print(f"\ninstant vs keyframe video of one {args.song_seconds:g} s song at {args.fps:g} fps (keyframe mode: "
          f"{args.keyframe_steps} steps at the measured s/step)")
    print(f"{'device':6} {'px':>5} {'frames':>7} {'hear ms/frame':>13} {'edit+mp4 ms/f':>14} {'instant fps':>12} "
          f"{'kf render ms/f':>15} {'kfs':>4} {'s/step':>7} {'keyframe fps':>13} {'speedup':>8}")
    for device in devices:
        torch.manual_seed(0)
        model = open_clip.create_model("ViT-B-32-quickgelu").eval().requires_grad_(False).to(device)
        clip = ClipModel(model, "openai/ViT-B-32", "random ViT-B-32")
        for size in args.sizes:
            torch.manual_seed(0)
            g = Generator(GeneratorConfig(resolution=size)).eval().requires_grad_(False).to(device)
            instant_against_keyframes(g, clip, device, args)


if __name__ == "__main__":
    main()
