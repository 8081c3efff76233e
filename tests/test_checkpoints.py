"""The checkpoint home: one reader and one set of checks for every model file, each refusal naming
the file, what it was meant to be, and the fix."""

from __future__ import annotations

import pytest
import torch

from soundclip_core.checkpoints import check_finite, check_shapes
from soundclip_core.errors import CheckpointError


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_finite_names_the_file_and_the_tensors(tmp_path, bad):
    state = {"ok": torch.ones(3), "steps": torch.tensor([1, 2]), "nested": {"w": torch.tensor([0.0, bad])}}
    with pytest.raises(CheckpointError, match=r"a test model holds NaN or infinite weights \(in 'nested.w'\)") as e:
        check_finite(state, tmp_path / "m.pt", "a test model")
    assert str(tmp_path / "m.pt") in str(e.value) and "Fix:" in str(e.value)
    check_finite({"ok": torch.ones(3), "ints": torch.tensor([1, 2])}, tmp_path / "m.pt", "a test model")


def test_check_shapes_names_missing_unexpected_and_misshapen_keys(tmp_path):
    expected = {"a": (2, 3), "b": (3,)}
    check_shapes({"a": torch.zeros(2, 3), "b": torch.zeros(3)}, expected, tmp_path / "m.pt", "a net", "fix it")
    with pytest.raises(CheckpointError) as e:
        check_shapes({"a": torch.zeros(2, 4), "c": torch.zeros(1)}, expected, tmp_path / "m.pt", "a net", "fix it")
    message = str(e.value)
    assert "missing 'b'" in message and "unexpected 'c'" in message and "'a' [2, 4] (expected [2, 3])" in message
    assert message.startswith(str(tmp_path / "m.pt")) and message.endswith("Fix: fix it")
