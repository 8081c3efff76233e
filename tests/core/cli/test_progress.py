"""Progress bars that tell the truth: train's loss is the epoch's running mean, evaluate's first rate is
clips over the time they took, and a video shows one bar per phase with its own total and unit."""

from __future__ import annotations

import re
import time

import numpy as np
import soundfile
import torch
from devices import TEST_DEVICE
from sound_datasets import write_esc50
from sounds import BandEncoder, distinct_sounds
from stylegan_formats import tiny_generator
from tiny_models import stand_in_clip
from train_helpers import FRONTEND, small_net, text_clip

from soundclip_core.cli.progress import LabelledBars, PhaseBars
from soundclip_core.encoders import AudioEncoder, build_audio_encoder
from soundclip_core.evaluate import embed_clips
from soundclip_core.train import TrainConfig, train
from soundclip_core.video import make_video


def test_train_bar_shows_the_running_mean_of_the_batch_losses(tmp_path, capsys):
    """The bar's loss sat on one batch's value all epoch; at the epoch's end it must read the epoch's mean."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions on a shared 2-core machine: much faster on one thread
    try:
        data = write_esc50(tmp_path / "ESC-50", per_fold=4)
        config = TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=8, recipe="modern",
                             lr=3e-3, frontend=FRONTEND, workers=0, progress=True, prompt="{}", text_augment=False)
        result = train(config, clip=text_clip(), net=small_net())
    finally:
        torch.set_num_threads(threads)
    shown = re.findall(r"epoch 1/1: .*?loss=([0-9.]+)", capsys.readouterr().err)
    assert shown and float(shown[-1]) == round(result.log[-1]["loss"], 4)  # the mean over all the epoch's batches


class SlowEncoder(AudioEncoder):
    """wav2clip on half-second windows that takes at least `SECONDS` per batch: a known lower bound on time."""

    SECONDS = 0.05

    def embed_inputs(self, inputs, batch_size=16):
        time.sleep(self.SECONDS)
        return super().embed_inputs(inputs, batch_size)


def test_evaluate_first_rate_is_bounded_by_clips_over_elapsed(tmp_path, capsys):
    full = build_audio_encoder("wav2clip", device=TEST_DEVICE)
    encoder = SlowEncoder("wav2clip", full.net, full.space, "test", {**full.config, "window_seconds": 0.5})
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.wav")
        soundfile.write(paths[-1], rng.normal(0, 0.1, 8000).astype(np.float32), 16000)
    bars = LabelledBars("clip")
    seen = []

    def progress(done, total):
        bars("clips", done, total)
        bar = bars.bars["clips"]
        seen.append((done, bar.format_dict["elapsed"]))

    embed_clips(encoder, paths, batch_size=2, workers=0, progress=progress)
    bars.close()
    assert seen[0] == (0, seen[0][1])  # announced before the first clip is read: the bar's clock starts there
    done, elapsed = seen[1]
    assert done == 2 and elapsed >= SlowEncoder.SECONDS  # the first batch's time is on the bar's clock
    rates = [float(r) for r in re.findall(r"([0-9.]+)clip/s", capsys.readouterr().err)]
    assert rates and max(rates) <= 2 / SlowEncoder.SECONDS  # was millions of clips/s at the first batch


def test_video_shows_one_bar_per_phase_with_its_own_total(tmp_path):
    generator, clip = tiny_generator(resolution=16), stand_in_clip()
    bars = PhaseBars([("optimising keyframes", "step", 3), ("rendering frames", "frame", None)])
    reports = []

    def progress(done, total, preview=None):
        reports.append((done, time.perf_counter()))
        bars(done, total, preview)

    try:
        make_video(tmp_path / "v.mp4", generator, clip, BandEncoder(clip.space), distinct_sounds(),
                   generator.ws_from_seed(0), fps=5, window=1.0, hop=0.5, steps=3, batch_size=4, progress=progress)
    finally:
        bars.close()
    steps, frames = bars.bars
    assert (steps.total, steps.n, steps.unit) == (3, 3, "step")
    assert (frames.total, frames.n, frames.unit) == (15, 15, "frame")  # 3 s at 5 fps, counted apart from steps
    last_step = next(t for done, t in reports if done == 3)
    assert frames.start_t >= last_step  # the frames bar's clock (rate, ETA) starts when rendering starts


def test_phase_bars_split_one_count_and_skip_over_a_jump():
    bars = PhaseBars([("a", "step", 2), ("b", "frame", 3), ("c", "it", None)])
    try:
        bars(1, 10)
        assert [(b.n, b.total) for b in bars.bars] == [(1, 2)]
        bars(6, 10)  # past the end of "b" in one report: "a" and "b" are full, "c" has 1 of its 5
        assert [(b.n, b.total) for b in bars.bars] == [(2, 2), (3, 3), (1, 5)]
        bars(10, 10)
        assert bars.bars[-1].n == 5
    finally:
        bars.close()
