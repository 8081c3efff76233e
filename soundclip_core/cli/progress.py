"""tqdm progress for the CLI's long jobs (optimisation steps and downloads)."""

from __future__ import annotations

from tqdm import tqdm


def step_bar(total: int, description: str):
    """A bar and an optimize()/project() callback that advances it and shows the step's numbers (loss, ...)."""
    bar = tqdm(total=total, desc=description, unit="step")

    def callback(step, total_steps, preview, info):
        bar.n = step
        bar.set_postfix({k: f"{float(v):.4f}" for k, v in info.items()}, refresh=False)
        bar.refresh()

    return bar, callback


def byte_bar(description: str):
    bar = tqdm(desc=description, unit="B", unit_scale=True)

    def progress(done: int, total: int | None) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress


def job_bar(description: str):
    """A bar for a whole multi-stage job and its `progress(done, total, preview)` callback."""
    bar = tqdm(desc=description, unit="it")

    def progress(done: int, total: int, preview=None) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress
