"""tqdm progress for the CLI's long jobs (optimisation steps, downloads, evaluation, videos).

The bars are driven by absolute counts (`bar.n = done`), so tqdm shows the average rate since the
bar was made: every bar here is made when its work begins (at a report of 0 done, or when the
previous phase ends), never at its first finished batch, which would read as millions per second.
"""

from __future__ import annotations

from collections.abc import Sequence

from tqdm import tqdm

from ..runtime import LateValues


def _advance(bar: tqdm, done: int, total: int | None) -> None:
    bar.total = total
    bar.n = done
    bar.refresh()


def step_bar(total: int, description: str):
    """A bar and an optimize()/project() callback that advances it and shows the step's numbers (loss, ...), as
    they arrive from the device (`LateValues`: no wait for the GPU per step; the last step's at the end)."""
    bar = tqdm(total=total, desc=description, unit="step")
    values = LateValues()

    def callback(step, total_steps, preview, info):
        bar.n = step
        values.push(info)
        shown = values.wait() if step == total_steps else values.latest()
        bar.set_postfix({k: f"{v:.4f}" for k, v in shown.items()}, refresh=False)
        bar.refresh()

    return bar, callback


def byte_bar(description: str):
    bar = tqdm(desc=description, unit="B", unit_scale=True)

    def progress(done: int, total: int | None) -> None:
        _advance(bar, done, total)

    return bar, progress


class LabelledBars:
    """`progress(label, done, total)` with one bar per label (evaluate: one per dataset and encoder). A bar
    is made at its label's first report, which the core sends before any clip is read: done = 0, or the clips
    a resumed run takes from its cache (the bar starts there, so its rate counts only the clips embedded now)."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.bars: dict[str, tqdm] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        if label not in self.bars:
            self.bars[label] = tqdm(total=total, desc=label, unit=self.unit, initial=done)
        _advance(self.bars[label], done, total)
        if done == total:
            self.bars[label].close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class PhaseBars:
    """`progress(done, total, preview)` of a job counted as one number across phases of different speeds
    (make_video: its optimisation steps, then its frames), shown as one bar per phase with its own unit,
    rate and ETA: a shared bar mixed seconds-long steps with milliseconds-long frames (a 30-minute ETA
    for a 54-second job). `phases`: (description, unit, size); the last phase's size may be None (the
    rest of the total). The next phase's bar is made the moment the previous one completes."""

    def __init__(self, phases: Sequence[tuple[str, str, int | None]]) -> None:
        self.phases = list(phases)
        self.start = 0  # the overall count at which the current phase began
        self.bars: list[tqdm] = []
        self._open()

    def _open(self) -> None:
        description, unit, size = self.phases[len(self.bars)]
        self.bars.append(tqdm(total=size, desc=description, unit=unit))

    def __call__(self, done: int, total: int, preview=None) -> None:
        while True:
            size = self.phases[len(self.bars) - 1][2]
            end = total if size is None else self.start + size
            _advance(self.bars[-1], min(done, end) - self.start, end - self.start)
            if done < end or len(self.bars) == len(self.phases):
                return
            self.bars[-1].close()
            self.start = end
            self._open()

    def close(self) -> None:
        for bar in self.bars:
            bar.close()
