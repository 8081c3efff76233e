"""The device under test (conftest's --device / SOUNDCLIP_TEST_DEVICE) and what each device guarantees.

Tolerances: CPU float32 runs the exact kernels the tests were written against; CUDA convolutions and
matmuls reorder sums (and cuDNN picks algorithms), so comparisons against a float64 or CPU truth allow
more there."""

from __future__ import annotations

import os

import pytest
import torch

TEST_DEVICE = torch.device(os.environ.get("SOUNDCLIP_TEST_DEVICE", "cpu"))
# relative tolerance for float32 results against a float64/CPU reference, per device type
RTOL = {"cpu": 1e-5, "cuda": 1e-3, "mps": 1e-3}[TEST_DEVICE.type]


def check_test_device() -> None:
    """Stop the run at once (one line, no tracebacks) when the device asked for is not there."""
    if TEST_DEVICE.type == "cuda" and not torch.cuda.is_available():
        pytest.exit(f"--device {TEST_DEVICE}: no CUDA GPU is visible to torch on this machine", returncode=4)
    if TEST_DEVICE.type == "mps" and not torch.backends.mps.is_available():
        pytest.exit(f"--device {TEST_DEVICE}: MPS is not available on this machine", returncode=4)
