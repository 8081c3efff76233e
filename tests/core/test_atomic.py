"""The atomic writer: outputs get the permissions a plain open() gives, and temporaries left by a
killed writer are removed on the next write into their folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from paths import ROOT

from soundclip_core.atomic import GRACE_S, STALE_S, atomic_path, atomic_paths, check_writable
from soundclip_core.errors import SoundClipError

REPO = ROOT  # the killed writer imports this checkout


@pytest.fixture()
def umask():
    """Set a umask for one test; the previous one comes back after it."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_open_would_give(tmp_path, umask, mask, mode):
    umask(mask)
    with atomic_path(tmp_path / "out.png") as tmp:
        tmp.write_bytes(b"png")
    with open(tmp_path / "plain.png", "wb") as f:
        f.write(b"png")
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == mode == (tmp_path / "plain.png").stat().st_mode & 0o777


def test_overwriting_keeps_the_mode_of_the_file_replaced(tmp_path, umask):
    target = tmp_path / "shared.safetensors"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o640


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_killed_writers_temporary_is_removed_on_the_next_write(tmp_path):
    killed = subprocess.run([sys.executable, "-c", (
        "import os, sys; from soundclip_core.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half a checkpoint')\n"
        "    os.kill(os.getpid(), 9)\n"), str(tmp_path / "checkpoint.pt")], cwd=REPO)
    assert killed.returncode == -signal.SIGKILL
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".checkpoint.pt.") and left.name.endswith(".part")
    age(left, GRACE_S + 5)
    keep = {
        f".log.json.{os.getpid()}-0123abcd.part": GRACE_S + 5,  # a live writer's (this process)
        f".log.json.{exited_pid()}-0123abcd.part": 1,  # a gone writer's, but touched a second ago
        "model.pt.part": STALE_S + 5,  # a download kept for resuming
        ".notes.part": STALE_S + 5,  # not a name the writer makes
    }
    for name, seconds in keep.items():
        (tmp_path / name).write_bytes(b"x")
        age(tmp_path / name, seconds)
    old_style = tmp_path / ".epoch.pt.k2_xq9ab.part"  # mkstemp's name, from before the PID was in it
    old_style.write_bytes(b"x")
    age(old_style, STALE_S + 5)
    with atomic_path(tmp_path / "log.csv") as tmp:
        tmp.write_text("epoch,loss\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "log.csv"])


def exited_pid() -> int:
    """The PID of a process that has exited."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cases = {tmp_path / "folder": "the output is a folder", tmp_path / "file.txt" / "x.png": "cannot write to this "
             "folder", locked / "x.png": "cannot write to this folder"}
    if os.geteuid() == 0:  # root writes anywhere: no permission case to test
        del cases[locked / "x.png"]
    for path, problem in cases.items():
        with pytest.raises(SoundClipError, match=rf"{path}: {problem}.*Fix: "):
            check_writable(path)
        with pytest.raises(SoundClipError, match=problem), atomic_path(path) as tmp:
            tmp.write_bytes(b"never")
    assert check_writable(tmp_path / "new" / "x.png") == tmp_path / "new" / "x.png"
    assert list((tmp_path / "new").iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "file.txt", "folder", "locked", "new"]


def test_files_written_together_replace_the_old_ones_together_or_not_at_all(tmp_path):
    pair = [tmp_path / "encoder.json", tmp_path / "encoder.pth"]
    for path in pair:
        path.write_text("old")
    with pytest.raises(OSError, match="disk full"), atomic_paths(*pair) as (sidecar, weights):
        sidecar.write_text("new")
        raise OSError("disk full")  # the second write fails
    assert [p.read_text() for p in pair] == ["old", "old"] and sorted(os.listdir(tmp_path)) == sorted(
        p.name for p in pair)  # no temporaries left
    with atomic_paths(*pair) as (sidecar, weights):
        sidecar.write_text("new")
        weights.write_text("new")
        assert [p.read_text() for p in pair] == ["old", "old"]  # nothing replaced before both are written
    assert [p.read_text() for p in pair] == ["new", "new"] and len(os.listdir(tmp_path)) == 2

