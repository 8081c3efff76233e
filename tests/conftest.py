"""Test-wide settings: the fixtures' folder on the path, the device under test, two threads, and no network
for any model hub.

The suite runs on the CPU unless told otherwise: `pytest --device cuda` (or SOUNDCLIP_TEST_DEVICE=cuda,
or mps). Tests take the device from `devices.TEST_DEVICE`; tests marked `cuda` need a CUDA GPU and skip
elsewhere with one line saying so. On the CPU, GPUs stay hidden so nothing picks one up by accident.
"""

import os
import sys
from pathlib import Path

# the helpers that build models, sounds and datasets (tests/fixtures/) import by name from every test folder
sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# idle OpenMP threads sleep instead of spinning: on a busy shared CPU spinning made small convs ~15x slower
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


def pytest_addoption(parser):
    parser.addoption("--device", default=None,
                     help="device the suite runs on: cpu (default), cuda, cuda:1, mps (or SOUNDCLIP_TEST_DEVICE)")


def pytest_configure(config):
    device = config.getoption("--device") or os.environ.get("SOUNDCLIP_TEST_DEVICE", "cpu")
    os.environ["SOUNDCLIP_TEST_DEVICE"] = device  # read by devices.py when the test modules import it
    if device == "cpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (run with --device cuda on a GPU machine)")


def pytest_collection_modifyitems(config, items):
    from devices import TEST_DEVICE, check_test_device

    check_test_device()
    if TEST_DEVICE.type == "cuda":
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU; this run is on {TEST_DEVICE} (pytest --device cuda)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
