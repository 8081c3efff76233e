"""Recognise a checkpoint container by its first bytes, never by its file name."""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError


def sniff(path: Path) -> str:
    """'torch-zip' | 'safetensors' | 'pickle'; a clear error for missing, empty or foreign files."""
    if not path.is_file():
        raise CheckpointError("file not found", path=path, fix="check the path, or download the model first")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError("the file is empty (0 bytes)", path=path, fix="re-download it")
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:2] == b"PK":
        return "torch-zip"
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    raise CheckpointError("not a model checkpoint (unknown file content; a text or HTML page?)", path=path,
                          fix="download the checkpoint itself: a .pt, .pth, .pkl or .safetensors file")
