"""Zip archives (torch zip checkpoints, TorchScript archives) checked before anything is inflated.

A zip entry declares its uncompressed size in the central directory, and both readers (torch's miniz
and Python's `zipfile`) allocate and inflate up to that size. A crafted archive of a few kilobytes can
declare gigabytes (a zip bomb) and is stopped only by memory. Here every entry's declared size is
checked against the file before any entry is read: stored entries (all torch writes) must declare their
own size, deflated ones a ratio deflate can reach on model data, and no entry may lie past the file's end.
"""

from __future__ import annotations

import os
import zipfile
from typing import BinaryIO

MAX_RATIO = 100  # uncompressed / compressed; float weights deflate by ~1.1x, zeros by ~1000x (a bomb)
SLACK = 1 << 20  # small entries (code, constants) may compress well: 1 MiB never counts as a bomb


def zip_problem(source: str | os.PathLike | BinaryIO, size: int) -> str | None:
    """Why the zip `source` (a path or a binary file of `size` bytes) must not be inflated, or None when
    its declared sizes are plausible. Reads only the central directory."""
    try:
        with zipfile.ZipFile(source) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        return f"damaged zip archive ({error}), probably an interrupted download: re-download it"
    total = 0
    for entry in entries:
        if entry.header_offset + entry.compress_size > size:
            return f"zip entry '{entry.filename}' runs past the end of the file (truncated: re-download it)"
        stored_mismatch = entry.compress_type == zipfile.ZIP_STORED and entry.file_size != entry.compress_size
        if stored_mismatch or entry.file_size > entry.compress_size * MAX_RATIO + SLACK:
            return (f"zip entry '{entry.filename}' declares {entry.file_size:,} bytes from {entry.compress_size:,} "
                    "stored (a zip bomb?); nothing was inflated")
        total += entry.file_size
    if total > size * MAX_RATIO + SLACK:
        return f"the zip entries declare {total:,} bytes in a {size:,}-byte file (a zip bomb?); nothing was inflated"
    return None
