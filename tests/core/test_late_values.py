"""Numbers shown while a loop runs arrive without the loop waiting for them (runtime.LateValues)."""

from __future__ import annotations

import torch
from host_reads import HostReads

from soundclip_core.cli.progress import step_bar
from soundclip_core.runtime import LateValues


def test_cpu_values_are_shown_as_they_come():
    values = LateValues()
    values.push({"loss": torch.tensor(0.5), "similarity": 0.25})
    assert values.latest() == {"loss": 0.5, "similarity": 0.25}
    values.push({"loss": torch.tensor([0.125])})
    assert values.wait() == {"loss": 0.125}


def test_the_step_bar_reads_no_scalar_per_step():
    """The CLI's optimisation bar once read every step's loss with float() (a GPU sync per step)."""
    bar, callback = step_bar(6, "edit")
    with HostReads() as reads:
        for step in range(1, 7):
            callback(step, 6, None, {"loss": torch.tensor(1.0 / step), "similarity": torch.tensor(0.1 * step)})
    bar.close()
    assert reads.count == 0
    assert bar.postfix == "loss=0.1667, similarity=0.6000"
