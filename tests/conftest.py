"""Test-wide settings: CPU only, two threads, and no network for any model hub."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# idle OpenMP threads sleep instead of spinning: on a busy shared CPU spinning made small convs ~15x slower
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

torch.set_num_threads(2)
